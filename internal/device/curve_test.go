package device_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/store"
)

func eccPoint(x, y []byte) tpm2.TPMUPublicID {
	return tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: x}, Y: tpm2.TPM2BECCParameter{Buffer: y}})
}

// An ECC EK or AK whose point is not on P-256 (coordinates too long, or
// simply off the curve) is a bad request (400) to enroll/start and to
// attest/start, answered like any other, before any code is looked at.
func TestAgentAPIRefusesECCKeysOffTheCurve(t *testing.T) {
	inv, err := device.BuildInventory(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	svc, err := device.NewService(device.Config{}, st, nil, device.Options{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	goodEK := tpm2.ECCEKTemplate
	goodEK.Unique = eccPoint(key.X.FillBytes(make([]byte, 32)), key.Y.FillBytes(make([]byte, 32)))
	goodAK := agent.AKTemplate
	goodAK.Unique = eccPoint(key.X.FillBytes(make([]byte, 32)), key.Y.FillBytes(make([]byte, 32)))
	long := eccPoint(bytes.Repeat([]byte{0xff}, 33), bytes.Repeat([]byte{0xff}, 32))
	off := eccPoint(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	with := func(p tpm2.TPMTPublic, u tpm2.TPMUPublicID) []byte { p.Unique = u; return tpm2.Marshal(&p) }

	for _, tc := range []struct {
		name, path string
		req        any
	}{
		{"EK coordinate longer than the curve", "enroll/start", device.EnrollStartRequest{Code: "ABCDE-FGHJK", EKPublic: with(goodEK, long), AKPublic: tpm2.Marshal(&goodAK)}},
		{"EK point off the curve", "enroll/start", device.EnrollStartRequest{Code: "ABCDE-FGHJK", EKPublic: with(goodEK, off), AKPublic: tpm2.Marshal(&goodAK)}},
		{"AK point off the curve", "enroll/start", device.EnrollStartRequest{Code: "ABCDE-FGHJK", EKPublic: tpm2.Marshal(&goodEK), AKPublic: with(goodAK, off)}},
		{"AK coordinate longer than the curve", "attest/start", device.AttestStartRequest{Purpose: device.AttestCheck, AKPublic: with(goodAK, long)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(tc.req)
			rsp, err := srv.Client().Post(srv.URL+device.APIPrefix+"/"+tc.path, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer rsp.Body.Close()
			var e device.ErrorResponse
			_ = json.NewDecoder(rsp.Body).Decode(&e)
			if rsp.StatusCode != http.StatusBadRequest {
				t.Fatalf("expected 400, got %d %+v", rsp.StatusCode, e)
			}
		})
	}
}
