package device

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

func TestVerifyQuote(t *testing.T) {
	ak := newSoftAK(t)
	other := newSoftAK(t)
	nonce := bytes.Repeat([]byte{7}, 32)
	pcrs := []int{0, 7}
	good := quoteOpts{nonce: nonce, pcrs: pcrs, clock: ClockInfo{Clock: 10, ResetCount: 2, Safe: true}}
	tests := []struct {
		name    string
		ak      *softAK // signer; verification is always against ak
		opts    quoteOpts
		mutate  func(*Quote)
		wantErr string
	}{
		{name: "good", opts: good},
		{name: "signed by another key", ak: other, opts: good, wantErr: "bad signature"},
		{name: "another nonce", opts: quoteOpts{nonce: bytes.Repeat([]byte{8}, 32), pcrs: pcrs}, wantErr: "another nonce"},
		{name: "empty nonce", opts: quoteOpts{pcrs: pcrs}, wantErr: "another nonce"},
		{name: "other PCRs", opts: quoteOpts{nonce: nonce, pcrs: []int{0, 1, 7}}, wantErr: "expected a quote over SHA-256 PCRs [0 7]"},
		{name: "SHA-1 bank", opts: quoteOpts{nonce: nonce, pcrs: pcrs, hash: tpm2.TPMAlgSHA1}, wantErr: "SHA-256 PCR bank"},
		{name: "not a quote", opts: quoteOpts{nonce: nonce, pcrs: pcrs, typ: tpm2.TPMSTAttestCertify}, wantErr: "expected attestation type"},
		{name: "digest of other values", opts: quoteOpts{nonce: nonce, pcrs: pcrs, digest: make([]byte, 32)}, wantErr: "do not match the quoted PCR digest"},
		{name: "value changed after quoting", opts: good, mutate: func(q *Quote) { q.PCRs[1].Digest = bytes.Repeat([]byte{1}, 32) }, wantErr: "do not match"},
		{name: "value missing", opts: good, mutate: func(q *Quote) { q.PCRs = q.PCRs[:1] }, wantErr: "missing"},
		{name: "extra value", opts: good, mutate: func(q *Quote) { q.PCRs = append(q.PCRs, PCRValue{Index: 3, Digest: make([]byte, 32)}) }, wantErr: "expected values for PCRs"},
		{name: "duplicate value", opts: good, mutate: func(q *Quote) { q.PCRs = append(q.PCRs, q.PCRs[0]) }, wantErr: "sent twice"},
		{name: "short value", opts: good, mutate: func(q *Quote) { q.PCRs[0].Digest = []byte{1} }, wantErr: "32-byte"},
		{name: "attest flipped", opts: good, mutate: func(q *Quote) { q.Attest[len(q.Attest)-1] ^= 1 }, wantErr: "bad signature"},
		{name: "signature trailing bytes", opts: good, mutate: func(q *Quote) { q.Signature = append(q.Signature, 0) }, wantErr: "TPMT_SIGNATURE of"},
		{name: "no signature", opts: good, mutate: func(q *Quote) { q.Signature = nil }, wantErr: "empty signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := tt.ak
			if signer == nil {
				signer = ak
			}
			q := signer.quote(t, tt.opts)
			if tt.mutate != nil {
				tt.mutate(&q)
			}
			att, err := VerifyQuote(ak.pub, q, nonce, pcrs)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("expected success, got %v", err)
				}
				if att.Clock != tt.opts.clock || len(att.PCRs) != 2 {
					t.Fatalf("attested %+v", att)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("expected error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestCheckClock(t *testing.T) {
	prev := &ClockInfo{Clock: 1000, ResetCount: 5, RestartCount: 2, Safe: true}
	tests := []struct {
		name       string
		prev       *ClockInfo
		cur        ClockInfo
		wantReboot bool
		wantErr    string
	}{
		{name: "first attestation", cur: ClockInfo{Clock: 1, Safe: true}},
		{name: "first attestation, unsafe", cur: ClockInfo{Clock: 1}, wantErr: "not safe"},
		{name: "clock advanced", prev: prev, cur: ClockInfo{Clock: 1001, ResetCount: 5, RestartCount: 2, Safe: true}},
		{name: "clock did not advance", prev: prev, cur: ClockInfo{Clock: 1000, ResetCount: 5, RestartCount: 2, Safe: true}, wantErr: "did not advance"},
		{name: "clock went back", prev: prev, cur: ClockInfo{Clock: 10, ResetCount: 5, RestartCount: 2, Safe: true}, wantErr: "did not advance"},
		{name: "reboot", prev: prev, cur: ClockInfo{Clock: 10, ResetCount: 6, Safe: true}, wantReboot: true},
		{name: "resume", prev: prev, cur: ClockInfo{Clock: 10, ResetCount: 5, RestartCount: 3, Safe: true}},
		{name: "reset count went back", prev: prev, cur: ClockInfo{Clock: 5000, ResetCount: 4, RestartCount: 9, Safe: true}, wantErr: "reset count went back"},
		{name: "restart count went back", prev: prev, cur: ClockInfo{Clock: 5000, ResetCount: 5, RestartCount: 1, Safe: true}, wantErr: "restart count went back"},
		{name: "unsafe", prev: prev, cur: ClockInfo{Clock: 5000, ResetCount: 5, RestartCount: 2}, wantErr: "not safe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reboot, err := CheckClock(tt.prev, tt.cur)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expected error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil || reboot != tt.wantReboot {
				t.Fatalf("got reboot=%v err=%v, want reboot=%v", reboot, err, tt.wantReboot)
			}
		})
	}
}

func TestPCRPolicyCheck(t *testing.T) {
	a, b := strings.Repeat("aa", 32), strings.Repeat("bb", 32)
	p := PCRPolicy{PCRs: []int{0, 7}, Allowed: []PCRAllowed{{PCR: 7, Values: []string{a, b}}}}
	tests := []struct {
		name   string
		values map[int][]byte
		ok     bool
	}{
		{"first allowed value", map[int][]byte{0: make([]byte, 32), 7: bytes.Repeat([]byte{0xaa}, 32)}, true},
		{"second allowed value", map[int][]byte{7: bytes.Repeat([]byte{0xbb}, 32)}, true},
		{"other value", map[int][]byte{7: bytes.Repeat([]byte{0xcc}, 32)}, false},
		{"not quoted", map[int][]byte{0: make([]byte, 32)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.values)
			if tt.ok != (err == nil) {
				t.Fatalf("ok=%v, got %v", tt.ok, err)
			}
			if err != nil {
				if r, _ := ReasonOf(err); r != ReasonPCRMismatch {
					t.Fatalf("expected reason %s, got %v", ReasonPCRMismatch, err)
				}
			}
		})
	}
}

func TestValidateAK(t *testing.T) {
	base := *newSoftAK(t).pub
	tests := []struct {
		name    string
		mut     func(p *tpm2.TPMTPublic)
		wantErr bool
	}{
		{"restricted signing key", func(*tpm2.TPMTPublic) {}, false},
		{"not restricted", func(p *tpm2.TPMTPublic) { p.ObjectAttributes.Restricted = false }, true},
		{"exportable", func(p *tpm2.TPMTPublic) { p.ObjectAttributes.FixedTPM = false }, true},
		{"imported", func(p *tpm2.TPMTPublic) { p.ObjectAttributes.SensitiveDataOrigin = false }, true},
		{"also decrypts", func(p *tpm2.TPMTPublic) { p.ObjectAttributes.Decrypt = true }, true},
		{"SHA-1 name", func(p *tpm2.TPMTPublic) { p.NameAlg = tpm2.TPMAlgSHA1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.mut(&p)
			if err := ValidateAK(&p); (err != nil) != tt.wantErr {
				t.Fatalf("wantErr=%v, got %v", tt.wantErr, err)
			}
		})
	}
}
