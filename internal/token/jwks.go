package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKSPath is where the key set is served on every routed host and on the
// admin listener.
const JWKSPath = "/.well-known/gateway/jwks.json"

// JWKSMaxAge is the Cache-Control max-age of the key set, shortened when a
// retired key leaves the set sooner.
const JWKSMaxAge = 5 * time.Minute

// PublicKeys returns the key set published now: the active key, the next
// keys and the retired keys whose until has not passed. It holds public keys
// only.
func (s *Signer) PublicKeys() jose.JSONWebKeySet {
	set, _ := s.publicKeysAt(s.now())
	return set
}

// publicKeysAt returns the set published at now and how long it stays the
// same (JWKSMaxAge at most).
func (s *Signer) publicKeysAt(now time.Time) (jose.JSONWebKeySet, time.Duration) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.published))}
	stable := JWKSMaxAge
	for _, p := range s.published {
		if p.state == StateRetired {
			if !now.Before(p.until) {
				continue
			}
			if d := p.until.Sub(now); d < stable {
				stable = d
			}
		}
		set.Keys = append(set.Keys, p.jwk)
	}
	return set, stable
}

// JWKS returns the key set published now as JSON (RFC 7517).
func (s *Signer) JWKS() []byte {
	b, _ := s.jwksAt(s.now())
	return b
}

func (s *Signer) jwksAt(now time.Time) ([]byte, time.Duration) {
	set, stable := s.publicKeysAt(now)
	b, err := json.Marshal(set)
	if err != nil {
		// Public ECDSA, Ed25519 and RSA keys always marshal; a failure here is
		// a programming error.
		panic(fmt.Sprintf("token: encoding key set: %v", err))
	}
	return b, stable
}

// JWKSHandler serves the key set for GET and HEAD with Cache-Control
// (public, max-age up to 5 minutes, shorter when a retired key is about to
// leave) and a strong ETag; If-None-Match gets 304. Other methods get 405.
func (s *Signer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, stable := s.jwksAt(s.now())
		sum := sha256.Sum256(body)
		etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(stable/time.Second)))
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// etagMatch reports whether an If-None-Match list names etag (weak
// comparison, as RFC 9110 asks for If-None-Match) or is "*".
func etagMatch(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header = cutList(header)
		if tag == "*" || tag == etag || tag == "W/"+etag {
			return true
		}
	}
	return false
}

func cutList(s string) (string, string) {
	for len(s) > 0 && (s[0] == ' ' || s[0] == ',' || s[0] == '\t') {
		s = s[1:]
	}
	i := 0
	for i < len(s) && s[i] != ',' {
		i++
	}
	tag := s[:i]
	for len(tag) > 0 && (tag[len(tag)-1] == ' ' || tag[len(tag)-1] == '\t') {
		tag = tag[:len(tag)-1]
	}
	return tag, s[i:]
}
