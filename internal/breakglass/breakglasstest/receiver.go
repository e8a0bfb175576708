package breakglasstest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Receiver is a webhook endpoint (Slack-compatible or generic) that fails
// the first FailFirst deliveries with Status and accepts the rest,
// answering 200 "ok" like Slack's incoming webhooks. Every delivery,
// failed or not, is recorded and passed to the Deliveries channel.
type Receiver struct {
	*httptest.Server
	// Deliveries receives every request, in order (buffered: 1024).
	Deliveries chan Delivery

	mu        sync.Mutex
	failFirst int
	status    int
	header    http.Header
	count     int
}

// Delivery is one request a Receiver got.
type Delivery struct {
	Attempt int // 1-based count of requests to this receiver
	Header  http.Header
	Body    []byte
	// Accepted is whether the receiver answered 200.
	Accepted bool
}

// NewReceiver starts a receiver that answers the first failFirst requests
// with status (and header), then 200. It is closed when the test ends.
func NewReceiver(t testing.TB, failFirst, status int, header http.Header) *Receiver {
	t.Helper()
	rc := &Receiver{Deliveries: make(chan Delivery, 1024), failFirst: failFirst, status: status, header: header}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rc.mu.Lock()
	rc.count++
	d := Delivery{Attempt: rc.count, Header: r.Header.Clone(), Body: body, Accepted: rc.count > rc.failFirst}
	rc.mu.Unlock()
	if r.Method != http.MethodPost {
		d.Accepted = false
		w.WriteHeader(http.StatusMethodNotAllowed)
	} else if !d.Accepted {
		for k, v := range rc.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rc.status)
		_, _ = w.Write([]byte("failure"))
	} else {
		_, _ = w.Write([]byte("ok"))
	}
	rc.Deliveries <- d
}

// Next returns the next delivery, failing the test if none arrives within
// timeout.
func (rc *Receiver) Next(t testing.TB, timeout time.Duration) Delivery {
	t.Helper()
	select {
	case d := <-rc.Deliveries:
		return d
	case <-time.After(timeout):
		t.Fatalf("breakglasstest: expected a delivery within %s, got none", timeout)
		return Delivery{}
	}
}

// Count returns the number of requests received.
func (rc *Receiver) Count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.count
}
