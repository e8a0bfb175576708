package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/token"
)

// auditFixture writes a signed, rotated audit log with the key `gateway keys
// generate` makes, and its JWKS as the gateway serves it.
func auditFixture(t *testing.T) (dir string, files []string) {
	t.Helper()
	dir = t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	var out bytes.Buffer
	if err := keys(&out, []string{"generate", "--out", keyFile}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(keyFile)
	block, _ := pem.Decode(b)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(token.Config{Keys: []token.KeyConfig{{File: keyFile, State: token.StateActive}}}, "https://gw.example")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "jwks.json"), signer.JWKS(), 0o600)
	path := filepath.Join(dir, "audit.jsonl")
	l, err := audit.OpenOptions(audit.Options{File: path, Signer: priv.(crypto.Signer), KeyID: signer.KeyID(),
		CheckpointEvery: 4, RotateSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := l.Commit(context.Background(), audit.Record{Kind: audit.KindDecision, User: "ann@corp.example", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, _ := filepath.Glob(path + ".*")
	return dir, append(rotated, path)
}

// firstSeq is the seq of the first record in path.
func firstSeq(t *testing.T, path string) uint64 {
	t.Helper()
	b, _ := os.ReadFile(path)
	var r struct{ Seq uint64 }
	if err := json.Unmarshal(b[:bytes.IndexByte(b, '\n')], &r); err != nil {
		t.Fatal(err)
	}
	return r.Seq
}

// anchorOf is the --after anchor an ok verification of files prints: its
// last seq and hash.
func anchorOf(t *testing.T, files []string) string {
	t.Helper()
	var out bytes.Buffer
	if err := auditCmd(context.Background(), &out, append([]string{"verify"}, files...)); err != nil {
		t.Fatalf("verify %v: %v %s", files, err, out.String())
	}
	m := regexp.MustCompile(`seq \d+-(\d+),.*last hash ([0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("summary %q: no last seq and hash", out.String())
	}
	return m[1] + ":" + m[2]
}

func TestAuditVerify(t *testing.T) {
	dir, files := auditFixture(t)
	if len(files) < 4 {
		t.Fatalf("files %v: want three rotations", files)
	}
	tampered := filepath.Join(dir, "tampered.jsonl")
	b, _ := os.ReadFile(files[0])
	os.WriteFile(tampered, bytes.Replace(b, []byte("ann@corp.example"), []byte("bob@corp.example"), 1), 0o600)
	other := filepath.Join(dir, "other.pem")
	keys(&bytes.Buffer{}, []string{"generate", "--out", other})
	// A file written from scratch by someone who can write it but not sign:
	// one record, its hash right, no checkpoint.
	body := `{"seq":1,"prev":"` + strings.Repeat("0", 64) + `","time":"2026-11-30T09:00:00Z","kind":"decision","user":"ann@corp.example","decision":"allow"`
	sum := sha256.Sum256([]byte(body))
	unsigned := filepath.Join(dir, "unsigned.jsonl")
	os.WriteFile(unsigned, []byte(body+`,"hash":"`+hex.EncodeToString(sum[:])+`"}`+"\n"), 0o600)

	// A shell glob of audit.jsonl* lists the current file first.
	glob, _ := filepath.Glob(filepath.Join(dir, "audit.jsonl*"))
	if len(glob) != len(files) || glob[0] != files[len(files)-1] {
		t.Fatalf("glob %v, want the files %v with the current one first", glob, files)
	}
	// The seq before files[1] with the hash of another record.
	first, second := anchorOf(t, files[:1]), anchorOf(t, files[:2])
	wrongAnchor := first[:strings.IndexByte(first, ':')] + second[strings.IndexByte(second, ':'):]
	cases := map[string]struct {
		args []string
		code int // 0 ok, else the exit code
		out  string
	}{
		"chain only":          {append([]string{"verify"}, files...), 0, "signatures not checked"},
		"with the JWKS":       {append([]string{"verify", "--jwks", filepath.Join(dir, "jwks.json")}, files...), 0, "signatures verified"},
		"with the key, after": {append(append([]string{"verify"}, files...), "--key", filepath.Join(dir, "key.pem")), 0, "signatures verified"},
		"edited record":       {append([]string{"verify", tampered}, files[1:]...), 1, "FAIL " + tampered + ":2: seq 2: modified"},
		"file missing": {append([]string{"verify"}, files[1:]...), 1,
			"FAIL " + files[1] + ":1: seq " + fmt.Sprint(firstSeq(t, files[1])) + ": starts later: expected seq 1"},
		"file missing, allowed": {append([]string{"verify", "--allow-partial"}, files[1:]...), 0, "earlier files not given, nothing anchors the start"},
		"file missing, anchored": {append([]string{"verify", "--after", anchorOf(t, files[:1])}, files[1:]...), 0,
			fmt.Sprintf("continues the anchor at seq %d", firstSeq(t, files[1])-1)},
		"file missing, wrong anchor": {append([]string{"verify", "--after", wrongAnchor}, files[1:]...), 1,
			"FAIL " + files[1] + ":1: seq " + fmt.Sprint(firstSeq(t, files[1])) + ": anchor mismatch: expected prev " + wrongAnchor[strings.IndexByte(wrongAnchor, ':')+1:]},
		"anchor and partial": {[]string{"verify", "--after", anchorOf(t, files[:1]), "--allow-partial", files[1]}, -1, ""},
		"bad anchor":         {[]string{"verify", "--after", "12:abc", files[1]}, -1, ""},
		// verify orders the files by their first record's seq, and says so.
		"file out of order": {append([]string{"verify"}, append(files[1:], files[0])...), 0, "given out of chain order"},
		"as a glob lists them, the current file first": {append([]string{"verify", "--key", filepath.Join(dir, "key.pem")}, glob...), 0,
			"signatures verified"},
		"file out of order, middle file missing": {append([]string{"verify"}, files[2], files[0]), 1,
			"FAIL " + files[2] + ":1: seq " + fmt.Sprint(firstSeq(t, files[2])) + ": missing or out of order"},
		"file given twice": {append([]string{"verify"}, append(files, files[1])...), 1,
			"FAIL " + files[1] + ":1: seq " + fmt.Sprint(firstSeq(t, files[1])) + ": inserted or out of order"},
		"files given in reverse, one missing, partial allowed": {append([]string{"verify", "--allow-partial"}, files[3], files[1]), 1,
			"FAIL " + files[3] + ":1: seq " + fmt.Sprint(firstSeq(t, files[3])) + ": missing or out of order"},
		"another key":        {append([]string{"verify", "--key", other}, files...), 1, "bad checkpoint signature"},
		"bad flag":           {[]string{"verify", "--nope", files[0]}, 2, ""},
		"forged, chain only": {[]string{"verify", unsigned}, 0, "ok: 1 file(s), 1 records"},
		"forged, with the key": {[]string{"verify", "--key", filepath.Join(dir, "key.pem"), unsigned}, 1,
			"FAIL " + unsigned + ":1: seq 1: unsigned start"},
		// Signatures do not anchor the start: they show who wrote the
		// records, not that no file before them was deleted.
		"later files, with the key": {[]string{"verify", "--key", filepath.Join(dir, "key.pem"), files[len(files)-1]}, 1, "starts later"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := auditCmd(context.Background(), &out, c.args)
			var ee exitError
			code := 0
			if errors.As(err, &ee) {
				code = int(ee)
			} else if err != nil && c.code != -1 {
				t.Fatalf("auditCmd: %v", err)
			} else if err != nil {
				code = -1 // an error before any file was read
			}
			if code != c.code || !strings.Contains(out.String(), c.out) {
				t.Fatalf("exit %d, output %q; want exit %d and %q", code, out.String(), c.code, c.out)
			}
			if c.code == 0 && strings.Count(out.String(), "\n") != 1 {
				t.Errorf("want a one-line summary, got %q", out.String())
			}
		})
	}
	// Files given in chain order verify without a remark on the order.
	var out bytes.Buffer
	if err := auditCmd(context.Background(), &out, append([]string{"verify"}, files...)); err != nil || strings.Contains(out.String(), "order") {
		t.Errorf("verify in order: %v, %q; want ok without a remark on the order", err, out.String())
	}
	for _, args := range [][]string{nil, {"check"}, {"verify"}, {"verify", "--jwks", filepath.Join(dir, "nope.json"), files[0]}} {
		if err := auditCmd(context.Background(), &bytes.Buffer{}, args); err == nil {
			t.Errorf("auditCmd(%q) = nil, want an error", args)
		}
	}
}
