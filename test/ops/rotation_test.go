package ops

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/token"
)

const rotationConfig = `public_url: https://{{.Addr}}
listen:
  address: "{{.Addr}}"
  tls: {cert_file: secrets/tls.crt, key_file: secrets/tls.key}
admin: {address: "{{.Admin}}"}
oidc:
  issuer: {{.Issuer}}
  client_id: {{.ClientID}}
  client_secret: {{.ClientSecret}}
session:
  store: memory
  lifetime: 1h
  encryption_keys:
    - {file: secrets/session-active.key, state: active}
    - {file: secrets/session-next.key, state: next}
token:
  keys:
    - {file: secrets/token-active.pem, state: active}
    - {file: secrets/token-next.pem, state: next}
devices:
  inventory: []
  certificates: {ca_cert_file: secrets/device-ca.crt, ca_key_file: secrets/device-ca.key}
audit: {file: audit.log}
log: {level: info}
routes:
  - name: tool
    host: 127.0.0.1
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
`

// secretSet is one version of the rotating files.
type secretSet struct {
	cert        *x509.Certificate
	files       map[string][]byte
	nextKid     string
	deviceCA    *testCA
	sessionNext string
}

func newSecretSet(t *testing.T, tlsCA *testCA, base map[string][]byte) *secretSet {
	t.Helper()
	s := &secretSet{files: map[string][]byte{}}
	for k, v := range base {
		s.files[k] = v
	}
	var crt, key []byte
	s.cert, crt, key = tlsCA.serverCert(t)
	s.files["tls.crt"], s.files["tls.key"] = crt, key
	pemKey, err := token.GenerateKeyPEM("ES256")
	if err != nil {
		t.Fatal(err)
	}
	s.files["token-next.pem"] = pemKey
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if s.nextKid, _, err = token.InspectKeyFile(filepath.Join(dir, "k.pem")); err != nil {
		t.Fatal(err)
	}
	s.sessionNext = auth.NewKey()
	s.files["session-next.key"] = []byte(s.sessionNext + "\n")
	s.deviceCA = newTestCA(t, "device CA", time.Duration(30+serial.Load())*24*time.Hour)
	s.files["device-ca.crt"], s.files["device-ca.key"] = s.deviceCA.pem, s.deviceCA.keyPEM(t)
	return s
}

// A running `gateway serve` takes renewed files from a Kubernetes-style
// Secret volume (atomic ..data swaps) while a client keeps requesting over
// new TLS connections: no request fails, the new certificate is served
// after the swap, the new next signing key is published, the session
// keyring and the device CA are re-read; a bad set (a certificate with the
// wrong key) is rejected, counted, and the last good set keeps serving.
func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	idp := newIdP(t)
	up := newUpstream(t)
	dir := t.TempDir()
	addr, admin := freeAddr(t), freeAddr(t)
	activeKey, err := token.GenerateKeyPEM("ES256")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string][]byte{"token-active.pem": activeKey, "session-active.key": []byte(auth.NewKey())}
	ca1, ca2 := newTestCA(t, "listener CA 1", 365*24*time.Hour), newTestCA(t, "listener CA 2", 365*24*time.Hour)
	set1 := newSecretSet(t, ca1, base)
	vol := newSecretVolume(t, filepath.Join(dir, "secrets"), set1.files)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	c := idp.Config()
	writeTemplate(t, cfgPath, rotationConfig, map[string]string{"Addr": addr, "Admin": admin,
		"Issuer": c.Issuer, "ClientID": c.ClientID, "ClientSecret": c.ClientSecret, "Upstream": up.URL})
	g := startProc(t, "gateway", cfgPath, addr, admin)

	roots := x509.NewCertPool()
	roots.AddCert(ca1.cert)
	roots.AddCert(ca2.cert)
	tlsCfg := &tls.Config{RootCAs: roots}
	b := browser(tlsCfg)
	signIn(t, b, idp, user("sam@example.com"), "https://"+addr+"/")

	// The client: one new TLS connection per request, until stopped.
	var (
		mu       sync.Mutex
		failures []string
		bySerial = map[string]int{}
		served   atomic.Value // serial of the last certificate seen
		total    atomic.Int64
		stop     = make(chan struct{})
		done     = make(chan struct{})
	)
	served.Store("")
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := b.Get("https://" + addr + "/work")
			total.Add(1)
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sn := resp.TLS.PeerCertificates[0].SerialNumber.String()
			served.Store(sn)
			mu.Lock()
			bySerial[sn]++
			if resp.StatusCode != 200 {
				failures = append(failures, fmt.Sprintf("status %d: %.200s", resp.StatusCode, body))
			}
			mu.Unlock()
		}
	}()
	waitServed := func(cert *x509.Certificate) {
		t.Helper()
		eventually(t, 10*time.Second, "certificate "+cert.SerialNumber.String()+" to be served", func() bool {
			return served.Load() == cert.SerialNumber.String()
		})
	}
	waitServed(set1.cert)
	jwksKids := func() []string {
		resp, err := http.Get("http://" + admin + "/.well-known/gateway/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	reloads := func(result string) int {
		v, _ := strconv.Atoi(g.metric(`gateway_config_reloads_total{result="` + result + `"}`))
		return v
	}

	steps := []struct {
		name    string
		set     *secretSet
		bad     bool
		wantOK  int
		wantErr int
	}{
		{name: "renewal: a certificate from another CA, a new next signing key, a new next session key, a new device CA", set: newSecretSet(t, ca2, base), wantOK: 1},
		{name: "a bad set: the certificate does not match its key", set: func() *secretSet {
			s := newSecretSet(t, ca1, base)
			_, _, otherKey := ca1.serverCert(t)
			s.files["tls.key"] = otherKey
			return s
		}(), bad: true, wantOK: 1, wantErr: 1},
		{name: "the next good set", set: newSecretSet(t, ca1, base), wantOK: 2, wantErr: 1},
	}
	good := set1
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := total.Load()
			vol.update(st.set.files)
			eventually(t, 10*time.Second, "the reload to be counted", func() bool {
				return reloads("ok") == st.wantOK && reloads("error") == st.wantErr
			})
			if st.bad {
				if got := g.metric("gateway_config_last_reload_successful"); got != "0" {
					t.Errorf("gateway_config_last_reload_successful: expected 0 after a rejected set, got %q", got)
				}
				// Requests go on, with the last good certificate.
				eventually(t, 5*time.Second, "more requests", func() bool { return total.Load() > before+20 })
				if sn := served.Load(); sn != good.cert.SerialNumber.String() {
					t.Errorf("after a rejected set: expected the last good certificate %s, got %s", good.cert.SerialNumber, sn)
				}
				return
			}
			waitServed(st.set.cert)
			good = st.set
			if got := g.metric("gateway_config_last_reload_successful"); got != "1" {
				t.Errorf("gateway_config_last_reload_successful: expected 1, got %q", got)
			}
			if kids := jwksKids(); !contains(kids, st.set.nextKid) {
				t.Errorf("JWKS: expected the new next key %s, got %v", st.set.nextKid, kids)
			}
			kr, err := auth.NewKeyring([]auth.KeyConfig{{Key: string(base["session-active.key"]), State: auth.KeyActive}, {Key: st.set.sessionNext, State: auth.KeyNext}})
			if err != nil {
				t.Fatal(err)
			}
			_, ids := kr.IDs()
			eventually(t, 5*time.Second, "the session keyring reload in the log", func() bool {
				return strings.Contains(g.out.String(), `"keys":["`+ids[0]+`","`+ids[1]+`"]`)
			})
			wantExp := strconv.FormatInt(st.set.deviceCA.cert.NotAfter.Unix(), 10)
			exp := g.metric(`gateway_certificate_expiry_timestamp_seconds{file="` + vol.path("device-ca.crt") + `"}`)
			if f, _ := strconv.ParseFloat(exp, 64); strconv.FormatInt(int64(f), 10) != wantExp {
				t.Errorf("device CA expiry metric: expected %s (the new CA), got %q", wantExp, exp)
			}
		})
	}
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d requests, each on a new TLS connection; by certificate serial: %v", total.Load(), bySerial)
	if len(failures) > 0 {
		t.Errorf("expected no failed request, got %d of %d; first: %s", len(failures), total.Load(), failures[0])
	}
	if len(bySerial) != 3 {
		t.Errorf("expected requests served with 3 certificates, got %v", bySerial)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
