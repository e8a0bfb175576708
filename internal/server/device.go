package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/policy"
)

// deviceStatusPath is polled by the device page (a reserved path).
const deviceStatusPath = "/.gateway/device/status"

// deviceEvidence gathers the device evidence of a request to a route that
// requires a device: an mTLS client certificate from the device CA (directly,
// or from a trusted proxy's header), else the device bound to the browser
// session. A device the device system judged unfit becomes a Problem; an
// error means the evidence could not be gathered (deny, fail closed).
func (s *Server) deviceEvidence(r *http.Request, q *request) (*policy.DeviceEvidence, error) {
	svc := q.rt.devices
	if svc == nil {
		return nil, errors.New("server: route requires a device but device trust is not configured")
	}
	var ev *device.Evidence
	var err error
	if cert := s.clientCert(r, q); cert != nil {
		ev, err = svc.CertEvidence(r.Context(), cert)
	} else if q.sessionID != "" {
		ev, err = svc.SessionEvidence(r.Context(), q.sessionID)
	} else {
		return nil, nil
	}
	var de *device.Error
	switch {
	case errors.As(err, &de):
		if de.Reason == device.ReasonNotVerified {
			return nil, nil
		}
		out := &policy.DeviceEvidence{Problem: policy.Reason(de.Reason)}
		if ev != nil {
			out.ID = ev.DeviceID
		}
		return out, nil
	case err != nil:
		return nil, err
	}
	if ev.Owner != "" && q.session != nil && !strings.EqualFold(ev.Owner, q.session.Email) {
		return &policy.DeviceEvidence{ID: ev.DeviceID, Problem: policy.ReasonDeviceOwner}, nil
	}
	return &policy.DeviceEvidence{ID: ev.DeviceID, Trust: ev.Trust, AttestedAt: ev.AttestedAt}, nil
}

// clientCert returns the client certificate of the TLS connection, or the
// one a trusted proxy passed in the configured header (never from others).
func (s *Server) clientCert(r *http.Request, q *request) *x509.Certificate {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates[0]
	}
	h := q.rt.cfg.Listen.ClientCertHeader
	if h == "" || !q.client.TrustedPeer {
		return nil
	}
	raw := r.Header.Get(h)
	if raw == "" || len(raw) > 16<<10 {
		return nil
	}
	if u, err := url.QueryUnescape(raw); err == nil {
		raw = u
	}
	b, _ := pem.Decode([]byte(raw))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// devicePage fills the page for device reasons: a one-time code bound to
// this browser session and the exact agent commands; the page polls until
// the agent binds the device, then reloads.
func (s *Server) devicePage(r *http.Request, e *routeEntry, reason policy.Reason) (pageData, bool) {
	q := reqFrom(r.Context())
	if q.rt.devices == nil || !strings.HasPrefix(string(reason), "device-") {
		return pageData{}, false
	}
	pd := pageData{Title: "Verify your device", Reason: string(reason)}
	switch reason {
	case policy.ReasonDeviceRevoked:
		pd.Message = e.cfg.Name + " is only for company devices in good standing, and this device has been revoked."
		pd.Next = "Contact IT support: the device must be re-registered before it can be used again."
		return pd, true
	case policy.ReasonDeviceOwner:
		pd.Message = "The device bound to this browser is registered to another person."
		pd.Next = "Use your own company device, or ask IT to update the inventory."
		return pd, true
	case policy.ReasonDeviceNotEnroll:
		pd.Message = "This device is not (or no longer) enrolled with the gateway."
	case policy.ReasonDeviceStale:
		pd.Message = "Your device's last check is too old for " + e.cfg.Name + "."
	case policy.ReasonDevicePCR:
		pd.Message = "Your device's boot state does not match the company policy (for example Secure Boot is off)."
		pd.Next = "Restart the device with Secure Boot on, then verify again; if it persists, contact IT support."
	default:
		pd.Message = e.cfg.Name + " can only be used from a company device that proves itself with its TPM."
	}
	if q.sessionID == "" {
		pd.Next = "Sign in with a browser to get a verification code."
		return pd, true
	}
	extra, err := s.deviceCodes(r.Context(), q)
	if err != nil {
		s.logger.Error("device: cannot create codes", "err", err, "request_id", q.id)
		pd.Next = "The gateway could not create a verification code right now; reload this page in a minute."
		return pd, true
	}
	pd.Extra = extra
	return pd, true
}

func (s *Server) deviceCodes(ctx context.Context, q *request) (map[string]any, error) {
	svc := q.rt.devices
	gw := q.rt.cfg.PublicURL
	verify, exp, err := svc.NewCode(ctx, device.PurposeVerify, q.sessionID, q.session.Email)
	if err != nil {
		return nil, err
	}
	enroll, _, err := svc.NewCode(ctx, device.PurposeEnroll, q.sessionID, q.session.Email)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"VerifyCode":    verify,
		"VerifyCommand": s.agentCommand(gw, device.PurposeVerify, verify),
		"EnrollCode":    enroll,
		"EnrollCommand": s.agentCommand(gw, device.PurposeEnroll, enroll),
		"Expires":       fmt.Sprintf("%d minutes", max(1, int(exp.Sub(s.now()).Round(time.Minute)/time.Minute))),
		"StatusURL":     deviceStatusPath + "?code=" + url.QueryEscape(verify),
	}, nil
}

// agentCommand is the exact command the page shows.
func (s *Server) agentCommand(gw, purpose, code string) string {
	if s.opts.AgentCommand == "" {
		return device.AgentCommand(gw, purpose, code)
	}
	return s.opts.AgentCommand + " --gateway " + gw + " " + purpose + " " + code
}

// deviceStandalone is the device page reachable directly: enrollment and
// verification codes for the signed-in user.
func (s *Server) deviceStandalone(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	if q.rt.devices == nil {
		s.page(w, r, http.StatusNotFound, pageData{Title: "Device trust is off", Message: "This gateway does not verify devices."})
		return
	}
	if err := s.loadSession(r, q); err != nil {
		s.storeUnavailable(w, r, err)
		return
	}
	if q.session == nil {
		s.page(w, r, http.StatusUnauthorized, pageData{Title: "Sign in first", Message: "Open any tool behind this gateway to sign in, then come back to this page.", Reason: string(policy.ReasonSignInRequired)})
		return
	}
	extra, err := s.deviceCodes(r.Context(), q)
	if err != nil {
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Temporarily unavailable", Message: "The gateway could not create a device code.", Next: "Reload this page in a minute."})
		return
	}
	s.pageNamed(w, r, http.StatusOK, "device.html", pageData{Title: "Your device", Message: "Enroll this laptop once, then verify it to use tools that require a company device.", Extra: extra})
}

// deviceStatus answers the page's polling: has the agent used the code?
// Only the browser session the code was made for can ask.
func (s *Server) deviceStatus(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	if q.rt.devices == nil {
		writeJSONError(w, http.StatusNotFound, "device-trust-off", "this gateway does not verify devices")
		return
	}
	if err := s.loadSession(r, q); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, string(policy.ReasonEvidenceError), "the session store is not answering; try again in a minute")
		return
	}
	if q.session == nil {
		writeJSONError(w, http.StatusUnauthorized, string(policy.ReasonSignInRequired), "sign in first")
		return
	}
	st, err := q.rt.devices.CodeStatus(r.Context(), q.sessionID, r.URL.Query().Get("code"))
	if err != nil {
		var de *device.Error
		if errors.As(err, &de) {
			writeJSONError(w, http.StatusNotFound, string(de.Reason), de.Msg)
			return
		}
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the gateway could not read the code's state")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// deviceAPI serves the agent's JSON API.
func (s *Server) deviceAPI(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	if q.rt.devices == nil {
		writeJSONError(w, http.StatusNotFound, "device-trust-off", "this gateway does not verify devices")
		return
	}
	if !s.deviceLimit.allow(q.client.ClientIP) {
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusTooManyRequests, "rate-limited", "too many device requests from this address; wait a few seconds and try again")
		return
	}
	q.rt.devices.Handler().ServeHTTP(w, r)
}

// deviceAudit writes device events to the audit log.
func (s *Server) deviceAudit(ctx context.Context, e device.AuditEvent) {
	rec := audit.Record{Time: e.Time, Kind: "device", Event: e.Action, Decision: e.Outcome,
		DeviceID: e.DeviceID, User: e.Email, Detail: e.Detail}
	if e.Reason != "" {
		rec.Reasons = []string{string(e.Reason)}
	}
	if q := reqFrom(ctx); q != nil {
		rec.RequestID, rec.Host, rec.Path, rec.SourceIP = q.id, q.host, q.path, q.client.ClientIP.String()
	}
	if e.Reboot {
		rec.Detail = strings.TrimSpace(rec.Detail + " reboot noted")
	}
	s.audit.Log(rec)
}
