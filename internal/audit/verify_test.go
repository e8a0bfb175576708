package audit

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeChain writes a closed log of n decision records (checkpoints every
// 5 records, signed by key when set) and returns its lines.
func writeChain(t testing.TB, key crypto.Signer, n int) [][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	clock := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	l, err := OpenOptions(Options{File: path, Fsync: "never", Signer: key, CheckpointEvery: 5,
		Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := l.Commit(context.Background(), Record{Kind: KindDecision, User: fmt.Sprintf("u%d", i), Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	return lines[:len(lines)-1] // after the last newline: nothing
}

// rechain recomputes prev and hash of every line from index from on, as a
// forger who can write the file would; sign, when set, re-signs the
// checkpoints (nil keeps their old signatures, strip removes them).
func rechain(t testing.TB, lines [][]byte, from int, sign crypto.Signer, strip bool) [][]byte {
	t.Helper()
	out := append([][]byte(nil), lines...)
	prev := zeroHash
	if from > 0 {
		var r Record
		if err := json.Unmarshal(out[from-1], &r); err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
	}
	var cs *checkpointSigner
	if sign != nil {
		var err error
		if cs, err = newCheckpointSigner(sign, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := from; i < len(out); i++ {
		var r Record
		if err := json.Unmarshal(out[i], &r); err != nil {
			t.Fatal(err)
		}
		r.Prev = prev
		h := rehash(&r)
		if r.Kind == KindCheckpoint {
			switch {
			case strip:
				r.Sig = ""
			case cs != nil:
				sig, err := cs.sign(r.Seq, []byte(h))
				if err != nil {
					t.Fatal(err)
				}
				r.Sig = sig
			}
		}
		out[i] = appendRecord(nil, &r)
		prev = r.Hash
	}
	return out
}

// rehash sets r.Hash to the hash of r's bytes and returns it.
func rehash(r *Record) string {
	line := appendRecord(nil, r)
	var h [64]byte
	hashLine(&h, line[:bytes.Index(line, []byte(`,"hash":"`))])
	r.Hash = string(h[:])
	return r.Hash
}

// rehashLine recomputes the hash of line i only, as a forger who edits one
// record would.
func rehashLine(t testing.TB, lines [][]byte, i int) [][]byte {
	out := append([][]byte(nil), lines...)
	var r Record
	if err := json.Unmarshal(out[i], &r); err != nil {
		t.Fatal(err)
	}
	rehash(&r)
	out[i] = appendRecord(nil, &r)
	return out
}

func edit(lines [][]byte, i int, old, new string) [][]byte {
	out := append([][]byte(nil), lines...)
	out[i] = bytes.Replace(out[i], []byte(old), []byte(new), 1)
	return out
}

func without(lines [][]byte, i int) [][]byte {
	out := append([][]byte(nil), lines[:i]...)
	return append(out, lines[i+1:]...)
}

func insert(lines [][]byte, i int, line []byte) [][]byte {
	out := append([][]byte(nil), lines[:i]...)
	out = append(out, line)
	return append(out, lines[i:]...)
}

func swap(lines [][]byte, i, j int) [][]byte {
	out := append([][]byte(nil), lines...)
	out[i], out[j] = out[j], out[i]
	return out
}

type verifyCase struct {
	lines [][]byte
	keys  *KeySet
	// want: the problem (What, Line, Seq), or What "" for a chain that verifies.
	what string
	line int
	seq  uint64
}

func (c verifyCase) run(t *testing.T) {
	t.Helper()
	v := &Verifier{Keys: c.keys}
	err := v.Read("audit.jsonl", bytes.NewReader(bytes.Join(c.lines, nil)))
	if err == nil {
		_, err = v.Summary()
	}
	if c.what == "" {
		if err != nil {
			t.Fatalf("verify: %v, want no problem", err)
		}
		return
	}
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("verify = %v, want a %q problem at line %d", err, c.what, c.line)
	}
	if p.What != c.what || p.Line != c.line || p.Seq != c.seq || p.File != "audit.jsonl" {
		t.Fatalf("verify: %v\nwant %q at line %d, seq %d", p, c.what, c.line, c.seq)
	}
	if !strings.Contains(p.Error(), "audit.jsonl:") {
		t.Errorf("problem %q does not name the file", p.Error())
	}
}

func TestVerifyFindsTheFirstProblem(t *testing.T) {
	key, other := newKey(t), newKey(t)
	keys, _ := NewKeySet(key.Public())
	lines := writeChain(t, key, 20) // seq 1 start, checkpoints at 7, 13, 19, 25; close at 26
	if len(lines) != 26 {
		t.Fatalf("%d lines, want 26", len(lines))
	}
	forged := edit(lines, 2, `"user":"u1"`, `"user":"mallory"`)
	cases := map[string]verifyCase{
		"intact":                             {lines: lines},
		"intact, signatures checked":         {lines: lines, keys: keys},
		"edited":                             {lines: forged, what: "modified", line: 3, seq: 3},
		"edited with its hash recomputed":    {lines: rehashLine(t, forged, 2), what: "chain broken", line: 4, seq: 4},
		"reformatted":                        {lines: edit(lines, 4, `{"seq"`, `{ "seq"`), what: "modified", line: 5, seq: 5},
		"field renamed":                      {lines: edit(lines, 4, `"user"`, `"User"`), what: "modified", line: 5, seq: 5},
		"deleted":                            {lines: without(lines, 7), what: "missing or out of order", line: 8, seq: 9},
		"reordered":                          {lines: swap(lines, 7, 8), what: "missing or out of order", line: 8, seq: 9},
		"inserted copy":                      {lines: insert(lines, 8, lines[4]), what: "inserted or out of order", line: 9, seq: 5},
		"truncated mid-line":                 {lines: append(lines[:25:25], lines[25][:40]), what: "truncated", line: 26},
		"records cut from the end":           {lines: lines[:22]},
		"not JSON":                           {lines: insert(lines, 3, []byte("hello\n")), what: "malformed", line: 4},
		"empty line":                         {lines: insert(lines, 3, []byte("\n")), what: "malformed", line: 4},
		"unknown field":                      {lines: edit(lines, 3, `"kind"`, `"x":1,"kind"`), what: "malformed", line: 4},
		"first prev not zero":                {lines: rehashLine(t, edit(lines, 0, `"prev":"00`, `"prev":"01`), 0), what: "chain broken", line: 1, seq: 1},
		"signature on a record":              {lines: rechain(t, edit(lines, 2, `"hash"`, `"sig":"x","hash"`), 0, nil, false), what: "malformed", line: 3, seq: 3},
		"rewritten without keys":             {lines: rechain(t, forged, 2, nil, false)},
		"rewritten, checkpoint kept":         {lines: rechain(t, forged, 2, nil, false), keys: keys, what: "bad checkpoint signature", line: 7, seq: 7},
		"rewritten, checkpoint stripped":     {lines: rechain(t, forged, 2, nil, true), keys: keys, what: "unsigned checkpoint", line: 7, seq: 7},
		"rewritten, signed with another key": {lines: rechain(t, forged, 2, other, false), keys: keys, what: "bad checkpoint signature", line: 7, seq: 7},
		"restarted chain": {lines: append(append([][]byte(nil), lines...), writeChain(t, key, 1)...),
			what: "restarted", line: 27, seq: 1},
	}
	for name, c := range cases {
		t.Run(name, c.run)
	}
}

// The summary tells what was and was not checked.
func TestVerifySummary(t *testing.T) {
	key := newKey(t)
	keys, _ := NewKeySet(key.Public())
	lines := writeChain(t, key, 20)
	v := &Verifier{Keys: keys}
	if err := v.Read("a", bytes.NewReader(bytes.Join(lines[:24], nil))); err != nil {
		t.Fatal(err)
	}
	s, err := v.Summary()
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Files: 1, Records: 24, FirstSeq: 1, LastSeq: 24, FirstPrev: zeroHash, LastHash: s.LastHash,
		Checkpoints: 4, Verified: 4, KeyIDs: s.KeyIDs, AfterLastVerified: 5, Closed: false}
	if fmt.Sprint(s) != fmt.Sprint(want) || len(s.KeyIDs) != 1 {
		t.Errorf("summary\n got %+v\nwant %+v", s, want)
	}
	for _, part := range []string{"24 records", "seq 1-24", "4 signatures verified", "5 records after the last one", "does not end with a close checkpoint"} {
		if !strings.Contains(s.String(), part) {
			t.Errorf("summary line %q lacks %q", s, part)
		}
	}
	// Starting later in the chain (older files archived) is allowed and said.
	v = &Verifier{}
	v.Read("b", bytes.NewReader(bytes.Join(lines[10:], nil)))
	if s, err := v.Summary(); err != nil || s.FirstSeq != 11 || !strings.Contains(s.String(), "earlier files not given") {
		t.Errorf("mid-chain summary %v, %v", s, err)
	}
	if _, err := (&Verifier{}).Summary(); err == nil {
		t.Error("no records verified")
	}
}

// Across rotated files: in order they verify; a missing middle file or
// files given out of order are reported at the first line that breaks.
func TestVerifyAcrossRotation(t *testing.T) {
	l, path, _ := openTest(t, func(o *Options) { o.RotateSize = 1500 })
	for i := 0; i < 30; i++ {
		l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i), Path: "/a/b/c"})
	}
	l.Close()
	files := append(rotatedFiles(path), path)
	if len(files) < 4 {
		t.Fatalf("files %v, want at least 4", files)
	}
	mustVerify(t, nil, files...)
	cases := map[string]struct {
		files []string
		what  string
		file  string
	}{
		"middle file missing": {append(files[:1:1], files[2:]...), "missing or out of order", files[2]},
		"out of order":        {append([]string{files[0], files[2], files[1]}, files[3:]...), "missing or out of order", files[2]},
		"first file missing":  {files[1:], "", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := VerifyFiles(c.files, nil)
			if c.what == "" {
				if err != nil || s.FirstSeq == 1 {
					t.Fatalf("verify = %v, %v: want a summary that starts later", s, err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.What != c.what || p.File != c.file || p.Line != 1 {
				t.Fatalf("verify = %v, want %q at %s:1", err, c.what, c.file)
			}
		})
	}
}

func FuzzVerifier(f *testing.F) {
	lines := writeChain(f, newKey(f), 6)
	f.Add(bytes.Join(lines, nil))
	f.Add(bytes.Join(lines[:3], nil))
	f.Add([]byte(`{"seq":1,"prev":"` + zeroHash + `","time":"0001-01-01T00:00:00Z","kind":"","hash":"` + zeroHash + `"}` + "\n"))
	f.Add([]byte("{}\n\n\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := &Verifier{}
		if err := v.Read("f", bytes.NewReader(data)); err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.What == "" {
				t.Fatalf("error %v is not a Problem", err)
			}
			return
		}
		s, err := v.Summary()
		if err != nil {
			return
		}
		// What verified is a chain of canonical lines.
		if s.Records != bytes.Count(data, []byte("\n")) {
			t.Fatalf("%d records verified in %d lines", s.Records, bytes.Count(data, []byte("\n")))
		}
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			r, err := parseLine(line)
			if err != nil {
				t.Fatalf("verified line does not parse: %v", err)
			}
			if !bytes.Equal(appendRecord(nil, &r), line) {
				t.Fatalf("verified line is not canonical: %q", line)
			}
		}
	})
}
