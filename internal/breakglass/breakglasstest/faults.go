package breakglasstest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// faults are the failures a fake serves before its normal answers, in the
// order they were queued, and the log of requests it received.
type faults struct {
	fmu      sync.Mutex
	queue    []fault
	requests []string
}

type fault struct {
	status int
	header http.Header
	body   string
	hang   bool
}

// FailNext makes the next n requests answer status with a short JSON body.
func (f *faults) FailNext(n, status int) {
	f.RespondNext(n, status, nil, `{"message":"injected failure"}`)
}

// RespondNext makes the next n requests answer status, header and body as
// given (garbage, oversized or truncated bodies, odd headers).
func (f *faults) RespondNext(n, status int, header http.Header, body string) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	for range n {
		f.queue = append(f.queue, fault{status: status, header: header, body: body})
	}
}

// RateLimit makes the next n requests answer 429 Too Many Requests with
// Retry-After in seconds (none when retryAfter is 0).
func (f *faults) RateLimit(n int, retryAfter time.Duration) {
	h := http.Header{}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	}
	f.RespondNext(n, http.StatusTooManyRequests, h, `{"message":"Too many requests"}`)
}

// Hang makes the next n requests wait until the client gives up (its
// context is cancelled or its timeout fires), answering nothing.
func (f *faults) Hang(n int) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	for range n {
		f.queue = append(f.queue, fault{hang: true})
	}
}

// Requests returns the requests received so far, as "METHOD /path?query".
func (f *faults) Requests() []string {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	return append([]string(nil), f.requests...)
}

// fault logs r and serves the next queued fault, if any.
func (f *faults) fault(w http.ResponseWriter, r *http.Request) bool {
	f.fmu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if len(f.queue) == 0 {
		f.fmu.Unlock()
		return false
	}
	ft := f.queue[0]
	f.queue = f.queue[1:]
	f.fmu.Unlock()
	if ft.hang {
		<-r.Context().Done()
		return true
	}
	for k, v := range ft.header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(ft.status)
	_, _ = w.Write([]byte(ft.body))
	return true
}
