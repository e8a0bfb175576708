package breakglass

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event types.
const (
	EventGranted = "break_glass.granted"
	EventRevoked = "break_glass.revoked"
	// EventEnded: the grant ended before its expiry for another cause than
	// revocation: its incident resolved, its policy was removed, a new grant
	// superseded it, or its holder ended it (Event.Cause says which).
	EventEnded = "break_glass.ended"
)

// Event is one notification. It is the generic webhook's JSON body as it
// is, and the source of the Slack message. It holds no secret: no session,
// no token, no webhook URL.
type Event struct {
	// ID is unique per event and the same on every retry of it: receivers
	// deduplicate with it (also sent as X-Gateway-Delivery).
	ID    string    `json:"id"`
	Type  string    `json:"type"`
	Time  time.Time `json:"time"`
	Grant Grant     `json:"grant"`
	// By is who revoked the grant (EventRevoked), or its holder when they
	// ended it (EventEnded, cause ended-by-holder).
	By string `json:"by,omitempty"`
	// Cause is why the grant ended early: revoked, incident-resolved,
	// policy-removed, superseded, ended-by-holder.
	Cause string `json:"cause,omitempty"`
}

// NotifyFailure reports one failed delivery attempt. Final means no more
// attempts follow: the notification is lost.
type NotifyFailure struct {
	Target  string // the target's name in the configuration, never its URL
	Type    string // slack | webhook
	Event   string // the event type
	EventID string
	GrantID string
	Attempt int
	Final   bool
	Status  int // HTTP status; 0 when no response arrived
	Err     error
}

// LogValue shows every field; none is secret.
func (f NotifyFailure) LogValue() slog.Value {
	errText := ""
	if f.Err != nil {
		errText = f.Err.Error()
	}
	return slog.GroupValue(
		slog.String("target", f.Target), slog.String("type", f.Type), slog.String("event", f.Event),
		slog.String("event_id", f.EventID), slog.String("grant", f.GrantID), slog.Int("attempt", f.Attempt),
		slog.Bool("final", f.Final), slog.Int("status", f.Status), slog.String("error", errText),
	)
}

// ErrQueueFull: a target's queue was full and the notification was dropped.
var ErrQueueFull = errors.New("breakglass: notification queue full")

// errClosing: the service was closed before the notification went out.
var errClosing = errors.New("breakglass: closed before delivery")

// Headers the notifier sets.
const (
	headerDelivery  = "X-Gateway-Delivery"
	headerTimestamp = "X-Gateway-Timestamp"
	headerSignature = "X-Gateway-Signature"
	userAgent       = "access-gateway-breakglass/1"
)

// queueSize bounds each target's pending notifications.
const queueSize = 256

type notifier struct {
	targets   []*target
	client    *http.Client
	retry     RetryConfig
	after     func(time.Duration) <-chan time.Time
	now       func() time.Time
	onFailure func(NotifyFailure)
	log       *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

type target struct {
	name  string
	cfg   NotifyTarget
	queue chan Event
}

func newNotifier(cfg Config, client *http.Client, opts Options, now func() time.Time, log *slog.Logger) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{
		client: client, retry: cfg.NotifyRetry, after: opts.After, now: now,
		onFailure: opts.OnNotifyFailure, log: log, ctx: ctx, cancel: cancel,
	}
	if n.after == nil {
		n.after = time.After
	}
	for _, name := range sortedKeys(cfg.Notifications) {
		t := &target{name: name, cfg: cfg.Notifications[name], queue: make(chan Event, queueSize)}
		n.targets = append(n.targets, t)
		n.wg.Add(1)
		go n.run(t)
	}
	return n
}

// send queues ev for the named targets (all when names is empty). It never
// blocks.
func (n *notifier) send(ev Event, names []string) {
	type drop struct {
		t   *target
		err error
	}
	var drops []drop
	n.mu.Lock()
	for _, t := range n.targets {
		if len(names) > 0 && !slices.Contains(names, t.name) {
			continue
		}
		if n.closed {
			drops = append(drops, drop{t, errClosing})
			continue
		}
		select {
		case t.queue <- ev:
		default:
			drops = append(drops, drop{t, ErrQueueFull})
		}
	}
	n.mu.Unlock()
	for _, d := range drops {
		n.report(d.t, ev, 0, true, 0, d.err)
	}
}

// close stops accepting notifications, gives the queued ones until ctx is
// done to go out, then abandons the rest (each reported as a final
// failure).
func (n *notifier) close(ctx context.Context) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	for _, t := range n.targets {
		close(t.queue)
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
}

func (n *notifier) run(t *target) {
	defer n.wg.Done()
	for ev := range t.queue {
		n.deliver(t, ev)
	}
}

func (n *notifier) report(t *target, ev Event, attempt int, final bool, status int, err error) {
	f := NotifyFailure{
		Target: t.name, Type: t.cfg.Type, Event: ev.Type, EventID: ev.ID, GrantID: ev.Grant.ID,
		Attempt: attempt, Final: final, Status: status, Err: err,
	}
	n.log.Warn("break-glass notification failed", "failure", f)
	if n.onFailure != nil {
		n.onFailure(f)
	}
}

// deliver tries one event on one target until it is accepted, the attempts
// run out, the target refuses it for good (a 4xx other than 408, 425 and
// 429), or the notifier is closed.
func (n *notifier) deliver(t *target, ev Event) {
	var body []byte
	var err error
	switch t.cfg.Type {
	case TargetSlack:
		body, err = slackPayload(ev)
	default:
		body, err = json.Marshal(ev)
	}
	if err != nil {
		n.report(t, ev, 0, true, 0, fmt.Errorf("encode: %w", err))
		return
	}
	for attempt := 1; ; attempt++ {
		if n.ctx.Err() != nil {
			n.report(t, ev, attempt, true, 0, errClosing)
			return
		}
		status, retryAfter, err := n.post(t, ev, body)
		if err == nil {
			return
		}
		final := attempt >= n.retry.Attempts || !retryable(status)
		n.report(t, ev, attempt, final, status, err)
		if final {
			return
		}
		wait := backoff(n.retry, attempt)
		if retryAfter > wait && retryAfter <= n.retry.Max {
			wait = retryAfter
		}
		select {
		case <-n.after(wait):
		case <-n.ctx.Done():
			n.report(t, ev, attempt+1, true, 0, errClosing)
			return
		}
	}
}

// backoff is the wait after failed attempt n (1-based): Initial·2^(n-1),
// at most Max.
func backoff(r RetryConfig, n int) time.Duration {
	d := r.Initial
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

func retryable(status int) bool {
	switch {
	case status == 0, status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests, status >= 500:
		return true
	}
	return false
}

// post makes one attempt. It returns the status (0 without a response),
// the Retry-After the target asked for, and an error unless the target
// answered 2xx. Errors never contain the target's URL.
func (n *notifier) post(t *target, ev Event, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(n.ctx, t.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.URL.Reveal(), bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("invalid target URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if t.cfg.Type == TargetWebhook {
		req.Header.Set(headerDelivery, ev.ID)
		if t.cfg.SecretHeader != "" {
			req.Header.Set(t.cfg.SecretHeader, t.cfg.Secret.Reveal())
		}
		if t.cfg.HMACSecret != "" {
			ts := strconv.FormatInt(n.now().Unix(), 10)
			req.Header.Set(headerTimestamp, ts)
			req.Header.Set(headerSignature, "sha256="+Sign(t.cfg.HMACSecret.Reveal(), ts, body))
		}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, 0, stripURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, 0, nil
	}
	var ra time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if v := resp.Header.Get("Retry-After"); v != "" {
			ra = rateLimitWait(resp.Header, n.now())
		}
	}
	return resp.StatusCode, ra, fmt.Errorf("target answered HTTP %d", resp.StatusCode)
}

// Sign returns the hex HMAC-SHA256 of timestamp + "." + body under secret:
// the value of X-Gateway-Signature after "sha256=". Receivers recompute it
// over the raw body and compare in constant time (hmac.Equal), and refuse
// timestamps far from their clock.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// slackPayload is a Slack-compatible incoming-webhook message: "text" (the
// fallback shown in notifications) and one mrkdwn section block with the
// same text. Every value from users or providers is escaped (&, <, >), so a
// reason cannot mention @channel or forge a link.
func slackPayload(ev Event) ([]byte, error) {
	text := slackText(ev)
	msg := map[string]any{
		"text":         text,
		"unfurl_links": false,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}},
			map[string]any{"type": "context", "elements": []any{
				map[string]any{"type": "mrkdwn", "text": "grant " + slackEscape(ev.Grant.ID) + " · policy " + slackEscape(ev.Grant.Policy)},
			}},
		},
	}
	return json.Marshal(msg)
}

func slackText(ev Event) string {
	g := ev.Grant
	var b strings.Builder
	incident := slackEscape(g.Incident.ID)
	if g.Incident.URL != "" && checkLinkURL(g.Incident.URL) == nil {
		incident = "<" + slackEscape(g.Incident.URL) + "|" + incident + ">"
	}
	switch ev.Type {
	case EventGranted:
		fmt.Fprintf(&b, ":rotating_light: *Break-glass*: %s broke glass on route *%s* until %s (lifts %s).\n",
			slackEscape(g.User), slackEscape(g.Route), g.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"),
			slackEscape(strings.Join(g.Lifts, ", ")))
		fmt.Fprintf(&b, "Incident %s", incident)
		if g.Incident.Title != "" {
			fmt.Fprintf(&b, ": %s", slackEscape(g.Incident.Title))
		}
		fmt.Fprintf(&b, " (%s)\nReason: %s", slackEscape(g.Incident.Status), slackEscape(g.Reason))
	case EventRevoked:
		fmt.Fprintf(&b, ":lock: *Break-glass revoked*: the grant of %s on route *%s* (incident %s) was revoked by %s.",
			slackEscape(g.User), slackEscape(g.Route), incident, slackEscape(ev.By))
	default:
		why := "incident " + incident + " is no longer active"
		switch ev.Cause {
		case CausePolicyRemoved:
			why = "its policy " + slackEscape(g.Policy) + " was removed from the configuration"
		case CauseSuperseded:
			why = "a new grant of the same session replaced it"
		case CauseEndedByHolder:
			why = "its holder ended it before its expiry"
		}
		fmt.Fprintf(&b, ":white_check_mark: *Break-glass ended*: the grant of %s on route *%s* ended: %s.",
			slackEscape(g.User), slackEscape(g.Route), why)
	}
	return b.String()
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackEscape escapes the three characters Slack's message format reserves.
func slackEscape(s string) string { return slackEscaper.Replace(s) }
