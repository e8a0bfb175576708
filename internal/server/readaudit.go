package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"

	"github.com/accessgateway/gateway/internal/audit"
)

// readAudit returns the requirement kinds' reader of this replica's audit
// records: the audit file, streamed once per call; or, when records go to
// standard output, the last few thousand records the log keeps in memory.
// Only the lines that contain one of anyOf are decoded.
func readAudit(path string, log *audit.Log) func(ctx context.Context, anyOf []string, each func(*audit.Record)) error {
	if path == "" || path == "-" {
		return func(_ context.Context, anyOf []string, each func(*audit.Record)) error {
			log.Recent(func(line []byte) {
				if matches(line, anyOf) {
					var rec audit.Record
					if json.Unmarshal(line, &rec) == nil {
						each(&rec)
					}
				}
			})
			return nil
		}
	}
	return func(ctx context.Context, anyOf []string, each func(*audit.Record)) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		needles := make([][]byte, len(anyOf))
		for i, a := range anyOf {
			needles[i] = []byte(a)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 0; sc.Scan(); n++ {
			if n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			line := sc.Bytes()
			match := len(needles) == 0
			for _, nd := range needles {
				if bytes.Contains(line, nd) {
					match = true
					break
				}
			}
			if !match {
				continue
			}
			var rec audit.Record
			if json.Unmarshal(line, &rec) == nil {
				each(&rec)
			}
		}
		return sc.Err()
	}
}

func matches(line []byte, anyOf []string) bool {
	if len(anyOf) == 0 {
		return true
	}
	for _, a := range anyOf {
		if bytes.Contains(line, []byte(a)) {
			return true
		}
	}
	return false
}
