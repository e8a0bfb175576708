package audit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestOptionsProblems(t *testing.T) {
	cases := map[string]struct {
		o    Options
		want []string
	}{
		"zero is valid (defaults)": {Options{}, nil},
		"everything set": {Options{File: "a.jsonl", Fsync: "250ms", CheckpointEvery: 10, CheckpointInterval: time.Second,
			RotateSize: 1 << 20, CommitTimeout: time.Second, Buffer: 5, RedisStream: &StreamOptions{Stream: "s", MaxLen: 10}}, nil},
		"fsync always": {Options{Fsync: "always"}, nil},
		"fsync never":  {Options{Fsync: "never"}, nil},
		"bad fsync":    {Options{Fsync: "sometimes"}, []string{`fsync: expected a positive duration such as 1s, always or never, got "sometimes"`}},
		"zero fsync":   {Options{Fsync: "0s"}, []string{`fsync: expected a positive duration`}},
		"negatives": {Options{File: "a", CheckpointEvery: -1, CheckpointInterval: -time.Second, RotateSize: -1, CommitTimeout: -1, Buffer: -1},
			[]string{"checkpoint_every: expected a positive number of records, got -1", "checkpoint_interval:", "rotate_size: expected 0 (never) or at least 1KiB, got -1 bytes", "commit_timeout:", "buffer:"}},
		"rotate too small":    {Options{File: "a", RotateSize: 100}, []string{"rotate_size: expected 0 (never) or at least 1KiB, got 100 bytes"}},
		"rotate stdout":       {Options{File: "-", RotateSize: 1 << 20}, []string{"rotate_size: expected a file to rotate, got stdout"}},
		"stream key w/ space": {Options{RedisStream: &StreamOptions{Stream: "a b", MaxLen: -1}}, []string{"redis_stream.max_len:", `redis_stream.stream: expected a key without spaces, got "a b"`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := c.o.Problems()
			if len(got) != len(c.want) {
				t.Fatalf("Problems() = %q, want %d problems like %q", got, len(c.want), c.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestOpenOptionsRefusesInvalidOptions(t *testing.T) {
	if _, err := OpenOptions(Options{File: t.TempDir() + "/a", Fsync: "x"}); err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("OpenOptions = %v, want the fsync problem", err)
	}
	if _, err := OpenOptions(Options{File: t.TempDir() + "/a", RedisStream: &StreamOptions{}}); err == nil || !strings.Contains(err.Error(), "Redis client") {
		t.Fatalf("OpenOptions without a Redis client = %v", err)
	}
}

func TestParseSize(t *testing.T) {
	cases := map[string]struct {
		in   string
		want Size
		ok   bool
	}{
		"bytes":       {"1234", 1234, true},
		"B":           {"10B", 10, true},
		"KiB":         {"4KiB", 4096, true},
		"MiB spaced":  {"100 MiB", 100 << 20, true},
		"GiB":         {"1GiB", 1 << 30, true},
		"MB":          {"5MB", 5e6, true},
		"GB":          {"2GB", 2e9, true},
		"negative":    {"-1", 0, false},
		"fraction":    {"1.5MiB", 0, false},
		"unit only":   {"MiB", 0, false},
		"unknown":     {"10 parsecs", 0, false},
		"overflowing": {"9999999999GiB", 0, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSize(c.in)
			if (err == nil) != c.ok || got != c.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d (ok %v)", c.in, got, err, c.want, c.ok)
			}
		})
	}
}

// The section decodes strictly from the config's YAML.
func TestOptionsFromYAML(t *testing.T) {
	src := `
file: /var/log/gateway/audit.jsonl
fsync: always
checkpoint_every: 500
checkpoint_interval: 30s
rotate_size: 100MiB
commit_timeout: 2s
buffer: 1000
redis_stream: {stream: "gw:audit", max_len: 5000, source: replica-1}
`
	var o Options
	if err := yaml.UnmarshalWithOptions([]byte(src), &o, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	want := Options{File: "/var/log/gateway/audit.jsonl", Fsync: "always", CheckpointEvery: 500, CheckpointInterval: 30 * time.Second,
		RotateSize: 100 << 20, CommitTimeout: 2 * time.Second, Buffer: 1000,
		RedisStream: &StreamOptions{Stream: "gw:audit", MaxLen: 5000, Source: "replica-1"}}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("decoded\n %+v\nwant\n %+v", o, want)
	}
	var n Options
	if err := yaml.UnmarshalWithOptions([]byte("rotate_size: 2048\n"), &n, yaml.Strict()); err != nil || n.RotateSize != 2048 {
		t.Fatalf("plain number: %d, %v", n.RotateSize, err)
	}
	if err := yaml.UnmarshalWithOptions([]byte("rotate_size: lots\n"), &n, yaml.Strict()); err == nil {
		t.Fatal("rotate_size: lots accepted")
	}
	if err := yaml.UnmarshalWithOptions([]byte("signer: x\n"), &n, yaml.Strict()); err == nil {
		t.Fatal("a program-only field was settable from YAML")
	}
}
