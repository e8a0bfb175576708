package audit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHeadSeq(t *testing.T) {
	for line, want := range map[string]uint64{
		`{"seq":1,"prev":"00"`:                  1,
		`{"seq":41293,"prev":"00"`:              41293,
		`{"seq":18446744073709551615,"prev":""`: 1<<64 - 1,
		`{"seq":18446744073709551616,"prev":""`: 0, // overflows
		`{"seq":0,"prev":"00"`:                  0,
		`{"seq":012,"prev":"00"`:                0,
		`{"seq":12}`:                            0,
		`{"seq":12`:                             0, // no comma: cut off
		`{"prev":"00","seq":1,`:                 0,
		`{ "seq":1,`:                            0,
		"\x1f\x8b\x08\x00":                      0, // gzip
		``:                                      0,
	} {
		got, ok := headSeq(strings.NewReader(line))
		if got != want || ok != (want != 0) {
			t.Errorf("headSeq(%q) = %d, %v; want %d, %v", line, got, ok, want, want != 0)
		}
	}
}

// rotatedFiles lists the names earlier versions gave (by time) before the
// names by seq, and neither logrotate's names nor compressed copies.
func TestRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	names := []string{
		path + ".20261201T090000.000Z",
		path + ".20261201T090000.000Z.2",
		path + ".20261201T090000.000Z.10",
		rotatedName(path, 9, at),
		rotatedName(path, 100, at.Add(-time.Hour)),
	}
	for _, n := range append(slices.Clone(names), path, path+".1", path+".20261201T080000.000Z.gz", rotatedName(path, 200, at)+".gz") {
		if err := os.WriteFile(n, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := rotatedFiles(path); !slices.Equal(got, names) {
		t.Errorf("rotatedFiles = %q\nwant %q", got, names)
	}
	if got, want := filepath.Base(rotatedName(path, 9, at)), "audit.jsonl.seq-00000000000000000009.20261201T100000Z.1"; got != want {
		t.Errorf("a name taken: rotatedName = %q, want %q", got, want)
	}
}
