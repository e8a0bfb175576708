package agent

import (
	"crypto"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	gtsim "github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/tcp"

	"github.com/accessgateway/gateway/internal/device"
)

// DefaultDevice is the Linux kernel's TPM resource manager.
const DefaultDevice = "/dev/tpmrm0"

// SimulatorSeed is the fixed seed of the simulator's hierarchies, so that its
// EK and AK are the same in every run. Insecure by design: the simulator is
// for tests and the quickstart only.
const SimulatorSeed = 20260101

// NV indexes of EK certificates (TCG EK Credential Profile).
const (
	nvRSAEKCert = 0x01c00002
	nvECCEKCert = 0x01c0000a
)

// TPM is an open TPM. Its methods are safe for sequential use only (a TPM
// executes one command at a time; the mutex enforces it).
type TPM struct {
	mu    sync.Mutex
	t     transport.TPM
	close func() error
	sim   *gtsim.Simulator
	desc  string
}

// Open opens the TPM named by spec: "" or a device path (default
// /dev/tpmrm0), "simulator" (the in-process reference TPM, state in
// simStateFile), or "tcp://HOST:PORT" (the MS simulator protocol as swtpm
// speaks it with --server type=tcp,port=PORT --ctrl type=tcp,port=PORT+1).
func Open(spec, simStateFile string) (*TPM, error) {
	switch {
	case spec == "simulator":
		return OpenSimulator(simStateFile)
	case len(spec) > 6 && spec[:6] == "tcp://":
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("agent: expected tcp://HOST:PORT, got %q", spec)
		}
		port, err := strconv.Atoi(u.Port())
		if err != nil || port < 1 || port > 65534 {
			return nil, fmt.Errorf("agent: bad port in %q", spec)
		}
		t, err := tcp.Open(tcp.Config{CommandAddress: u.Host,
			PlatformAddress: net.JoinHostPort(u.Hostname(), strconv.Itoa(port+1))})
		if err != nil {
			return nil, fmt.Errorf("agent: connect to TPM at %s: %w", u.Host, err)
		}
		return &TPM{t: t, close: t.Close, desc: "swtpm at " + u.Host}, nil
	default:
		path := spec
		if path == "" {
			path = DefaultDevice
		}
		t, err := linuxtpm.Open(path)
		if err != nil {
			return nil, fmt.Errorf("agent: open TPM %s: %w (is there a TPM, and may you use it? try --tpm simulator for a demo)", path, err)
		}
		return &TPM{t: t, close: t.Close, desc: "TPM " + path}, nil
	}
}

// simState is the simulator's persistent state between agent runs.
type simState struct {
	Clock   uint64    `json:"clock_ms"`
	SavedAt time.Time `json:"saved_at"`
}

// OpenSimulator starts the in-process simulator with SimulatorSeed, so that
// its EK and AK are the same in every agent run, and keeps its clock honest
// across runs: stateFile records the TPM clock and the wall time, and the
// next run advances the clock (TPM2_ClockSet) by at least the wall time that
// passed. The simulated machine thus looks like one that stayed powered
// on: its resetCount stays the same and its clock only moves forward.
//
// Why not count boots with Reset? The simulator reloads its hierarchy seeds
// from its (in-memory, per-process) NV on every reset, and the fixed seed is
// set only in RAM, so after a reset the EK and AK would differ from run to
// run. Reboots are tested in-process instead (see TPM.Reboot), where the
// seeds survive resets. With stateFile "" nothing is kept.
func OpenSimulator(stateFile string) (*TPM, error) {
	var st simState
	if stateFile != "" {
		if b, err := os.ReadFile(stateFile); err == nil {
			if err := json.Unmarshal(b, &st); err != nil {
				return nil, fmt.Errorf("agent: simulator state %s: %w", stateFile, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("agent: simulator state: %w", err)
		}
	}
	sim, err := gtsim.GetWithFixedSeedInsecure(SimulatorSeed)
	if err != nil {
		return nil, fmt.Errorf("agent: start TPM simulator: %w", err)
	}
	t := NewSimulatorTPM(sim)
	if stateFile == "" {
		return t, nil
	}
	now := time.Now()
	target := st.Clock + 1
	if elapsed := now.Sub(st.SavedAt); !st.SavedAt.IsZero() && elapsed > 0 {
		target += uint64(elapsed.Milliseconds())
	}
	// The clock runs between ReadClock and ClockSet: a target less than a
	// millisecond ahead may be behind it by then (TPM_RC_VALUE, the clock
	// never goes back). Read it again and retry.
	for attempt := 0; ; attempt++ {
		cur, err := tpm2.ReadClock{}.Execute(t.t)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("agent: simulator clock: %w", err)
		}
		if target <= cur.CurrentTime.ClockInfo.Clock {
			target = cur.CurrentTime.ClockInfo.Clock
			break
		}
		err = clockSet(t.t, target)
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Close()
			return nil, fmt.Errorf("agent: simulator clock: %w", err)
		}
	}
	b, _ := json.Marshal(simState{Clock: target, SavedAt: now})
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err == nil {
		err = os.WriteFile(stateFile, b, 0o600)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("agent: simulator state: %w", err)
	}
	return t, nil
}

// clockSet runs TPM2_ClockSet with the (empty) owner password; go-tpm v0.9.8
// has no command struct for it.
func clockSet(t transport.TPM, ms uint64) error {
	cmd := binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMSTSessions))
	cmd = binary.BigEndian.AppendUint32(cmd, 0) // size, below
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(tpm2.TPMCCClockSet))
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(tpm2.TPMRHOwner))
	cmd = binary.BigEndian.AppendUint32(cmd, 9) // authorization area size
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(tpm2.TPMRSPW))
	cmd = append(cmd, 0, 0, 0, 0, 0) // empty nonce, attributes 0, empty password
	cmd = binary.BigEndian.AppendUint64(cmd, ms)
	binary.BigEndian.PutUint32(cmd[2:], uint32(len(cmd)))
	rsp, err := t.Send(cmd)
	if err != nil {
		return err
	}
	if len(rsp) < 10 {
		return fmt.Errorf("TPM2_ClockSet: short response of %d bytes", len(rsp))
	}
	if rc := binary.BigEndian.Uint32(rsp[6:10]); rc != 0 {
		return fmt.Errorf("TPM2_ClockSet: %w", tpm2.TPMRC(rc))
	}
	return nil
}

// NewSimulatorTPM wraps an open simulator (tests choose its seed and resets).
func NewSimulatorTPM(sim *gtsim.Simulator) *TPM {
	return &TPM{t: transport.FromReadWriter(sim), close: sim.Close, sim: sim, desc: "TPM simulator (insecure, for tests)"}
}

// Reboot resets a simulator as a reboot would (resetCount goes up). Use it
// with a simulator from gtsim.Get (random seeds, which survive resets), not
// from OpenSimulator (see there).
func (t *TPM) Reboot() error {
	if t.sim == nil {
		return errors.New("agent: only the simulator can be rebooted")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sim.Reset()
}

// String describes the TPM.
func (t *TPM) String() string { return t.desc }

// Transport is the underlying go-tpm transport.
func (t *TPM) Transport() transport.TPM { return t.t }

// Close closes the TPM.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.close == nil {
		return nil
	}
	err := t.close()
	t.close = nil
	return err
}

// AKTemplate is the agent's AK: ECC P-256, ECDSA/SHA-256, restricted signing,
// in the endorsement hierarchy.
var AKTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
		UserWithAuth: true, Restricted: true, SignEncrypt: true, NoDA: true},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		CurveID: tpm2.TPMECCNistP256,
		Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: []byte("accessgateway-ak")}}),
}

// CertKeyTemplate is the key of device certificates: ECC P-256 ECDSA/SHA-256,
// unrestricted signing, in the owner hierarchy.
var CertKeyTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
		UserWithAuth: true, SignEncrypt: true, NoDA: true},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		CurveID: tpm2.TPMECCNistP256,
		Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: []byte("accessgateway-device-tls")}}),
}

type object struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public []byte // TPMT_PUBLIC
	pub    *tpm2.TPMTPublic
}

func (t *TPM) flush(o *object) {
	_, _ = tpm2.FlushContext{FlushHandle: o.handle}.Execute(t.t)
}

func (t *TPM) primary(hierarchy tpm2.TPMHandle, tmpl tpm2.TPMTPublic) (*object, error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: hierarchy, InPublic: tpm2.New2B(tmpl)}.Execute(t.t)
	if err != nil {
		return nil, err
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		_, _ = tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(t.t)
		return nil, err
	}
	return &object{handle: rsp.ObjectHandle, name: rsp.Name, public: tpm2.Marshal(pub), pub: pub}, nil
}

// ek creates the EK: RSA-2048 by the default template, else ECC P-256.
func (t *TPM) ek() (*object, error) {
	o, err := t.primary(tpm2.TPMRHEndorsement, tpm2.RSAEKTemplate)
	if err == nil {
		return o, nil
	}
	o, err2 := t.primary(tpm2.TPMRHEndorsement, tpm2.ECCEKTemplate)
	if err2 != nil {
		return nil, fmt.Errorf("agent: create EK: RSA: %v; ECC: %w", err, err2)
	}
	return o, nil
}

func (t *TPM) ak() (*object, error) {
	o, err := t.primary(tpm2.TPMRHEndorsement, AKTemplate)
	if err != nil {
		return nil, fmt.Errorf("agent: create AK: %w", err)
	}
	return o, nil
}

// Identity is what the TPM shows about itself.
type Identity struct {
	EKPublic []byte // TPMT_PUBLIC
	EKCert   []byte // DER from NV, nil when the TPM has none
	EKHash   string // hex SHA-256 of the EK SubjectPublicKeyInfo (inventory key)
	AKPublic []byte // TPMT_PUBLIC
	AKName   string // hex
}

// Identity returns the EK (with its certificate, if in NV) and the AK.
func (t *TPM) Identity() (*Identity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ek, err := t.ek()
	if err != nil {
		return nil, err
	}
	t.flush(ek)
	ak, err := t.ak()
	if err != nil {
		return nil, err
	}
	t.flush(ak)
	key, err := tpm2.Pub(*ek.pub)
	if err != nil {
		return nil, fmt.Errorf("agent: EK public key: %w", err)
	}
	h, err := device.EKKeyHash(key)
	if err != nil {
		return nil, err
	}
	id := &Identity{EKPublic: ek.public, EKHash: h, AKPublic: ak.public, AKName: hex.EncodeToString(ak.name.Buffer)}
	idx := tpm2.TPMHandle(nvRSAEKCert)
	if ek.pub.Type == tpm2.TPMAlgECC {
		idx = nvECCEKCert
	}
	if cert, err := t.readNV(idx); err == nil {
		id.EKCert = cert
	}
	return id, nil
}

func (t *TPM) readNV(idx tpm2.TPMHandle) ([]byte, error) {
	pub, err := tpm2.NVReadPublic{NVIndex: idx}.Execute(t.t)
	if err != nil {
		return nil, err
	}
	nv, err := pub.NVPublic.Contents()
	if err != nil {
		return nil, err
	}
	// Read with the index's own (empty) authorization when allowed, else
	// with the (empty) owner authorization, as manufacturers set either.
	auth := tpm2.AuthHandle{Handle: idx, Name: pub.NVName, Auth: tpm2.PasswordAuth(nil)}
	if !nv.Attributes.AuthRead && nv.Attributes.OwnerRead {
		auth = tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	}
	var out []byte
	const chunk = 512
	for off := 0; off < int(nv.DataSize); off += chunk {
		n := min(chunk, int(nv.DataSize)-off)
		rsp, err := tpm2.NVRead{
			AuthHandle: auth,
			NVIndex:    tpm2.NamedHandle{Handle: idx, Name: pub.NVName},
			Size:       uint16(n), Offset: uint16(off),
		}.Execute(t.t)
		if err != nil {
			return nil, err
		}
		out = append(out, rsp.Data.Buffer...)
	}
	return out, nil
}

// ActivateCredential recovers the secret of an enrollment challenge: the TPM
// releases it only if the AK the challenge names is loaded next to the EK it
// was encrypted to.
func (t *TPM) ActivateCredential(credential, encryptedSecret []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ek, err := t.ek()
	if err != nil {
		return nil, err
	}
	defer t.flush(ek)
	ak, err := t.ak()
	if err != nil {
		return nil, err
	}
	defer t.flush(ak)
	rsp, err := tpm2.ActivateCredential{
		ActivateHandle: tpm2.NamedHandle{Handle: ak.handle, Name: ak.name},
		KeyHandle: tpm2.AuthHandle{Handle: ek.handle, Name: ek.name,
			Auth: tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(tp transport.TPM, s tpm2.TPMISHPolicy, n tpm2.TPM2BNonce) error {
				_, err := tpm2.PolicySecret{AuthHandle: tpm2.TPMRHEndorsement, PolicySession: s, NonceTPM: n}.Execute(tp)
				return err
			})},
		CredentialBlob: tpm2.TPM2BIDObject{Buffer: credential},
		Secret:         tpm2.TPM2BEncryptedSecret{Buffer: encryptedSecret},
	}.Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("agent: activate credential: %w", err)
	}
	return rsp.CertInfo.Buffer, nil
}

// Bounds of what Quote and CertifyKey accept: a TPM2B_DATA nonce of at most
// a SHA-512 digest, and the 24 PCRs of a PC Client TPM's SHA-256 bank.
const (
	maxNonce = 64
	numPCRs  = 24
)

// checkQuoteInput refuses a nonce and a PCR list that the TPM must not be
// asked to quote: an empty or oversized nonce, no PCRs, an index outside
// 0..23 (a negative or huge one would make the selection bitmap panic or
// allocate without bound) or one listed twice.
func checkQuoteInput(nonce []byte, pcrs []int) error {
	if len(nonce) == 0 || len(nonce) > maxNonce {
		return fmt.Errorf("expected a nonce of 1..%d bytes, got %d", maxNonce, len(nonce))
	}
	if len(pcrs) == 0 || len(pcrs) > numPCRs {
		return fmt.Errorf("expected 1..%d PCR indexes, got %d", numPCRs, len(pcrs))
	}
	var seen [numPCRs]bool
	for _, p := range pcrs {
		if p < 0 || p >= numPCRs {
			return fmt.Errorf("expected PCR indexes 0..%d, got %d", numPCRs-1, p)
		}
		if seen[p] {
			return fmt.Errorf("PCR %d listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

func pcrSelection(pcrs []int) tpm2.TPMLPCRSelection {
	u := make([]uint, len(pcrs))
	for i, p := range pcrs {
		u[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(u...)}}}
}

// Quote quotes the SHA-256 PCRs over nonce with the AK and reads their values.
func (t *TPM) Quote(nonce []byte, pcrs []int) (device.Quote, error) {
	if err := checkQuoteInput(nonce, pcrs); err != nil {
		return device.Quote{}, fmt.Errorf("agent: quote: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ak, err := t.ak()
	if err != nil {
		return device.Quote{}, err
	}
	defer t.flush(ak)
	return t.quote(ak, nonce, pcrs)
}

func (t *TPM) quote(ak *object, nonce []byte, pcrs []int) (device.Quote, error) {
	pcrs = slices.Sorted(slices.Values(pcrs))
	q, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: ak.handle, Name: ak.name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		PCRSelect:      pcrSelection(pcrs),
	}.Execute(t.t)
	if err != nil {
		return device.Quote{}, fmt.Errorf("agent: quote: %w", err)
	}
	out := device.Quote{Attest: q.Quoted.Bytes(), Signature: tpm2.Marshal(&q.Signature)}
	for chunk := range slices.Chunk(pcrs, 8) {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(chunk)}.Execute(t.t)
		if err != nil {
			return device.Quote{}, fmt.Errorf("agent: read PCRs: %w", err)
		}
		if len(rsp.PCRValues.Digests) != len(chunk) {
			return device.Quote{}, fmt.Errorf("agent: read PCRs %v: got %d values", chunk, len(rsp.PCRValues.Digests))
		}
		for i, d := range rsp.PCRValues.Digests {
			out.PCRs = append(out.PCRs, device.PCRValue{Index: chunk[i], Digest: d.Buffer})
		}
	}
	return out, nil
}

// CertifyKey creates the certificate key and has the AK certify it over
// nonce, returning the certify message for the gateway.
func (t *TPM) CertifyKey(nonce []byte) (*device.Certify, error) {
	if len(nonce) == 0 || len(nonce) > maxNonce {
		return nil, fmt.Errorf("agent: certify: expected a nonce of 1..%d bytes, got %d", maxNonce, len(nonce))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ak, err := t.ak()
	if err != nil {
		return nil, err
	}
	defer t.flush(ak)
	key, err := t.primary(tpm2.TPMRHOwner, CertKeyTemplate)
	if err != nil {
		return nil, fmt.Errorf("agent: create certificate key: %w", err)
	}
	defer t.flush(key)
	rsp, err := tpm2.Certify{
		ObjectHandle:   tpm2.AuthHandle{Handle: key.handle, Name: key.name, Auth: tpm2.PasswordAuth(nil)},
		SignHandle:     tpm2.AuthHandle{Handle: ak.handle, Name: ak.name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
	}.Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("agent: certify: %w", err)
	}
	return &device.Certify{Public: key.public, Attest: rsp.CertifyInfo.Bytes(), Signature: tpm2.Marshal(&rsp.Signature)}, nil
}

// Signer returns a crypto.Signer backed by the certificate key in the TPM
// (for tls.Certificate.PrivateKey). The TPM must stay open while it is used.
func (t *TPM) Signer() (crypto.Signer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key, err := t.primary(tpm2.TPMRHOwner, CertKeyTemplate)
	if err != nil {
		return nil, fmt.Errorf("agent: create certificate key: %w", err)
	}
	defer t.flush(key)
	pub, err := tpm2.Pub(*key.pub)
	if err != nil {
		return nil, err
	}
	return &signer{t: t, pub: pub}, nil
}

type signer struct {
	t   *TPM
	pub crypto.PublicKey
}

func (s *signer) Public() crypto.PublicKey { return s.pub }

// Sign signs a SHA-256 digest with the TPM key; the signature is ASN.1 DER.
func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, fmt.Errorf("agent: TPM key signs SHA-256 digests only, got %v", opts.HashFunc())
	}
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	key, err := t.primary(tpm2.TPMRHOwner, CertKeyTemplate)
	if err != nil {
		return nil, err
	}
	defer t.flush(key)
	rsp, err := tpm2.Sign{
		KeyHandle:  tpm2.AuthHandle{Handle: key.handle, Name: key.name, Auth: tpm2.PasswordAuth(nil)},
		Digest:     tpm2.TPM2BDigest{Buffer: digest},
		InScheme:   tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("agent: TPM sign: %w", err)
	}
	e, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		return nil, err
	}
	r := new(big.Int).SetBytes(e.SignatureR.Buffer)
	ss := new(big.Int).SetBytes(e.SignatureS.Buffer)
	return asn1Sig(r, ss)
}

func asn1Sig(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}
