package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Problem is the first thing wrong with a chain of audit files.
type Problem struct {
	File string
	Line int    // 1-based
	Seq  uint64 // of the record on Line, when it could be read
	// What names the problem: "modified", "missing or out of order",
	// "inserted or out of order", "chain broken", "truncated", "malformed",
	// "restarted", "empty", "starts later" (the files start after seq 1
	// with neither an anchor nor AllowPartial), "anchor mismatch", "anchor
	// not reached", and with keys "unsigned checkpoint", "bad checkpoint
	// signature", "unsigned start", "checkpoints missing".
	What     string
	Expected string
	Got      string
	Hint     string // what it most likely means
}

func (p *Problem) Error() string {
	var b []byte
	b = fmt.Appendf(b, "%s:%d:", p.File, p.Line)
	if p.Seq != 0 {
		b = fmt.Appendf(b, " seq %d:", p.Seq)
	}
	b = fmt.Appendf(b, " %s", p.What)
	if p.Expected != "" || p.Got != "" {
		b = fmt.Appendf(b, ": expected %s, got %s", p.Expected, p.Got)
	}
	if p.Hint != "" {
		b = fmt.Appendf(b, " (%s)", p.Hint)
	}
	return string(b)
}

// Summary describes a chain that verified.
type Summary struct {
	Files     int
	Records   int    // checkpoints included
	FirstSeq  uint64 // 1 unless the files given start later in the chain
	LastSeq   uint64
	FirstPrev string // the Prev of the first record (zeros when FirstSeq is 1)
	LastHash  string
	// AnchorSeq is the seq of the Verifier's After anchor, which the chain
	// holds or continues; 0 without one. A summary with FirstSeq > 1 and
	// AnchorSeq 0 is of files accepted with AllowPartial: nothing showed
	// that no earlier file was removed.
	AnchorSeq uint64
	// Checkpoints counts checkpoint records; Verified those whose signature
	// was checked (only with keys).
	Checkpoints int
	Verified    int
	KeyIDs      []string // the keys that signed the verified checkpoints
	// AfterLastVerified counts the records after the last verified
	// checkpoint: with keys, what only the chain protects (a writer of the
	// file could rewrite them consistently). It is at most the bound that
	// checkpoint states (checkpoint_every), and all the records when no
	// checkpoint verified (files that start later in the chain, without
	// one); 0 without keys.
	AfterLastVerified int
	// Closed reports that the last record is a "close" checkpoint: the log
	// that wrote it was closed cleanly there. It does not prove that nothing
	// was cut from the end: a file cut back to an earlier run's close
	// checkpoint ends with one too. Only a copy kept elsewhere (the Redis
	// stream) shows such a cut.
	Closed bool
}

// String is the one-line summary `gateway audit verify` prints.
func (s Summary) String() string {
	b := fmt.Appendf(nil, "ok: %d file(s), %d records, seq %d-%d", s.Files, s.Records, s.FirstSeq, s.LastSeq)
	switch {
	case s.FirstSeq > 1 && s.AnchorSeq > 0:
		b = fmt.Appendf(b, " (continues the anchor at seq %d)", s.AnchorSeq)
	case s.FirstSeq > 1:
		b = fmt.Appendf(b, " (starts after %s…: earlier files not given, nothing anchors the start)", s.FirstPrev[:12])
	case s.AnchorSeq > 0:
		b = fmt.Appendf(b, " (anchor at seq %d matched)", s.AnchorSeq)
	}
	b = fmt.Appendf(b, ", %d checkpoints", s.Checkpoints)
	switch {
	case s.Verified > 0:
		b = fmt.Appendf(b, " (%d signatures verified", s.Verified)
		if s.AfterLastVerified > 0 {
			b = fmt.Appendf(b, "; %d records after the last one", s.AfterLastVerified)
		}
		b = append(b, ')')
	case s.AfterLastVerified > 0: // keys given, no checkpoint among the records
		b = fmt.Appendf(b, " (no signature verified: none of the %d records is covered by one)", s.AfterLastVerified)
	case s.Checkpoints > 0:
		b = append(b, " (signatures not checked: no keys given)"...)
	}
	if s.LastHash != "" {
		// In full: with LastSeq it is the anchor (--after SEQ:HASH) that
		// the verification of the files after these starts from.
		b = fmt.Appendf(b, ", last hash %s", s.LastHash)
	}
	if !s.Closed {
		b = append(b, "; the last file does not end with a close checkpoint (the log is still open, or crashed)"...)
	}
	return string(b)
}

// Verifier checks audit files in order: every line is a record in the log's
// exact encoding, its hash matches its bytes, its seq and prev continue the
// record before it (across files). With Keys, also: every checkpoint carries
// a valid signature; files that start at seq 1 start with a (signed) start
// checkpoint; and after a checkpoint that states its bound ("checkpoint_every
// K" at the end of its detail), no more than K records come before the next
// checkpoint or the end. A checkpoint that states no bound (written before
// checkpoints stated it) bounds nothing, so older files verify as they did.
// It stops at the first problem.
//
// What it cannot see: with Keys, a consistent rewrite of the records after
// the last checkpoint (at most its bound: Summary.AfterLastVerified), and
// records cut from the end of the last file — down to any record, a close
// checkpoint of an earlier run included, after which a restart continues
// the chain and signs again; only a copy kept elsewhere (the Redis stream)
// shows that. Without Keys, a chain rewritten consistently from any record
// on.
//
// Where the chain starts: files that start at seq 1 start the log. Files
// that start later (older files archived, or deleted) fail as "starts
// later" unless After anchors them, or AllowPartial accepts them as given.
// A signature in the files does not anchor them: it shows that the gateway
// wrote the records, not that no file before them was removed.
type Verifier struct {
	// Keys verify checkpoint signatures; nil skips them.
	Keys *KeySet
	// After, when set, anchors the chain to a record known from elsewhere
	// (the last seq and hash of an earlier verification, kept off the
	// host): the files must hold the record at After.Seq with hash
	// After.Hash, or start right after it (seq After.Seq+1, prev
	// After.Hash).
	After *Anchor
	// AllowPartial accepts files that start after seq 1 without After; the
	// summary says where they start. Nothing then shows whether records
	// before them were deleted.
	AllowPartial bool

	anchored bool
	sum      Summary
	lastFile string // the file of the last record read
	started  bool
	prev     string
	kids     map[string]bool
	problem  *Problem
	// bound is what the last verified checkpoint (at boundSeq) states: the
	// most records before the next checkpoint (0: it states none).
	bound    int
	boundSeq uint64
}

// Anchor is a record of the chain known from elsewhere: its seq and hash.
type Anchor struct {
	Seq  uint64
	Hash string
}

func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// ParseAnchor reads an anchor written SEQ:HASH, the hash in full (64 hex
// digits), as a summary prints the last seq and hash.
func ParseAnchor(s string) (Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || !isHex64(hash) {
		return Anchor{}, fmt.Errorf("audit: expected an anchor SEQ:HASH (a seq from 1 and the record's hash, 64 lowercase hex digits), got %q", s)
	}
	return Anchor{Seq: n, Hash: hash}, nil
}

// VerifyFiles checks the files in order with keys, strictly (the chain
// must start at seq 1), and returns the summary, or the first problem (a
// *Problem) or an I/O error.
func VerifyFiles(paths []string, keys *KeySet) (Summary, error) {
	return (&Verifier{Keys: keys}).Files(paths...)
}

// ChainOrder returns paths in the order of the chain: by the seq of each
// file's first record, as `gateway audit verify` reads them, so that files
// given in any order (a shell glob lists the current file before the
// rotated ones) verify as one chain. Files whose first line does not start
// like a record (empty, compressed, not an audit file) go last, and files
// whose first records have the same seq keep the order given: reading
// them then reports the problem. The order alone never makes a chain
// verify: seq and prev are checked across files as within them, so a file
// missing between two others is still a gap, and a file given twice
// repeats its seqs. It reads the first few bytes of each file.
func ChainOrder(paths []string) ([]string, error) {
	type keyed struct {
		path string
		seq  uint64
		ok   bool
	}
	ks := make([]keyed, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		seq, ok := headSeq(f)
		f.Close()
		ks[i] = keyed{p, seq, ok}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		switch {
		case a.ok != b.ok:
			if a.ok {
				return -1
			}
			return 1
		default:
			return cmp.Compare(a.seq, b.seq)
		}
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.path
	}
	return out, nil
}

// Files checks the files in order, as the next files of the chain, and
// returns the summary, or the first problem (a *Problem) or an I/O error.
func (v *Verifier) Files(paths ...string) (Summary, error) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return Summary{}, fmt.Errorf("audit: %w", err)
		}
		err = v.Read(p, f)
		f.Close()
		if err != nil {
			return Summary{}, err
		}
	}
	return v.Summary()
}

// Read checks the next file of the chain.
func (v *Verifier) Read(name string, r io.Reader) error {
	if v.problem != nil {
		return v.problem
	}
	v.sum.Files++
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if errors.Is(err, errLineTooLong) {
			return v.fail(&Problem{File: name, Line: n, What: "malformed", Expected: fmt.Sprintf("a line of at most %d bytes", maxLine), Got: "a longer one"})
		}
		if err == io.EOF {
			return v.fail(&Problem{File: name, Line: n, What: "truncated",
				Expected: "a line ending in a newline", Got: fmt.Sprintf("%d bytes without one at the end of the file", len(line)),
				Hint: "the file was cut, or the log crashed mid-write"})
		}
		if err != nil {
			return fmt.Errorf("audit: reading %s: %w", name, err)
		}
		if p := v.check(name, n, line); p != nil {
			return v.fail(p)
		}
	}
}

var errLineTooLong = errors.New("line too long")

func readLine(br *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		part, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, part...)
			if len(long) > maxLine {
				return nil, errLineTooLong
			}
			continue
		}
		if long != nil {
			long = append(long, part...)
			if len(long) > maxLine {
				return nil, errLineTooLong
			}
			return long, err
		}
		return part, err
	}
}

func (v *Verifier) fail(p *Problem) error {
	v.problem = p
	return p
}

// check checks one line and, when it is good, advances the chain.
func (v *Verifier) check(file string, n int, line []byte) *Problem {
	r, err := parseLine(line)
	if err != nil {
		var le *lineError
		if errors.As(err, &le) {
			return &Problem{File: file, Line: n, Seq: le.seq, What: le.what, Expected: le.expected, Got: le.got, Hint: le.hint}
		}
		return &Problem{File: file, Line: n, What: "malformed", Got: err.Error()}
	}
	p := &Problem{File: file, Line: n, Seq: r.Seq}
	if !v.started {
		if r.Seq == 1 && r.Prev != zeroHash {
			p.What, p.Expected, p.Got = "chain broken", "prev "+zeroHash[:12]+"… for seq 1", "prev "+r.Prev
			return p
		}
		if v.Keys != nil && r.Seq == 1 && (r.Kind != KindCheckpoint || r.Event != CheckpointStart) {
			// Without this a file rewritten whole, and left without
			// checkpoints, would have nothing to verify against.
			p.What, p.Expected = "unsigned start", "a signed start checkpoint at seq 1"
			p.Got = fmt.Sprintf("a %q record", r.Kind)
			if r.Kind == KindCheckpoint {
				p.Got = fmt.Sprintf("a %q checkpoint", r.Event)
			}
			p.Hint = "every log starts with a signed start checkpoint: the file was rewritten from its first record"
			return p
		}
		if p := v.checkStart(p, r); p != nil {
			return p
		}
		v.started = true
		v.sum.FirstSeq, v.sum.FirstPrev = r.Seq, r.Prev
	} else {
		want := v.sum.LastSeq + 1
		switch {
		case r.Seq == want && r.Prev != v.prev:
			p.What, p.Expected, p.Got = "chain broken", "prev "+v.prev, "prev "+r.Prev
			p.Hint = fmt.Sprintf("seq %d before it was modified or replaced, or this record was", v.sum.LastSeq)
			return p
		case r.Seq == 1 && r.Prev == zeroHash:
			p.What, p.Expected, p.Got = "restarted", fmt.Sprintf("seq %d", want), "seq 1 starting a new chain"
			p.Hint = "a second chain begins here: the gateway found nothing to continue when it started (the audit file and every file " +
				"rotated away from it were moved or deleted while it was stopped, or logrotate renamed the file and the gateway " +
				"restarted before it reopened it), or these files mix another log's (another replica's, or standard output " +
				"captured across restarts, where each start begins a new chain); verify each chain on its own"
			return p
		case r.Seq > want && n == 1 && v.lastFile != file:
			p.What, p.Expected, p.Got = "missing or out of order", fmt.Sprintf("seq %d", want), fmt.Sprintf("seq %d", r.Seq)
			p.Hint = fmt.Sprintf("seq %d-%d are in none of the files given (after %s, before this file): "+
				"a file between them was not given or was deleted, or records were cut from the end of %s", want, r.Seq-1, v.lastFile, v.lastFile)
			return p
		case r.Seq > want:
			p.What, p.Expected, p.Got = "missing or out of order", fmt.Sprintf("seq %d", want), fmt.Sprintf("seq %d", r.Seq)
			p.Hint = fmt.Sprintf("%d record(s) deleted before this line, or moved", r.Seq-want)
			return p
		case r.Seq < want:
			p.What, p.Expected, p.Got = "inserted or out of order", fmt.Sprintf("seq %d", want), fmt.Sprintf("seq %d", r.Seq)
			p.Hint = "this record repeats an earlier seq: it was inserted, or records were reordered"
			return p
		}
	}
	if a := v.After; a != nil && r.Seq == a.Seq {
		if r.Hash != a.Hash {
			p.What, p.Expected, p.Got = "anchor mismatch", "hash "+a.Hash+" (the --after anchor)", "hash "+r.Hash
			p.Hint = "this record, or one before it, was changed since the anchor was taken, or the anchor is of another log"
			return p
		}
		v.anchored = true
	}
	if r.Kind == KindCheckpoint {
		v.sum.Checkpoints++
		if v.Keys != nil {
			if r.Sig == "" {
				p.What, p.Expected, p.Got = "unsigned checkpoint", "a signature", "none"
				p.Hint = "the gateway signs every checkpoint when it has a key; this one was forged or written without a key"
				return p
			}
			kid, err := v.Keys.verifyCheckpoint(r.Sig, r.Seq, r.Hash)
			if err != nil {
				p.What, p.Expected, p.Got = "bad checkpoint signature", "a signature by one of the keys given", err.Error()
				if errors.Is(err, errNoKey) {
					p.Hint = "give the key that was active then (--jwks or --key)"
				} else {
					p.Hint = "the records before it were changed, or the checkpoint was forged"
				}
				return p
			}
			v.sum.Verified++
			v.sum.AfterLastVerified = -1
			v.bound, v.boundSeq = statedBound(r.Detail), r.Seq
			if v.kids == nil {
				v.kids = map[string]bool{}
			}
			if !v.kids[kid] {
				v.kids[kid] = true
				v.sum.KeyIDs = append(v.sum.KeyIDs, kid)
			}
		}
	} else if r.Sig != "" {
		p.What, p.Expected, p.Got = "malformed", "no sig on a "+strconv.Quote(r.Kind)+" record", "a sig"
		return p
	} else if v.bound > 0 && v.sum.AfterLastVerified >= v.bound {
		// The log never writes more records than the signed bound after
		// a checkpoint; more means checkpoints were taken out — at the
		// end of the file too, where the tail would otherwise be as long
		// as a forger likes.
		p.What = "checkpoints missing"
		p.Expected = fmt.Sprintf("a signed checkpoint within %d records after seq %d", v.bound, v.boundSeq)
		p.Got = fmt.Sprintf("%d records without one", v.sum.AfterLastVerified+1)
		p.Hint = "checkpoints were removed and the records after them rewritten"
		return p
	}
	v.sum.AfterLastVerified++
	v.sum.Records++
	v.sum.LastSeq, v.sum.LastHash, v.prev = r.Seq, r.Hash, r.Hash
	v.lastFile = file
	v.sum.Closed = r.Kind == KindCheckpoint && r.Event == CheckpointClose
	return nil
}

// Summary returns the summary of what was read, or the first problem.
func (v *Verifier) Summary() (Summary, error) {
	if v.problem != nil {
		return Summary{}, v.problem
	}
	if v.sum.Records == 0 {
		return Summary{}, &Problem{File: "(all files)", What: "empty", Expected: "at least one record", Got: "none"}
	}
	if a := v.After; a != nil {
		if !v.anchored {
			return Summary{}, &Problem{File: "(all files)", What: "anchor not reached",
				Expected: fmt.Sprintf("the record at seq %d (the --after anchor)", a.Seq),
				Got:      fmt.Sprintf("files that end at seq %d", v.sum.LastSeq),
				Hint:     "records were cut from the end since the anchor was taken, or the newest files were not given"}
		}
		v.sum.AnchorSeq = a.Seq
	}
	if v.Keys == nil {
		v.sum.AfterLastVerified = 0
	}
	return v.sum, nil
}

// checkStart checks where the chain starts: at seq 1, or at the After
// anchor, or anywhere with AllowPartial. p is the problem to fill in.
func (v *Verifier) checkStart(p *Problem, r Record) *Problem {
	a := v.After
	switch {
	case a != nil && r.Seq == a.Seq+1:
		if r.Prev != a.Hash {
			p.What, p.Expected, p.Got = "anchor mismatch", fmt.Sprintf("prev %s (the --after anchor, seq %d)", a.Hash, a.Seq), "prev "+r.Prev
			p.Hint = "the files do not continue the anchor: the record it names was replaced, or the anchor is of another log"
			return p
		}
		v.anchored = true
	case a != nil && r.Seq > a.Seq+1:
		p.What, p.Expected, p.Got = "missing or out of order", fmt.Sprintf("seq %d, right after the --after anchor (or earlier)", a.Seq+1), fmt.Sprintf("seq %d", r.Seq)
		p.Hint = fmt.Sprintf("%d record(s) between the anchor and these files are not given: give the files that hold them first, or they were deleted", r.Seq-a.Seq-1)
		return p
	case a == nil && r.Seq != 1 && !v.AllowPartial:
		p.What, p.Expected = "starts later", "seq 1 (the log's first record) or a record anchored with --after SEQ:HASH"
		p.Got = fmt.Sprintf("seq %d after prev %s", r.Seq, r.Prev)
		p.Hint = fmt.Sprintf("the files holding seq 1-%d were not given, or were deleted: give them too; "+
			"if they were archived after a verification, give that verification's last seq and hash as --after %d:HASH; "+
			"--allow-partial accepts the files as they start, without showing that nothing before them was removed", r.Seq-1, r.Seq-1)
		return p
	}
	return nil
}

// lineError is why one line is not a valid record.
type lineError struct {
	seq                       uint64
	what, expected, got, hint string
}

func (e *lineError) Error() string {
	return fmt.Sprintf("%s: expected %s, got %s", e.what, e.expected, e.got)
}

// parseLine reads one line (with its newline) and checks that it is exactly
// what the log writes for the record it holds, and that its hash matches.
func parseLine(line []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, &lineError{what: "malformed", expected: "a JSON audit record", got: err.Error()}
	}
	if r.Seq == 0 {
		// Seq counts from 1; the checks of a chain's start (prev zeros,
		// the signed start checkpoint) are at seq 1.
		return Record{}, &lineError{what: "malformed", expected: "a seq from 1", got: "seq 0"}
	}
	if !isHex64(r.Prev) || !isHex64(r.Hash) {
		return Record{}, &lineError{seq: r.Seq, what: "malformed", expected: "prev and hash of 64 lowercase hex digits",
			got: fmt.Sprintf("%q and %q", r.Prev, r.Hash)}
	}
	canon := appendRecord(nil, &r)
	if !bytes.Equal(canon, line) {
		return Record{}, &lineError{seq: r.Seq, what: "modified", expected: "the log's exact encoding of the record",
			got: "other bytes (" + firstDiff(canon, line) + ")", hint: "the line was edited"}
	}
	body := canon[:bytes.Index(canon, []byte(`,"hash":"`))]
	var sum [64]byte
	hashLine(&sum, body)
	if string(sum[:]) != r.Hash {
		return Record{}, &lineError{seq: r.Seq, what: "modified", expected: "hash " + string(sum[:]) + " of the record's bytes",
			got: "hash " + r.Hash, hint: "the record was edited after it was written"}
	}
	return r, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// firstDiff says where two encodings first differ.
func firstDiff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(i-20, 0)
	return fmt.Sprintf("at byte %d: expected %q, got %q", i, want[lo:min(i+20, len(want))], got[lo:min(i+20, len(got))])
}
