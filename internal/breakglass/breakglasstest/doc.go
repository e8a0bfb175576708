// Package breakglasstest provides fakes of the systems break-glass talks to,
// as httptest servers speaking their documented JSON: PagerDuty REST API v2
// (users, on-calls, incidents), Opsgenie (Who is On Call API v2, Alert API
// v2, Incident API v1), and a webhook Receiver for notifications. Each fake
// can fail on demand (FailNext, RespondNext, RateLimit with Retry-After,
// Hang) and records the requests it got.
//
//	func TestBreakGlass(t *testing.T) {
//		pd := breakglasstest.NewPagerDuty(t, "pd-token")
//		pd.AddUser("PUSER01", "Olivia Oncall", "olivia@corp.example")
//		pd.SetOnCall(breakglasstest.OnCall{UserID: "PUSER01", EscalationPolicyID: "PEP001"})
//		pd.SetIncident("PINC001", 42, "triggered", "Payments down", "PEP001")
//		hook := breakglasstest.NewReceiver(t, 2, http.StatusBadGateway, nil) // fails twice, then accepts
//		cfg := breakglass.Config{
//			Providers: map[string]breakglass.ProviderConfig{
//				"pd": {Type: "pagerduty", BaseURL: pd.URL, Token: "pd-token"},
//			},
//			Notifications: map[string]breakglass.NotifyTarget{
//				"slack": {Type: "slack", URL: breakglass.Secret(hook.URL)},
//			},
//			...
//		}
//		...
//		d := hook.Next(t, 5*time.Second) // the first (failed) delivery
//	}
//
// The package does not import breakglass, so that package's own tests can
// use it.
package breakglasstest
