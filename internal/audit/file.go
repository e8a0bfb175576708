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

// rotatedLayout is the time suffix of a rotated file: FILE.20261130T010203.123Z
// (UTC), so that a shell glob lists rotated files in order.
const rotatedLayout = "20060102T150405.000Z"

var rotatedSuffix = regexp.MustCompile(`^\.\d{8}T\d{6}\.\d{3}Z(\.\d+)?$`)

// rotatedName returns a name for path rotated at t that does not exist yet.
func rotatedName(path string, t time.Time) string {
	base := path + "." + t.UTC().Format(rotatedLayout)
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.%d", base, i)
	}
}

// rotatedFiles lists the files rotated away from path, oldest first.
func rotatedFiles(path string) []string {
	matches, _ := filepath.Glob(globEscape(path) + ".*")
	var out []string
	for _, m := range matches {
		if rotatedSuffix.MatchString(m[len(path):]) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return rotatedLess(out[i], out[j]) })
	return out
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
// it: the one with the highest seq. Not the newest name: a rotation after
// the clock stepped back names its file with an earlier time, and
// continuing from the file whose name sorts last would fork the chain. It
// checks the encoding and hash of each rotated file's last record (not the
// whole files: that is `gateway audit verify`), and fails on one that is
// not valid rather than continue from another.
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
