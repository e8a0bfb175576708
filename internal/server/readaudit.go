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
// file (nil when records go to standard output). It streams the file once
// per call, decoding only the lines that contain one of anyOf.
func readAudit(path string) func(ctx context.Context, anyOf []string, each func(*audit.Record)) error {
	if path == "" || path == "-" {
		return nil
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
