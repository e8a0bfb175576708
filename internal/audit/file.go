package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// file is what the writer needs of the audit file; *os.File has it.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
}

func openOSFile(path string) (file, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
}

var errUnsupported = errors.New("not supported by this writer")

// writerFile adapts a plain io.Writer (stdout, a test buffer): it cannot be
// synced, reopened, truncated or rotated.
type writerFile struct {
	w io.Writer
	c io.Closer
}

func (w writerFile) Write(p []byte) (int, error) { return w.w.Write(p) }
func (w writerFile) Sync() error                 { return nil }
func (w writerFile) Stat() (fs.FileInfo, error)  { return nil, errUnsupported }
func (w writerFile) Truncate(size int64) error   { return errUnsupported }
func (w writerFile) Close() error {
	if w.c == nil {
		return nil
	}
	return w.c.Close()
}

// A rotated file is named FILE.seq-<S>.<T>: S is the seq of its first
// record, in 20 digits (any uint64), and T the UTC time of the rotation, to
// the second (20261130T091403Z). The seq, fixed-width, makes the names sort
// in chain order, as a shell glob lists them: the time is for people only
// (after the clock stepped back it is not in order). Names start with a
// letter, so they sort after the names earlier versions gave (legacySuffix:
// FILE.<UTC time to the millisecond>), which hold the older records.
const (
	rotatedPrefix = ".seq-"
	rotatedLayout = "20060102T150405Z"
)

var (
	rotatedSuffix = regexp.MustCompile(`^\.seq-\d{20}\.\d{8}T\d{6}Z(\.\d+)?$`)
	legacySuffix  = regexp.MustCompile(`^\.\d{8}T\d{6}\.\d{3}Z(\.\d+)?$`)
)

// rotatedName returns a name for path rotated at t, whose first record is
// at seq first, that does not exist yet. A name taken already (only a file
// of another chain can start at the same seq, rotated in the same second)
// gets .1, .2 …
func rotatedName(path string, first uint64, t time.Time) string {
	base := fmt.Sprintf("%s%s%020d.%s", path, rotatedPrefix, first, t.UTC().Format(rotatedLayout))
	return freeName(base)
}

// freeName returns base, or base.1, base.2 … whichever does not exist.
func freeName(base string) string {
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.%d", base, i)
	}
}

// rotatedFiles lists the files rotated away from path, oldest name first:
// those named the way earlier versions did (legacySuffix) by time, then
// the others by seq. Files whose name does not match either (logrotate's,
// compressed ones) are not listed.
func rotatedFiles(path string) []string {
	matches, _ := filepath.Glob(globEscape(path) + ".*")
	var legacy, named []string
	for _, m := range matches {
		switch s := m[len(path):]; {
		case rotatedSuffix.MatchString(s):
			named = append(named, m)
		case legacySuffix.MatchString(s):
			legacy = append(legacy, m)
		}
	}
	sort.Slice(legacy, func(i, j int) bool { return rotatedLess(legacy[i], legacy[j]) })
	sort.Slice(named, func(i, j int) bool { return rotatedLess(named[i], named[j]) })
	return append(legacy, named...)
}

// rotatedLess orders FILE.T before FILE.T.1 before FILE.T.2 … before FILE.T'.
func rotatedLess(a, b string) bool {
	ta, na := splitCollision(a)
	tb, nb := splitCollision(b)
	if ta != tb {
		return ta < tb
	}
	return na < nb
}

func splitCollision(s string) (string, int) {
	i := len(s) - 1
	for i >= 0 && s[i] >= '0' && s[i] <= '9' {
		i--
	}
	if i > 0 && s[i] == '.' && i < len(s)-1 && s[i-1] == 'Z' {
		n := 0
		for _, c := range s[i+1:] {
			n = n*10 + int(c-'0')
		}
		return s[:i], n
	}
	return s, 0
}

func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// tail is where an existing file leaves the chain.
type tail struct {
	seq  uint64
	hash string
	from string // the file the last record is in ("" for a new chain)
	size int64  // bytes of complete lines in path
	cut  []byte // an incomplete last line of path, to be removed
}

const (
	tailChunk = 64 << 10
	maxLine   = 1 << 20 // a line longer than this is not an audit record
)

// readTail finds the last record of path, or, when path is missing or
// empty, the last record of the chain among the files rotated away from
// it: the one with the highest seq, whatever the names say. Names by seq
// sort in chain order, but earlier versions named rotated files by time
// only, and after the clock stepped back such a name sorts before older
// ones: continuing from the file whose name sorts last would fork the
// chain. It checks the encoding and hash of each rotated file's last
// record (not the whole files: that is `gateway audit verify`), and fails
// on one that is not valid rather than continue from another.
func readTail(path string) (tail, error) {
	t, err := readFileTail(path)
	if err != nil {
		return tail{}, err
	}
	if t.from != "" {
		return t, nil
	}
	for _, f := range rotatedFiles(path) {
		rt, err := readFileTail(f)
		if err != nil {
			return tail{}, err
		}
		if rt.from != "" && rt.seq >= t.seq {
			t.seq, t.hash, t.from = rt.seq, rt.hash, rt.from
		}
	}
	return t, nil
}

func readFileTail(path string) (tail, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tail{}, nil
	}
	if err != nil {
		return tail{}, fmt.Errorf("audit: reading the chain's tail: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return tail{}, fmt.Errorf("audit: reading the chain's tail: %w", err)
	}
	if !st.Mode().IsRegular() {
		return tail{}, fmt.Errorf("audit: %s: expected a regular file, got %s", path, st.Mode().Type())
	}
	size := st.Size()
	for chunk := int64(tailChunk); ; chunk *= 4 {
		start := max(size-chunk, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return tail{}, fmt.Errorf("audit: reading the chain's tail: %w", err)
		}
		t := tail{size: size}
		end := bytes.LastIndexByte(buf, '\n')
		if end+1 < len(buf) { // an incomplete last line
			if end < 0 && start > 0 {
				if chunk > maxLine*4 {
					return tail{}, fmt.Errorf("audit: %s: expected a newline in the last %d bytes, got none", path, chunk)
				}
				continue
			}
			t.cut = buf[end+1:]
			t.size = start + int64(end+1)
		}
		if end < 0 {
			return t, nil // no complete line
		}
		begin := bytes.LastIndexByte(buf[:end], '\n') + 1
		if begin == 0 && start > 0 {
			if chunk > maxLine*4 {
				return tail{}, fmt.Errorf("audit: %s: expected a line shorter than %d bytes at the end, got a longer one", path, maxLine)
			}
			continue
		}
		r, err := parseLine(buf[begin : end+1])
		if err != nil {
			return tail{}, fmt.Errorf("audit: %s: the last record is not valid (%v): check the file with `gateway audit verify`, then move it aside", path, err)
		}
		t.seq, t.hash, t.from = r.Seq, r.Hash, path
		return t, nil
	}
}

// describeCut says what was removed from the end of a file.
func describeCut(cut []byte) string {
	sum := sha256.Sum256(cut)
	return fmt.Sprintf("removed an incomplete last line of %d bytes (sha256 %s)", len(cut), hex.EncodeToString(sum[:]))
}

// headSeq returns the seq of the record on the first line of r: the digits
// after the `{"seq":` that every line of the log starts with. It reads at
// most the few bytes that hold them and checks nothing else (that is
// `gateway audit verify`); ok is false when r does not start that way.
func headSeq(r io.Reader) (seq uint64, ok bool) {
	const head = `{"seq":`
	var buf [len(head) + 21]byte // up to 20 digits and the comma after them
	n, _ := io.ReadFull(r, buf[:])
	b, found := bytes.CutPrefix(buf[:n], []byte(head))
	if !found {
		return 0, false
	}
	digits := 0
	for digits < len(b) && b[digits] >= '0' && b[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits == len(b) || b[digits] != ',' || (b[0] == '0' && digits > 1) {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(b[:digits]), 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}
