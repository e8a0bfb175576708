package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// statusPath is polled by the device page (a reserved path).
const statusPath = "/.gateway/device/status"

// Page implements requirement.Pager: the page for device reasons offers a
// one-time code bound to this browser session and the exact agent commands;
// it polls until the agent binds the device, then reloads.
func (k *kindService) Page(ctx context.Context, reason policy.Reason, _ policy.Requirement, _ any, r *requirement.Request, _ requirement.Host) (requirement.Page, bool) {
	if k.svc == nil {
		return requirement.Page{}, false
	}
	tool := r.Title
	pd := requirement.Page{Title: "Verify your device", Reason: reason, Template: "device.html"}
	switch reason {
	case ReasonRevoked:
		pd.Message = tool + " is only for company devices in good standing, and this device has been revoked."
		pd.Next = "Contact IT support: the device must be re-registered before it can be used again."
		return pd, true
	case ReasonOwnerMismatch:
		pd.Message = "The device you are using is registered to another person."
		pd.Next = "Use your own company device, or ask IT to update the inventory."
		return pd, true
	case ReasonTrustInsufficient:
		pd.Message = tool + " needs a device that proved itself with its TPM."
		pd.Next = "Verify your device with the gateway agent, or contact IT support."
		return pd, true
	case ReasonNotEnrolled:
		pd.Message = "This device is not (or no longer) enrolled with the gateway."
	case ReasonStale:
		pd.Message = "Your device's last check is too old for " + tool + "."
	case ReasonPCRMismatch:
		pd.Message = "Your device's boot state does not match the company policy (for example Secure Boot is off)."
		pd.Next = "Restart the device with Secure Boot on, then verify again; if it persists, contact IT support."
	default:
		pd.Message = tool + " can only be used from a company device that proves itself with its TPM."
	}
	if r.SessionID == "" {
		pd.Next = "Sign in with a browser to get a verification code."
		return pd, true
	}
	if !k.allowPage(ctx, r.SessionID, r.Session.Email) {
		pd.Status, pd.Title, pd.Next = http.StatusTooManyRequests, pageLimitedTitle, pageLimitedNext
		return pd, true
	}
	extra, err := k.codes(ctx, r.SessionID, r.Session.Email, tool)
	if err != nil {
		k.env.Logger.Error("device: cannot create codes", "err", err, "request_id", r.ID)
		pd.Next = "The gateway could not create a verification code right now; reload this page in a minute."
		return pd, true
	}
	pd.Extra = extra
	return pd, true
}

// The page shown instead of the device page's codes when a session has
// loaded it too often (pageLimiter).
const (
	pageLimitedTitle = "Too many device pages"
	pageLimitedNext  = "Wait a few seconds, then reload this page. The codes a page you already have open shows still work."
)

// ActionPage is the audit action of a device page refused by the page
// limit (the page's own loads are not audited; the decision that showed
// it is).
const ActionPage = "device.page"

// allowPage reports whether the session may load one more device page (one
// that reads or makes its one-time codes); a refusal is audited.
func (k *kindService) allowPage(ctx context.Context, sessionID, email string) bool {
	now := time.Now
	if k.env.Now != nil {
		now = k.env.Now
	}
	if k.pages == nil || k.pages.allow(sessionID, now()) {
		return true
	}
	k.audit(ctx, AuditEvent{Time: now(), Action: ActionPage, Outcome: OutcomeDenied, Email: email,
		Detail: fmt.Sprintf("rate limited: this browser session loaded the device page more than %d times at once or %g a second; no codes shown", PageBurst, PageRate)})
	return false
}

// codes makes the page's one-time codes, naming the tool (shown by the
// agent before it binds; "" on the standalone device page).
func (k *kindService) codes(ctx context.Context, sessionID, email, tool string) (map[string]any, error) {
	gw := k.env.PublicURL
	verify, exp, err := k.svc.IssueCode(ctx, CodeRequest{Purpose: PurposeVerify, SessionID: sessionID, Email: email, Tool: tool})
	if err != nil {
		return nil, err
	}
	enroll, _, err := k.svc.IssueCode(ctx, CodeRequest{Purpose: PurposeEnroll, SessionID: sessionID, Email: email, Tool: tool})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"VerifyCode":    verify,
		"VerifyCommand": k.agentCommand(gw, PurposeVerify, verify),
		"EnrollCode":    enroll,
		"EnrollCommand": k.agentCommand(gw, PurposeEnroll, enroll),
		"Expires":       fmt.Sprintf("%d minutes", max(1, int(exp.Sub(k.env.Now()).Round(time.Minute)/time.Minute))),
		"StatusURL":     statusPath + "?code=" + url.QueryEscape(verify),
		// Enrolling with the enroll code binds the session too.
		"EnrollStatusURL": statusPath + "?code=" + url.QueryEscape(enroll),
	}, nil
}

// agentCommand is the exact command the page shows.
func (k *kindService) agentCommand(gw, purpose, code string) string {
	if k.env.AgentCommand == "" {
		return AgentCommand(gw, purpose, code)
	}
	return k.env.AgentCommand + " --gateway " + gw + " " + purpose + " " + code
}

// Mount implements requirement.Mounter: the device page, its status poll,
// and the agent's JSON API (under /.gateway/api/device/).
func (k *kindService) Mount(m *mux.Router, h requirement.Host) {
	m.HandleFunc("/device", func(w http.ResponseWriter, r *http.Request) { k.standalone(w, r, h) }).Methods(http.MethodGet)
	m.HandleFunc("/device/status", func(w http.ResponseWriter, r *http.Request) { k.status(w, r, h) }).Methods(http.MethodGet)
	m.PathPrefix("/api/device/").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k.svc == nil {
			writeError(w, http.StatusNotFound, "device-trust-off", "this gateway does not verify devices")
			return
		}
		k.svc.Handler().ServeHTTP(w, r)
	})
}

// standalone is the device page reachable directly: enrollment and
// verification codes for the signed-in user.
func (k *kindService) standalone(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	if k.svc == nil {
		h.Render(w, r, requirement.Page{Status: http.StatusNotFound, Title: "Device trust is off", Message: "This gateway does not verify devices."})
		return
	}
	sess, sid, err := h.Session(r)
	if err != nil {
		h.Render(w, r, requirement.SessionUnavailable(err))
		return
	}
	if sess == nil {
		h.Render(w, r, requirement.Page{Status: http.StatusUnauthorized, Title: "Sign in first", Message: "Open any tool behind this gateway to sign in, then come back to this page.", Reason: policy.ReasonSignInRequired})
		return
	}
	if !k.allowPage(r.Context(), sid, sess.Email) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(1/PageRate))))
		h.Render(w, r, requirement.Page{Status: http.StatusTooManyRequests, Title: pageLimitedTitle,
			Message: "This browser session opened the device page too often in a short time, so this page shows no codes.", Next: pageLimitedNext})
		return
	}
	extra, err := k.codes(r.Context(), sid, sess.Email, "")
	if err != nil {
		h.Render(w, r, requirement.Page{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable", Message: "The gateway could not create a device code.", Next: "Reload this page in a minute.", Reason: policy.ReasonEvidenceError})
		return
	}
	h.Render(w, r, requirement.Page{Status: http.StatusOK, Template: "device.html", Title: "Your device", Message: "Enroll this laptop once, then verify it to use tools that require a company device.", Extra: extra})
}

// status answers the page's polling: has the agent used the code? Only the
// browser session the code was made for can ask.
func (k *kindService) status(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	w.Header().Set("Cache-Control", "no-store")
	if k.svc == nil {
		writeError(w, http.StatusNotFound, "device-trust-off", "this gateway does not verify devices")
		return
	}
	sess, sid, err := h.Session(r)
	if err != nil {
		p := requirement.SessionUnavailable(err)
		writeError(w, p.Status, string(p.Reason), p.Message+" "+p.Next)
		return
	}
	if sess == nil {
		writeError(w, http.StatusUnauthorized, string(policy.ReasonSignInRequired), "sign in first")
		return
	}
	st, err := k.svc.CodeStatus(r.Context(), sid, r.URL.Query().Get("code"))
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			writeError(w, http.StatusNotFound, string(de.Reason), de.Msg)
			return
		}
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the gateway could not read the code's state")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// writeError answers the page's JSON endpoints in the gateway's error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}
