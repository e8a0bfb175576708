package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

var benchRecord = Record{Kind: KindDecision, RequestID: "5f2e0726182db3e4ffaa20e5", User: "ann@corp.example",
	Subject: "sub", Route: "tool", Host: "tool.corp.example", Method: "GET", Path: "/a/b", SourceIP: "192.0.2.1",
	Decision: "allow", Reasons: []string{"allow-rule-matched"}, Grants: []string{"device"}, Status: 200}

func benchLog(b *testing.B, fsync string) *Log {
	b.Helper()
	l, err := OpenOptions(Options{File: filepath.Join(b.TempDir(), "audit.jsonl"), Fsync: fsync, Signer: newKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkCommit is the latency of one Commit with no other writer: one
// record, one write call (and an fsync with "always").
func BenchmarkCommit(b *testing.B) {
	for _, fsync := range []string{"never", "1s", "always"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			l := benchLog(b, fsync)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Commit(ctx, benchRecord); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitParallel is throughput under concurrent requests (32
// goroutines per CPU): group commit puts the records that arrive during a
// write into the next one. records/write is how many share a write call.
func BenchmarkCommitParallel(b *testing.B) {
	for _, fsync := range []string{"never", "1s", "always"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			l := benchLog(b, fsync)
			ctx := context.Background()
			w0 := l.Stats().Writes
			b.SetParallelism(32)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Commit(ctx, benchRecord); err != nil {
						b.Error(err)
						return
					}
				}
			})
			el := time.Since(start)
			st := l.Stats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/float64(st.Writes-w0), "records/write")
		})
	}
}

// BenchmarkLog is the cost of a non-blocking record to the caller.
func BenchmarkLog(b *testing.B) {
	l := benchLog(b, "1s")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(benchRecord)
		}
	})
}
