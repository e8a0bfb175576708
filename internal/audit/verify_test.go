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
	"slices"
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

// dropCheckpoints rewrites lines from index from on as a forger who can
// write the file and wants no signature in the way would: every checkpoint
// from there on removed, the records edited, renumbered and rechained.
func dropCheckpoints(t testing.TB, lines [][]byte, from int) [][]byte {
	t.Helper()
	out := append([][]byte(nil), lines[:from]...)
	for _, l := range lines[from:] {
		if !bytes.Contains(l, []byte(`"kind":"checkpoint"`)) {
			out = append(out, bytes.Replace(l, []byte(`"user":"u`), []byte(`"user":"forged-u`), 1))
		}
	}
	for i := from; i < len(out); i++ {
		var r Record
		if err := json.Unmarshal(out[i], &r); err != nil {
			t.Fatal(err)
		}
		r.Seq = uint64(i + 1)
		out[i] = appendRecord(nil, &r)
	}
	return rechain(t, out, from, nil, false)
}

// appendForged appends n decision records that continue the chain, as a
// forger would at the end of the file.
func appendForged(t testing.TB, lines [][]byte, n int) [][]byte {
	t.Helper()
	var last Record
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
		t.Fatal(err)
	}
	out := append([][]byte(nil), lines...)
	for i := range n {
		r := Record{Seq: last.Seq + uint64(i) + 1, Time: last.Time, Kind: KindDecision, User: "forged", Decision: "allow"}
		out = append(out, appendRecord(nil, &r))
	}
	return rechain(t, out, len(lines), nil, false)
}

// stripBounds returns lines as a gateway from before checkpoints stated
// their bound wrote them: the statement taken out of every checkpoint's
// detail, the chain recomputed and the checkpoints signed again by key.
func stripBounds(t testing.TB, lines [][]byte, key crypto.Signer) [][]byte {
	t.Helper()
	out := append([][]byte(nil), lines...)
	for i := range out {
		var r Record
		if err := json.Unmarshal(out[i], &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == KindCheckpoint {
			r.Detail = strings.TrimSuffix(strings.TrimSuffix(r.Detail, "checkpoint_every 5"), "; ")
			out[i] = appendRecord(nil, &r)
		}
	}
	return rechain(t, out, 0, key, false)
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
		// The bound the checkpoints state (checkpoint_every 5).
		"rewritten, checkpoints dropped":          {lines: dropCheckpoints(t, lines, 2), keys: keys, what: "checkpoints missing", line: 7, seq: 7},
		"rewritten whole, checkpoints dropped":    {lines: dropCheckpoints(t, lines, 0), keys: keys, what: "unsigned start", line: 1, seq: 1},
		"rewritten whole, without keys":           {lines: dropCheckpoints(t, lines, 0)},
		"seq 1 a checkpoint, not the start":       {lines: rechain(t, edit(lines, 0, `"event":"start"`, `"event":"interval"`), 0, key, false), keys: keys, what: "unsigned start", line: 1, seq: 1},
		"crashed, as many records as the bound":   {lines: lines[:24], keys: keys},
		"records added past the bound at the end": {lines: appendForged(t, lines[:24], 1), keys: keys, what: "checkpoints missing", line: 25, seq: 25},
		"records added past the close":            {lines: appendForged(t, lines, 6), keys: keys, what: "checkpoints missing", line: 32, seq: 32},
		"past the bound, without keys":            {lines: appendForged(t, lines[:24], 10)},
		// What verify cannot see (docs/audit.md): the records after the
		// last checkpoint, at most its bound, rewritten consistently.
		"the last records rewritten, in the bound": {lines: rechain(t, edit(lines[:24], 21, `"user":"u`, `"user":"forged-u`), 21, nil, false), keys: keys},
	}
	for name, c := range cases {
		t.Run(name, c.run)
	}
}

// A forger who can write the file rewrites it from some record on and
// removes every checkpoint after it, renumbering and rechaining, so that no
// signature is left to fail. With the keys, the bound stated by the last
// checkpoint left, or the missing signed start, gives it away.
func TestVerifyRewriteWithCheckpointsDropped(t *testing.T) {
	key := newKey(t)
	keys, _ := NewKeySet(key.Public())
	lines := writeChain(t, key, 20)
	cases := map[string]struct {
		from int
		want string
	}{
		"from line 3": {2, "audit.jsonl:7: seq 7: checkpoints missing: expected a signed checkpoint within 5 records after seq 1, " +
			"got 6 records without one (checkpoints were removed and the records after them rewritten)"},
		"from line 1": {0, `audit.jsonl:1: seq 1: unsigned start: expected a signed start checkpoint at seq 1, got a "decision" record ` +
			`(every log starts with a signed start checkpoint: the file was rewritten from its first record)`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			forged := dropCheckpoints(t, lines, c.from)
			_, err := VerifyFiles([]string{writeFile(t, forged)}, keys)
			if err == nil || !strings.HasSuffix(err.Error(), string(filepath.Separator)+c.want) {
				t.Fatalf("verify with keys = %v\nwant %s", err, c.want)
			}
			if _, err := VerifyFiles([]string{writeFile(t, forged)}, nil); err != nil {
				t.Errorf("verify without keys = %v, want ok (the chain alone cannot tell)", err)
			}
		})
	}
}

// Checkpoints written before they stated their bound bound nothing: such
// files verify with the keys as they did, and so does one a newer gateway
// continued, whose checkpoints from then on hold the records to the bound.
func TestVerifyCheckpointsWithoutABound(t *testing.T) {
	key := newKey(t)
	keys, _ := NewKeySet(key.Public())
	old := stripBounds(t, writeChain(t, key, 20), key)
	for _, r := range checkpoints(recordsOf(t, old), "") {
		if strings.Contains(r.Detail, "checkpoint_every") {
			t.Fatalf("checkpoint %d still states a bound: %q", r.Seq, r.Detail)
		}
	}
	cases := map[string]verifyCase{
		"intact":                               {lines: old, keys: keys},
		"closed, then records added":           {lines: appendForged(t, old, 10), keys: keys},
		"rewritten whole, checkpoints dropped": {lines: dropCheckpoints(t, old, 0), keys: keys, what: "unsigned start", line: 1, seq: 1},
	}
	for name, c := range cases {
		t.Run(name, c.run)
	}

	t.Run("continued by a newer gateway", func(t *testing.T) {
		path := writeFile(t, old)
		l, err := OpenOptions(Options{File: path, Fsync: "never", Signer: key, CheckpointEvery: 5})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 7 {
			if err := l.Commit(context.Background(), Record{Kind: KindDecision, User: fmt.Sprintf("v%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if s := mustVerify(t, keys, path); s.LastSeq != 26+1+7+1+1 {
			t.Errorf("summary %+v, want seq 1-%d (26, start, 7 records, an interval and a close checkpoint)", s, 26+1+7+1+1)
		}
		b, _ := os.ReadFile(path)
		lines := bytes.SplitAfter(b, []byte("\n"))
		lines = lines[:len(lines)-1]
		c := verifyCase{lines: dropCheckpoints(t, lines, 27), keys: keys, what: "checkpoints missing", line: 33, seq: 33}
		c.run(t)
	})
}

func recordsOf(t testing.TB, lines [][]byte) []Record {
	t.Helper()
	var out []Record
	for _, l := range lines {
		var r Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func writeFile(t testing.TB, lines [][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(p, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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
	// Starting later in the chain (older files archived) is allowed with
	// AllowPartial, and said.
	v = &Verifier{AllowPartial: true}
	v.Read("b", bytes.NewReader(bytes.Join(lines[10:], nil)))
	if s, err := v.Summary(); err != nil || s.FirstSeq != 11 || !strings.Contains(s.String(), "earlier files not given, nothing anchors the start") {
		t.Errorf("mid-chain summary %v, %v", s, err)
	}
	// With keys, records no checkpoint covers are said even when no
	// checkpoint verified at all (files that start later, without one).
	for _, c := range []struct {
		keys *KeySet
		want string
	}{
		{keys, "0 checkpoints (no signature verified: none of the 5 records is covered by one)"},
		{nil, "0 checkpoints, last hash"},
	} {
		v = &Verifier{Keys: c.keys, AllowPartial: true}
		v.Read("c", bytes.NewReader(bytes.Join(lines[19:24], nil))) // seq 20-24
		if s, err := v.Summary(); err != nil || !strings.Contains(s.String(), c.want) {
			t.Errorf("summary of records without a checkpoint (keys %v): %q, %v; want it to say %q", c.keys != nil, s, err, c.want)
		}
	}
	if _, err := (&Verifier{}).Summary(); err == nil {
		t.Error("no records verified")
	}
}

// A checkpoint states its bound at the end of its detail; nothing else is
// taken for it.
func TestStatedBound(t *testing.T) {
	for detail, want := range map[string]int{
		withBound("", 1000):                        1000,
		withBound("new chain", 5):                  5,
		withBound("continues a; b after seq 3", 7): 7,
		"":                              0,
		"new chain":                     0,
		"checkpoint_every 5; new chain": 0,
		"open x: checkpoint_every 5":    0,
		"checkpoint_every 05":           0,
		"checkpoint_every +5":           0,
		"checkpoint_every 0":            0,
		"checkpoint_every -1":           0,
		"checkpoint_every 5 ":           0,
		"x; checkpoint_every 99999999999999999999": 0,
	} {
		if got := statedBound(detail); got != want {
			t.Errorf("statedBound(%q) = %d, want %d", detail, got, want)
		}
	}
}

// Across rotated files: in order they verify; a missing middle file or
// files given out of order are reported at the first line that breaks, and
// so is a missing first file: files that start after seq 1 are refused
// unless an anchor (After) or AllowPartial says where they may start.
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
		"first file missing":  {files[1:], "starts later", files[1]},
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
	// A gap between files names the file before it.
	_, err := VerifyFiles(append(files[:1:1], files[2:]...), nil)
	if p := (*Problem)(nil); !errors.As(err, &p) || !contains(p.Hint, "are in none of the files given (after "+files[0]+", before this file)") {
		t.Errorf("middle file missing: %v, want a hint that names the file before the gap", err)
	}
}

// ChainOrder orders files by their first record's seq, whatever order they
// are given in (a glob lists the current file first), and the order alone
// never makes a broken chain verify: a missing file is a gap, a file given
// twice repeats its seqs, and files that do not start with a record go
// last.
func TestChainOrder(t *testing.T) {
	l, path, _ := openTest(t, func(o *Options) { o.RotateSize = 1500 })
	for i := 0; i < 30; i++ {
		l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i), Path: "/a/b/c"})
	}
	l.Close()
	files := append(rotatedFiles(path), path)
	if len(files) < 4 {
		t.Fatalf("files %v, want at least 4", files)
	}
	dir := filepath.Dir(path)
	empty, junk := filepath.Join(dir, "empty"), filepath.Join(dir, "junk")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(junk, []byte("not a record\n"), 0o600)
	rev := slices.Clone(files)
	slices.Reverse(rev)
	for name, c := range map[string]struct {
		given, want []string
		what        string // the problem verifying want reports, "" for none
	}{
		"in order":           {files, files, ""},
		"reversed":           {rev, files, ""},
		"current file first": {append([]string{path}, files[:len(files)-1]...), files, ""},
		"middle file missing, reversed": {[]string{files[3], files[2], files[0]},
			[]string{files[0], files[2], files[3]}, "missing or out of order"},
		"given twice": {[]string{files[1], files[0], files[1], files[2]},
			[]string{files[0], files[1], files[1], files[2]}, "inserted or out of order"},
		"not records last": {[]string{junk, files[1], empty, files[0]},
			[]string{files[0], files[1], junk, empty}, "malformed"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ChainOrder(c.given)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("ChainOrder = %v, %v; want %v", got, err, c.want)
			}
			_, err = VerifyFiles(got, nil)
			var p *Problem
			if c.what == "" && err != nil || c.what != "" && (!errors.As(err, &p) || p.What != c.what) {
				t.Errorf("verify = %v, want %q", err, c.what)
			}
		})
	}
	if _, err := ChainOrder([]string{files[0], filepath.Join(dir, "nope")}); err == nil {
		t.Error("ChainOrder with a missing file = nil, want an error")
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

// Seq counts from 1: a record at seq 0 is no record the log writes. Taken
// as a file that starts later in the chain, a log rewritten whole and
// renumbered from 0 passed with the keys — without the signed start
// checkpoint a file that starts at seq 1 must have, and without the summary
// saying that earlier files were missing.
func TestVerifyRefusesSeqZero(t *testing.T) {
	key := newKey(t)
	keys, _ := NewKeySet(key.Public())
	forged := dropCheckpoints(t, writeChain(t, key, 20), 0)
	for i := range forged {
		forged[i] = bytes.Replace(forged[i], []byte(fmt.Sprintf(`{"seq":%d,`, i+1)), []byte(fmt.Sprintf(`{"seq":%d,`, i)), 1)
	}
	forged = rechain(t, forged, 0, nil, true)
	for name, ks := range map[string]*KeySet{"with keys": keys, "without keys": nil} {
		t.Run(name, func(t *testing.T) {
			verifyCase{lines: forged, keys: ks, what: "malformed", line: 1}.run(t)
		})
	}
}

// Files that start after seq 1 verify only from an anchor: the seq and hash
// of a record known from elsewhere (the last record of an earlier
// verification). The files must hold it or continue right after it.
func TestVerifyAnchor(t *testing.T) {
	key := newKey(t)
	keys, _ := NewKeySet(key.Public())
	lines := writeChain(t, key, 20) // 26 lines, seq 1-26
	rec := func(seq int) Record {
		r, err := parseLine(lines[seq-1])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	at := func(seq int) *Anchor { return &Anchor{Seq: uint64(seq), Hash: rec(seq).Hash} }
	wrong := &Anchor{Seq: 10, Hash: rec(11).Hash}
	cases := map[string]struct {
		v     Verifier
		from  int // the first line given (1-based)
		what  string
		line  int
		first uint64 // FirstSeq of a summary
	}{
		"from seq 1":                        {v: Verifier{Keys: keys}, from: 1, first: 1},
		"later, no anchor":                  {v: Verifier{Keys: keys}, from: 11, what: "starts later", line: 1},
		"later, no anchor, without keys":    {v: Verifier{}, from: 11, what: "starts later", line: 1},
		"later, partial allowed":            {v: Verifier{Keys: keys, AllowPartial: true}, from: 11, first: 11},
		"right after the anchor":            {v: Verifier{Keys: keys, After: at(10)}, from: 11, first: 11},
		"at the anchor":                     {v: Verifier{Keys: keys, After: at(10)}, from: 10, first: 10},
		"anchor inside the files":           {v: Verifier{Keys: keys, After: at(20)}, from: 1, first: 1},
		"after a wrong anchor":              {v: Verifier{Keys: keys, After: wrong}, from: 11, what: "anchor mismatch", line: 1},
		"wrong anchor inside the files":     {v: Verifier{Keys: keys, After: wrong}, from: 1, what: "anchor mismatch", line: 10},
		"a gap after the anchor":            {v: Verifier{Keys: keys, After: at(10)}, from: 13, what: "missing or out of order", line: 1},
		"anchor beyond the files":           {v: Verifier{Keys: keys, After: &Anchor{Seq: 40, Hash: zeroHash}}, from: 1, what: "anchor not reached"},
		"anchor does not excuse a bad file": {v: Verifier{Keys: keys, After: at(10)}, from: 11, what: "missing or out of order", line: 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			given := lines[c.from-1:]
			if name == "anchor does not excuse a bad file" {
				given = append(append([][]byte{}, given[:2]...), given[3:]...)
			}
			v := c.v
			err := v.Read("audit.jsonl", bytes.NewReader(bytes.Join(given, nil)))
			s, serr := v.Summary()
			if err == nil {
				err = serr
			}
			if c.what == "" {
				if err != nil || s.FirstSeq != c.first {
					t.Fatalf("verify = %+v, %v; want a summary from seq %d", s, err, c.first)
				}
				if c.v.After != nil && s.AnchorSeq != c.v.After.Seq {
					t.Errorf("summary %q: AnchorSeq %d, want %d", s, s.AnchorSeq, c.v.After.Seq)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.What != c.what || p.Line != c.line {
				t.Fatalf("verify = %v; want %q at line %d", err, c.what, c.line)
			}
		})
	}
	// The problem says what to do, and the summary gives the anchor of
	// what comes next in full.
	v := &Verifier{}
	err := v.Read("audit.jsonl.2", bytes.NewReader(bytes.Join(lines[10:], nil)))
	for _, part := range []string{"audit.jsonl.2:1: seq 11: starts later", "expected seq 1", "--after 10:HASH", "--allow-partial", "seq 1-10 were not given"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("problem %q lacks %q", err, part)
		}
	}
	s, err := (&Verifier{Keys: keys, After: at(10)}).summaryOf(t, lines[10:])
	if err != nil || !strings.Contains(s.String(), "last hash "+rec(26).Hash) || !strings.Contains(s.String(), "continues the anchor at seq 10") {
		t.Errorf("summary %q, %v; want the anchor and the full last hash", s, err)
	}
}

func (v *Verifier) summaryOf(t *testing.T, lines [][]byte) (Summary, error) {
	t.Helper()
	if err := v.Read("audit.jsonl", bytes.NewReader(bytes.Join(lines, nil))); err != nil {
		return Summary{}, err
	}
	return v.Summary()
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	if a, err := ParseAnchor("41292:" + h); err != nil || a != (Anchor{41292, h}) || a.String() != "41292:"+h {
		t.Errorf("ParseAnchor = %v, %v", a, err)
	}
	for _, bad := range []string{"", "12", ":" + h, "0:" + h, "-1:" + h, "12:" + h[:16], "12:" + strings.ToUpper(h), "x:" + h} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) = nil error", bad)
		}
	}
}

// A second chain that starts at seq 1 after another is reported as
// restarted, with a hint that names what makes the gateway start a new
// chain: nothing to continue when it started (a single file removed
// does not do it: the gateway continues from the files left, and a file
// missing between others is a gap), or files of two logs given together
// (such as standard output captured across restarts: there each start
// begins a new chain by design).
func TestVerifyRestartedHint(t *testing.T) {
	key := newKey(t)
	first, second := writeFile(t, writeChain(t, key, 3)), writeFile(t, writeChain(t, key, 2))
	_, err := VerifyFiles([]string{first, second}, nil)
	var p *Problem
	if !errors.As(err, &p) || p.What != "restarted" || p.File != second || p.Line != 1 {
		t.Fatalf("verify = %v, want restarted at %s:1", err, second)
	}
	for _, want := range []string{"nothing to continue", "another log", "standard output", "verify each chain on its own"} {
		if !contains(p.Hint, want) {
			t.Errorf("hint %q: want it to say %q", p.Hint, want)
		}
	}
	if contains(p.Hint, "a file was removed") {
		t.Errorf("hint %q: a removed file shows as a gap, not a new chain", p.Hint)
	}
}
