// Command vulncheck runs govulncheck over the module with an offline copy of
// the Go vulnerability database, for `make lint`.
//
// The database comes from the golang.org/x/vulndb module (served by the Go
// module proxy, unlike vuln.go.dev), pinned below; vulncheck writes its OSV
// entries in the layout govulncheck reads with -db file://DIR (index/db.json,
// index/modules.json, ID/<id>.json), cached under the user cache directory.
//
// It fails (exit 1) on every vulnerability govulncheck finds that the
// gateway's code calls in a module it requires: those are ours to fix by
// upgrading the module. Vulnerabilities of the Go standard library are
// reported with the Go release that fixes them but do not fail the check:
// the toolchain is the machine's (GOTOOLCHAIN=local), and upgrading it is an
// operator's step, printed as such.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

const (
	vulndbModule = "golang.org/x/vulndb"
	vulndbVer    = "v0.0.0-20261105234957-e22db6528018"
	govulncheck  = "golang.org/x/vuln/cmd/govulncheck@v1.9.0"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(1)
	}
}

func run() error {
	db, err := database()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "run", govulncheck, "-db", "file://"+db, "-format", "json", "./...")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	called, err := findings(out)
	if werr := cmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("govulncheck: %w", werr)
	}
	if err != nil {
		return err
	}
	var ours, std []string
	for _, f := range called {
		line := fmt.Sprintf("%s in %s@%s (fixed in %s)", f.id, f.module, f.version, f.fixed)
		if f.module == "stdlib" || f.module == "toolchain" {
			std = append(std, line)
		} else {
			ours = append(ours, line)
		}
	}
	sort.Strings(ours)
	sort.Strings(std)
	for _, l := range std {
		fmt.Println("vulncheck: standard library (upgrade the Go toolchain):", l)
	}
	for _, l := range ours {
		fmt.Println("vulncheck: CALLED:", l)
	}
	if len(ours) > 0 {
		return fmt.Errorf("%d vulnerabilities in required modules are reachable from the gateway's code; upgrade those modules", len(ours))
	}
	fmt.Printf("vulncheck: no reachable vulnerability in required modules (%d in the standard library of this Go release)\n", len(std))
	return nil
}

type finding struct{ id, module, version, fixed string }

// findings reads govulncheck's JSON stream and returns the findings at
// symbol level (the code calls the vulnerable function), one per ID.
func findings(r io.Reader) ([]finding, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	seen := map[string]bool{}
	var out []finding
	for {
		var msg struct {
			Finding *struct {
				OSV   string `json:"osv"`
				Fixed string `json:"fixed_version"`
				Trace []struct {
					Module   string `json:"module"`
					Version  string `json:"version"`
					Function string `json:"function"`
				} `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" || seen[f.OSV] {
			continue
		}
		seen[f.OSV] = true
		out = append(out, finding{id: f.OSV, module: f.Trace[0].Module, version: f.Trace[0].Version, fixed: f.Fixed})
	}
}

// database returns the directory of the offline database, building it
// from the pinned vulndb module when it is not cached yet.
func database() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "gateway-vulndb", vulndbVer)
	if _, err := os.Stat(filepath.Join(dir, "index", "modules.json")); err == nil {
		return dir, nil
	}
	b, err := exec.Command("go", "mod", "download", "-json", vulndbModule+"@"+vulndbVer).Output()
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w", vulndbModule, vulndbVer, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(b, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("download %s: %s", vulndbModule, m.Error)
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := build(filepath.Join(m.Dir, "data", "osv"), tmp); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// build writes the database layout of govulncheck's file:// source.
func build(osvDir, out string) error {
	entries, err := os.ReadDir(osvDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}
	type vuln struct {
		ID       string `json:"id"`
		Modified string `json:"modified"`
		Fixed    string `json:"fixed,omitempty"`
	}
	modules := map[string][]vuln{}
	latest := ""
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(osvDir, e.Name()))
		if err != nil {
			return err
		}
		var entry struct {
			ID       string `json:"id"`
			Modified string `json:"modified"`
			Affected []struct {
				Package struct {
					Name string `json:"name"`
				} `json:"package"`
				Ranges []struct {
					Events []struct {
						Fixed string `json:"fixed"`
					} `json:"events"`
				} `json:"ranges"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(raw, &entry); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", entry.ID+".json"), raw, 0o644); err != nil {
			return err
		}
		if entry.Modified > latest {
			latest = entry.Modified
		}
		for _, a := range entry.Affected {
			v := vuln{ID: entry.ID, Modified: entry.Modified}
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if ev.Fixed != "" {
						v.Fixed = ev.Fixed
					}
				}
			}
			modules[a.Package.Name] = append(modules[a.Package.Name], v)
		}
	}
	type module struct {
		Path  string `json:"path"`
		Vulns []vuln `json:"vulns"`
	}
	var list []module
	for p, v := range modules {
		list = append(list, module{Path: p, Vulns: v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	write := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, "index", name), b, 0o644)
	}
	if err := write("modules.json", list); err != nil {
		return err
	}
	return write("db.json", map[string]string{"modified": latest})
}
