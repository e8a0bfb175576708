// Package templates holds the gateway's HTML pages, embedded with go:embed
// and parsed once at start. An operator may override any page by placing a
// file of the same name in a directory (config templates.dir); the override
// is parsed at load time, so a broken template fails the config, not a
// request.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
)

//go:embed *.html
var files embed.FS

// Pages are the parsed templates.
type Pages struct {
	t *template.Template
}

// Load parses the embedded pages, then any overrides found in dir.
func Load(dir string) (*Pages, error) {
	t, err := template.New("").ParseFS(files, "*.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if dir != "" {
		matches, err := filepath.Glob(filepath.Join(dir, "*.html"))
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			if _, err := t.New(filepath.Base(m)).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", m, err)
			}
		}
	}
	return &Pages{t: t}, nil
}

// Render executes page into w. It renders into a buffer first so a template
// error never sends half a page.
func (p *Pages) Render(w io.Writer, page string, data any) error {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, page, data); err != nil {
		return fmt.Errorf("templates: %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
