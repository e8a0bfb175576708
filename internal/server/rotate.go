package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/accessgateway/gateway/internal/auth"
)

// rotate reads, at the end of every build, what rotates without a restart
// and is not rebuilt by build itself (the token signer, the device CA and
// the upstream transports are): the public listener's certificate, the
// session encryption keys of a session registry kept across the reload, and
// the Redis CA bundle of a Redis client kept across it. Everything that can
// fail is read first; only then are the shared registry's keys and the
// Redis client's CA bundle replaced, so a failed build changes nothing.
func (s *Server) rotate(rt, prev *runtime) error {
	cfg := rt.cfg
	if t := cfg.Listen.TLS; t != nil {
		kp, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return fmt.Errorf("listen.tls: %w", err)
		}
		rt.cert = &kp
	} else if prev != nil {
		rt.cert = prev.cert // listen.tls applies at restart: keep serving TLS
	}
	var keys *auth.Keyring
	if prev != nil && rt.sessions == prev.sessions && len(cfg.Session.EncryptionKeys) > 0 {
		kr, err := auth.NewKeyring(cfg.Session.EncryptionKeys)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if !kr.Equal(rt.sessions.Keys()) {
			keys = kr
		}
	}
	if prev != nil && rt.store == prev.store {
		if r, ok := rt.store.(interface{ ReloadCA() (bool, error) }); ok {
			changed, err := r.ReloadCA()
			if err != nil {
				return err
			}
			if changed {
				s.logger.Info("session.redis.tls.ca_file reloaded: new connections to Redis verify against the new bundle")
			}
		}
	}
	if keys != nil {
		rt.sessions.SetKeys(keys)
		active, all := keys.IDs()
		s.logger.Info("session encryption keys reloaded", "active", active, "keys", all)
	}
	s.observeCertificates(rt)
	s.metrics.LastReloadSuccess.Set(float64(time.Now().Unix()))
	return nil
}

// observeCertificates sets gateway_certificate_expiry_timestamp_seconds for
// every file of the configuration that holds PEM certificates (the
// listener's chain, CA bundles), by file: the earliest NotAfter in it. A
// bundle with an old CA that expires soon reports that CA's expiry.
func (s *Server) observeCertificates(rt *runtime) {
	files := WatchedFiles(s.opts.ConfigPath, rt.cfg)
	if rt.cfg.OIDC.CAFile != "" {
		files = append(files, rt.cfg.OIDC.CAFile)
	}
	s.metrics.CertificateExpiry.Reset()
	for _, f := range files {
		if f == "" {
			continue
		}
		if exp, ok := earliestExpiry(f); ok {
			s.metrics.CertificateExpiry.WithLabelValues(f).Set(float64(exp.Unix()))
		}
	}
}

// earliestExpiry returns the earliest NotAfter of the PEM certificates in
// file; false when it holds none (a key, a YAML file) or cannot be read.
func earliestExpiry(file string) (t time.Time, ok bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return t, false
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return t, ok
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		if !ok || c.NotAfter.Before(t) {
			t, ok = c.NotAfter, true
		}
	}
}

// getCertificate serves the certificate of the runtime in force.
func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.rt.Load().cert; c != nil {
		return c, nil
	}
	return nil, errors.New("server: no listener certificate loaded (listen.tls)")
}

// ListenTLS returns the public listener's TLS configuration when listen.tls
// is set (nil otherwise): TLSConfig around a certificate read from the files
// at every reload, so that a renewed certificate is served to new
// connections without a restart.
func (s *Server) ListenTLS() *tls.Config {
	if s.Config().Listen.TLS == nil {
		return nil
	}
	return s.TLSConfig(&tls.Config{GetCertificate: s.getCertificate})
}
