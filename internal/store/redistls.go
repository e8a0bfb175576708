package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// redisTLS dials Redis over TLS with a CA pool that can be replaced while
// the client runs: tls.ca_file is re-read by ReloadCA (the gateway calls it
// when the file changes, e.g. when cert-manager renews the CA bundle), and
// every connection dialed afterwards verifies against the new pool.
// Connections already open stay up; they were verified when they were made.
//
// The server's certificate is verified by crypto/tls as usual (chain to the
// pool, or to the system's roots without ca_file; the name is server_name, or
// else the host of the address dialed). Nothing here skips verification.
type redisTLS struct {
	base *tls.Config // MinVersion, ServerName; RootCAs filled per dial
	file string      // tls.ca_file; "" means the system's roots

	mu   sync.RWMutex
	pool *x509.CertPool
	pem  []byte // the bytes pool was built from
}

// newRedisTLS reads the CA file (if any) and returns the dialer's state; nil
// when TLS is off.
func newRedisTLS(t RedisTLS) (*redisTLS, error) {
	if !t.Enabled {
		return nil, nil
	}
	rt := &redisTLS{base: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}, file: t.CAFile}
	if rt.file != "" {
		pool, pem, err := readCAFile(rt.file)
		if err != nil {
			return nil, err
		}
		rt.pool, rt.pem = pool, pem
	}
	return rt, nil
}

// readCAFile reads a PEM bundle of CA certificates.
func readCAFile(file string) (*x509.CertPool, []byte, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("store: redis tls.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("store: redis tls.ca_file: expected PEM certificates in %s, got none", file)
	}
	return pool, pem, nil
}

// config returns the TLS configuration of one connection to addr.
func (rt *redisTLS) config(addr string) *tls.Config {
	c := rt.base.Clone()
	rt.mu.RLock()
	c.RootCAs = rt.pool
	rt.mu.RUnlock()
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		c.ServerName = host
	}
	return c
}

// dialer is go-redis's Options.Dialer: TCP within timeout, then the TLS
// handshake within ctx. wrap, when set, wraps the TCP connection under TLS.
func (rt *redisTLS) dialer(timeout time.Duration, wrap func(addr string, c net.Conn) net.Conn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Minute}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if wrap != nil {
			raw = wrap(addr, raw)
		}
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn := tls.Client(raw, rt.config(addr))
		if err := conn.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// reload re-reads the CA file. On any error the pool in use stays.
func (rt *redisTLS) reload() (changed bool, err error) {
	if rt == nil || rt.file == "" {
		return false, nil
	}
	pool, pem, err := readCAFile(rt.file)
	if err != nil {
		return false, err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if bytes.Equal(pem, rt.pem) {
		return false, nil
	}
	rt.pool, rt.pem = pool, pem
	return true, nil
}

// ReloadCA re-reads session.redis.tls.ca_file, so that connections dialed
// from now on verify the server against the new CA bundle (a renewed CA
// issued by cert-manager, or a bundle with the next CA added). Open
// connections are kept. On error (file missing, no certificate in it) the
// bundle in use stays and the error says why. changed reports whether the
// bundle differs from the one in use. Without TLS or without ca_file it
// does nothing.
func (r *Redis) ReloadCA() (changed bool, err error) {
	return r.tls.reload()
}
