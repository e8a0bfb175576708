package security

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// expressApp is a tool written with Express 5, whose router matches paths
// without regard to case by default (path-to-regexp's sensitive: false) and
// ignores a trailing slash (strict: false): the customers page answers
// /Customers/43 as /customers/43.
const expressApp = `
const express = require('express');
const app = express();
app.get('/customers/:id', (req, res) => res.json({handler: 'customers', id: req.params.id}));
app.get('/admin', (req, res) => res.json({handler: 'admin'}));
app.use((req, res) => res.json({handler: 'home', url: req.url}));
const srv = app.listen(0, '127.0.0.1', () => console.log('listening ' + srv.address().port));
`

// startExpress installs express@5 from npm into a temporary directory and
// runs expressApp; it skips the test when node or npm is missing or the
// registry is unreachable.
func startExpress(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the Express test needs node and npm", tool)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "express@5")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("npm install express@5 failed (is the npm registry reachable?): %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte(expressApp), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "app.js")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- port
				return
			}
		}
		close(lines)
	}()
	select {
	case port, ok := <-lines:
		if !ok {
			t.Fatal("the Express app exited before listening")
		}
		return "http://127.0.0.1:" + port
	case <-time.After(30 * time.Second):
		t.Fatal("the Express app did not listen within 30 s")
	}
	return ""
}

// TestExpressCaseInsensitiveUpstream runs a real Express 5 app behind the
// gateway. Sam (support) may use the home route only; the customers route
// is for engineering. Without the fix, /Customers/43 was judged by the home
// route and Express served customer 43.
func TestExpressCaseInsensitiveUpstream(t *testing.T) {
	express := startExpress(t)
	idp := gatewaytest.NewIdP(t)
	// The same app behind two configurations: customers declared
	// case-sensitive (the default), and declared as it really is.
	for _, pathCase := range []string{"sensitive", "insensitive"} {
		t.Run("path_case "+pathCase, func(t *testing.T) {
			g := gatewaytest.Start(t, gatewaytest.Vars{IdP: idp, Upstream: express, Extra: map[string]string{"Case": pathCase}}, `routes:
  - name: home
    host: {{.Host}}
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
  - name: customers
    host: {{.Host}}
    path: /customers/{customer_id}
    path_case: {{index .Extra "Case"}}
    upstream: {{.Upstream}}
    rules: {allow: [{groups: [engineering]}]}
  - name: admin
    host: {{.Host}}
    path: /admin
    upstream: {{.Upstream}}
    rules: {allow: [{groups: [admins]}]}
`)
			sam := g.SessionCookie(g.SignIn(t, idp, gatewaytest.User("sam@example.com", "support"), "/"))
			eng := g.SessionCookie(g.SignIn(t, idp, gatewaytest.User("eve@example.com", "engineering"), "/"))
			get := func(target, cookie string) gatewaytest.Response {
				return g.Raw(t, "GET "+target+" HTTP/1.1\r\nHost: "+g.Host+"\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n")
			}
			handler := func(r gatewaytest.Response) string {
				var m map[string]string
				if json.Unmarshal([]byte(r.Body), &m) != nil {
					return ""
				}
				return m["handler"]
			}
			for _, target := range []string{"/Customers/43", "/CUSTOMERS/43/", "/cUsToMeRs/43", "/ADMIN", "/Admin/", "/adm%C4%B1n"} {
				r := get(target, sam)
				if h := handler(r); h == "customers" || h == "admin" {
					t.Errorf("sam GET %s: Express served its %s handler (status %d)", target, h, r.Status)
				}
				if r.Status != 400 && r.Status != 403 {
					t.Errorf("sam GET %s: status %d, want 400 or 403; body %.200s", target, r.Status, r.Body)
				}
			}
			// The control: what the rules allow reaches Express as judged.
			if r := get("/customers/43", eng); r.Status != 200 || handler(r) != "customers" {
				t.Errorf("eve GET /customers/43: status %d handler %q, want 200 customers", r.Status, handler(r))
			}
			if r := get("/welcome", sam); r.Status != 200 || handler(r) != "home" {
				t.Errorf("sam GET /welcome: status %d handler %q, want 200 home", r.Status, handler(r))
			}
			if pathCase == "insensitive" {
				// Declared as it is: /Customers/43 is the customers route,
				// judged by its rules.
				if r := get("/Customers/43", sam); r.Status != 403 {
					t.Errorf("sam GET /Customers/43 on the insensitive route: status %d, want 403", r.Status)
				}
				if r := get("/Customers/43", eng); r.Status != 200 || handler(r) != "customers" {
					t.Errorf("eve GET /Customers/43 on the insensitive route: status %d handler %q, want 200 customers", r.Status, handler(r))
				}
			}
		})
	}
}
