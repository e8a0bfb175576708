package device_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
)

// An attest/start whose AK public area parses but is not an AK (a name
// algorithm no TPM names keys with, a decrypt key, another curve) is a bad
// request: 400, and the code it carries is not used up, its page shows it
// pending and the session keeps its device.
func TestAttestStartRefusesANonAKBeforeUsingTheCode(t *testing.T) {
	e := newEnv(t, setup{})
	e.enroll()
	good := mustEKPub(t, e.id.AKPublic)
	for name, edit := range map[string]func(p *tpm2.TPMTPublic){
		"null name algorithm": func(p *tpm2.TPMTPublic) { p.NameAlg = tpm2.TPMAlgNull },
		"decrypt key":         func(p *tpm2.TPMTPublic) { p.ObjectAttributes.Decrypt = true },
		"not restricted":      func(p *tpm2.TPMTPublic) { p.ObjectAttributes.Restricted = false },
	} {
		t.Run(name, func(t *testing.T) {
			p := good
			edit(&p)
			code := e.code(device.PurposeVerify, session, alice)
			body, _ := json.Marshal(device.AttestStartRequest{Purpose: device.AttestVerify, Code: code, AKPublic: tpm2.Marshal(p)})
			rsp, err := e.srv.Client().Post(e.srv.URL+device.APIPrefix+"/attest/start", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			rsp.Body.Close()
			if rsp.StatusCode != http.StatusBadRequest {
				t.Fatalf("expected 400, got %d", rsp.StatusCode)
			}
			if st, _ := e.svc.CodeStatus(e.ctx, session, code); st.State != device.CodePending {
				t.Fatalf("code after a bad request: expected pending, got %+v", st)
			}
			if _, err := e.svc.SessionEvidence(e.ctx, session); err != nil {
				t.Fatalf("session evidence after a bad request: %v", err)
			}
			e.clock.Add(time.Second)
			if _, err := e.client.Verify(e.ctx, code); err != nil {
				t.Fatalf("the code after a bad request: %v", err)
			}
		})
	}
}
