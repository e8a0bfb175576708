package audit

import (
	"crypto"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a Log. The YAML fields are the `audit:` section of the
// gateway's config; the others are filled by the program.
type Options struct {
	// File is a path to append JSON lines to; "" or "-" means stdout (no
	// chain continuation across restarts, no rotation).
	File string `yaml:"file"`
	// Fsync says when the file is flushed to disk: a duration such as "1s"
	// (at most that long after a write; the default), "always" (before
	// Commit returns), or "never" (only on rotation and Close).
	Fsync string `yaml:"fsync"`
	// CheckpointEvery bounds the records between two checkpoints (default
	// 1000): a (signed) checkpoint follows every CheckpointEvery-th record
	// since the last one, also in the middle of a large write, so no more
	// records than this are ever without a checkpoint after them. Every
	// checkpoint states the bound, and verify with keys fails a file that
	// breaks it: with keys, at most this many records at the end are open
	// to a consistent rewrite. CheckpointInterval writes one after this much
	// time when records were written since the last one (default 1m).
	CheckpointEvery    int           `yaml:"checkpoint_every"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// RotateSize renames the file to FILE.<UTC time> once it has grown past
	// this size ("100MiB", "1GB", bytes), and continues the chain in a new
	// FILE. 0 (the default) never rotates; logrotate can instead rename the
	// file and have the gateway call Reopen.
	RotateSize Size `yaml:"rotate_size"`
	// CommitTimeout bounds how long Commit waits for the write (default 5s).
	CommitTimeout time.Duration `yaml:"commit_timeout"`
	// Buffer bounds the records Log keeps in memory while the sink fails
	// (default 20000; and at most 64 MiB of them); beyond it records are
	// dropped, counted and logged.
	Buffer int `yaml:"buffer"`
	// RedisStream also sends every record to a Redis stream (XADD … MAXLEN ~),
	// so the records of every replica meet in one place. Best effort: a
	// failing stream never refuses a request.
	RedisStream *StreamOptions `yaml:"redis_stream"`

	// Signer signs checkpoints (the context token's active key); nil writes
	// unsigned checkpoints. KeyID is its kid (empty: the RFC 7638 thumbprint).
	Signer crypto.Signer `yaml:"-"`
	KeyID  string        `yaml:"-"`
	// Logger is the operational log (sink failures, drops); nil discards.
	Logger *slog.Logger `yaml:"-"`
	// Now is the clock of record times and checkpoint intervals (time.Now).
	Now func() time.Time `yaml:"-"`
	// Redis is the client RedisStream writes with (required with it).
	Redis redis.UniversalClient `yaml:"-"`

	// For tests: how the file is opened, the reopen backoff, and the bound
	// in bytes of the records kept while the sink fails (0: bufferBytes).
	openFile           func(path string) (file, error)
	retryMin, retryMax time.Duration
	bufferBytes        int
}

// StreamOptions configure the Redis stream sink.
type StreamOptions struct {
	// Stream is the key of the stream, used as it is. The gateway's config
	// defaults it to session.redis.key_prefix followed by StreamKey when a
	// prefix is set, so that deployments sharing one Redis under distinct
	// prefixes write distinct streams; otherwise it is DefaultStream.
	Stream string `yaml:"stream"`
	// MaxLen trims the stream to about this many entries (default 1000000).
	MaxLen int64 `yaml:"max_len"`
	// Source names this replica in each entry (default: the host name).
	Source string `yaml:"source"`
}

// Defaults.
const (
	DefaultFsync              = "1s"
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultCommitTimeout      = 5 * time.Second
	DefaultBuffer             = 20000
	// StreamKey follows the Redis key prefix in the default stream key.
	StreamKey = "audit"
	// DefaultStream is the stream key when session.redis.key_prefix is
	// not set.
	DefaultStream       = "gateway:audit"
	DefaultStreamMaxLen = 1000000
	minRotateSize       = 1 << 10
)

// Problems lists every problem with the options, each with its field path
// relative to the section (the config prefixes "audit."). It has no side
// effects.
func (o *Options) Problems() []string {
	var p []string
	if _, _, err := parseFsync(o.Fsync); err != nil {
		p = append(p, "fsync: "+err.Error())
	}
	if o.CheckpointEvery < 0 {
		p = append(p, fmt.Sprintf("checkpoint_every: expected a positive number of records, got %d", o.CheckpointEvery))
	}
	if o.CheckpointInterval < 0 {
		p = append(p, fmt.Sprintf("checkpoint_interval: expected a positive duration, got %s", o.CheckpointInterval))
	}
	if o.RotateSize < 0 || (o.RotateSize > 0 && o.RotateSize < minRotateSize) {
		p = append(p, fmt.Sprintf("rotate_size: expected 0 (never) or at least 1KiB, got %d bytes", int64(o.RotateSize)))
	}
	if o.RotateSize > 0 && isStdout(o.File) {
		p = append(p, "rotate_size: expected a file to rotate, got stdout (set file)")
	}
	if o.CommitTimeout < 0 {
		p = append(p, fmt.Sprintf("commit_timeout: expected a positive duration, got %s", o.CommitTimeout))
	}
	if o.Buffer < 0 {
		p = append(p, fmt.Sprintf("buffer: expected a positive number of records, got %d", o.Buffer))
	}
	if s := o.RedisStream; s != nil {
		if s.MaxLen < 0 {
			p = append(p, fmt.Sprintf("redis_stream.max_len: expected a positive number of entries, got %d", s.MaxLen))
		}
		if strings.ContainsAny(s.Stream, " \t\r\n") {
			p = append(p, fmt.Sprintf("redis_stream.stream: expected a key without spaces, got %q", s.Stream))
		}
	}
	return p
}

func isStdout(file string) bool { return file == "" || file == "-" }

// withDefaults returns o with every unset field at its default.
func (o Options) withDefaults() Options {
	if o.bufferBytes == 0 {
		o.bufferBytes = bufferBytes
	}
	if o.Fsync == "" {
		o.Fsync = DefaultFsync
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.CommitTimeout == 0 {
		o.CommitTimeout = DefaultCommitTimeout
	}
	if o.Buffer == 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.retryMin == 0 {
		o.retryMin = 50 * time.Millisecond
	}
	if o.retryMax == 0 {
		o.retryMax = 2 * time.Second
	}
	if s := o.RedisStream; s != nil {
		c := *s
		if c.Stream == "" {
			c.Stream = DefaultStream
		}
		if c.MaxLen == 0 {
			c.MaxLen = DefaultStreamMaxLen
		}
		o.RedisStream = &c
	}
	return o
}

// fsync policies.
const (
	fsyncInterval = iota
	fsyncAlways
	fsyncNever
)

func parseFsync(s string) (mode int, every time.Duration, err error) {
	switch s {
	case "", DefaultFsync:
		return fsyncInterval, time.Second, nil
	case "always":
		return fsyncAlways, 0, nil
	case "never":
		return fsyncNever, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("expected a positive duration such as 1s, always or never, got %q", s)
	}
	return fsyncInterval, d, nil
}

// Size is a number of bytes, written in YAML as a plain number or with a
// unit: KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
type Size int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// ParseSize reads a Size such as "100MiB".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("audit: expected a size such as 100MiB, got %q", s)
	}
	return Size(n * mult), nil
}

// UnmarshalText reads a Size from YAML.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes the size in bytes.
func (s Size) MarshalText() ([]byte, error) { return strconv.AppendInt(nil, int64(s), 10), nil }
