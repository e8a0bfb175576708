package main

import (
	"testing"
	"time"
)

// wrk 4.1.0's report with --latency, as Debian's wrk prints it.
const wrkOut = `Running 10s test @ http://127.0.0.1:41801/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.71ms    6.12ms  97.47ms   81.24%
    Req/Sec     1.93k   310.68     2.77k    70.00%
  Latency Distribution
     50%    7.56ms
     75%   10.81ms
     90%   15.60ms
     99%   29.52ms
  38467 requests in 10.01s, 5.06MB read
Requests/sec:   3843.06
Transfer/sec:    517.60KB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr bool
	}{
		{name: "clean run", out: wrkOut,
			want: wrkResult{Requests: 38467, RPS: 3843.06, P50: 7560 * time.Microsecond, P99: 29520 * time.Microsecond}},
		{name: "errors and non-2xx are counted", out: wrkOut + "  Socket errors: connect 0, read 2, write 1, timeout 3\n  Non-2xx or 3xx responses: 7\n",
			want: wrkResult{Requests: 38467, RPS: 3843.06, P50: 7560 * time.Microsecond, P99: 29520 * time.Microsecond, Bad: 13}},
		{name: "not a wrk report", out: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("blackbox: expected error %v, got %v", tc.wantErr, err)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("blackbox: expected %+v, got %+v", tc.want, got)
			}
		})
	}
}

func TestParseDur(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"812.00us", 812 * time.Microsecond},
		{"1.23ms", 1230 * time.Microsecond},
		{"2.10s", 2100 * time.Millisecond},
		{"1.00m", time.Minute},
		{"junk", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseDur(tc.in); got != tc.want {
				t.Fatalf("blackbox: expected %v, got %v", tc.want, got)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	s := func(rps ...float64) []sample {
		var out []sample
		for _, r := range rps {
			out = append(out, sample{wrk: wrkResult{RPS: r}})
		}
		return out
	}
	rps := func(x sample) float64 { return x.wrk.RPS }
	tests := []struct {
		name string
		in   []sample
		want float64
	}{
		{"none", nil, 0},
		{"odd", s(3, 1, 2), 2},
		{"even", s(4, 1, 3, 2), 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in, rps); got != tc.want {
				t.Fatalf("blackbox: expected %v, got %v", tc.want, got)
			}
		})
	}
}
