package contexttoken_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

// A tool behind the gateway verifies every request's context token and reads
// the caller from the claims.
func Example() {
	// The gateway side, for the example: a signer and its published keys.
	// In production the gateway serves them on every routed host at
	// /.well-known/gateway/jwks.json.
	signer, err := token.NewDevSigner("https://tools.example.com")
	if err != nil {
		log.Fatal(err)
	}
	gateway := httptest.NewServer(signer.JWKSHandler())
	defer gateway.Close()

	// The tool: one Verifier for the process, the middleware around the app.
	v, err := contexttoken.NewVerifier(context.Background(), contexttoken.Config{
		JWKSURL:   gateway.URL + "/.well-known/gateway/jwks.json",
		Issuer:    "https://tools.example.com",
		Audiences: []string{"https://wiki.internal.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := contexttoken.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s (groups %v, device %s)", c.Email, c.Groups, c.Device.Trust)
	})
	tool := httptest.NewServer(contexttoken.Middleware(v, contexttoken.DefaultHeader)(app))
	defer tool.Close()

	// A request as the gateway forwards it.
	tok, err := signer.Mint(contexttoken.Claims{
		Audience: contexttoken.Audience{"https://wiki.internal.example.com"},
		Subject:  "00u1abcd", Email: "ada@example.com", Groups: []string{"eng"},
		Device: &contexttoken.Device{ID: "dev_1", Trust: "tpm-attested"},
	}, time.Now().Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequest("GET", tool.URL, nil)
	req.Header.Set(contexttoken.DefaultHeader, tok)
	show(req)

	// A request that did not come through the gateway.
	req, _ = http.NewRequest("GET", tool.URL, nil)
	show(req)

	// Output:
	// 200 hello ada@example.com (groups [eng], device tpm-attested)
	// 401 {"error":"missing","message":"contexttoken: no token: expected header X-Gateway-Context, got none"}
}

func show(req *http.Request) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n", resp.StatusCode, trimNL(b))
}

func trimNL(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return string(b)
}
