package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The directory watcher reports what can change a watched file — written
// and closed in place, renamed over, a Kubernetes "..data" swap, removed —
// and nothing for the writes of a busy file kept open beside it (the audit
// log next to the config): each of those would wake the watcher.
func TestDirWatcherLeavesBusyFilesAside(t *testing.T) {
	dir := t.TempDir()
	w, err := newDirWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	busy, err := os.Create(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	next := func(what string) fsnotify.Event {
		t.Helper()
		select {
		case ev := <-w.Events():
			return ev
		case err := <-w.Errors():
			t.Fatalf("%s: error %v", what, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no event", what)
		}
		return fsnotify.Event{}
	}
	// The busy file's creation is reported (a new file may be a watched
	// one); its writes are not.
	if ev := next("create audit.log"); ev.Name != busy.Name() || !ev.Has(fsnotify.Create) {
		t.Fatalf("first event %v, expected the creation of audit.log", ev)
	}
	for range 500 {
		if _, err := busy.WriteString(`{"kind":"decision"}` + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	write := func(p string) {
		t.Helper()
		if err := os.WriteFile(p, []byte("x: 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	// Created, then written and closed; nothing of audit.log's 500 writes
	// comes before.
	for _, want := range []fsnotify.Op{fsnotify.Create, fsnotify.Write} {
		if ev := next("write gateway.yaml"); ev.Name != cfg || !ev.Has(want) {
			t.Fatalf("event %v, expected %v of gateway.yaml", ev, want)
		}
	}
	write(cfg) // in place, again: written and closed
	if ev := next("rewrite gateway.yaml"); ev.Name != cfg || !ev.Has(fsnotify.Write) {
		t.Fatalf("event %v, expected a write of gateway.yaml", ev)
	}
	// An editor's rename over the file.
	write(cfg + ".tmp")
	for range 2 {
		next("write gateway.yaml.tmp") // created, written
	}
	if err := os.Rename(cfg+".tmp", cfg); err != nil {
		t.Fatal(err)
	}
	if ev := next("rename from"); ev.Name != cfg+".tmp" || !ev.Has(fsnotify.Rename) {
		t.Fatalf("event %v, expected gateway.yaml.tmp renamed away", ev)
	}
	if ev := next("rename to"); ev.Name != cfg || !ev.Has(fsnotify.Create) {
		t.Fatalf("event %v, expected gateway.yaml renamed in", ev)
	}
	// A ConfigMap volume's update: a new ..data_tmp symlink renamed over ..data.
	if err := os.Symlink("..2026_12_03", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	next("symlink")
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	next("rename ..data_tmp away")
	if ev := next("..data swap"); ev.Name != filepath.Join(dir, "..data") || !ev.Has(fsnotify.Create) {
		t.Fatalf("event %v, expected ..data renamed in", ev)
	}
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if ev := next("remove"); ev.Name != cfg || !ev.Has(fsnotify.Remove) {
		t.Fatalf("event %v, expected gateway.yaml removed", ev)
	}
	// More busy writes, then Close: no event, and the channels close.
	for range 100 {
		if _, err := busy.WriteString("{}\n"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ev := <-w.Events():
		t.Fatalf("unexpected event %v", ev)
	case <-time.After(100 * time.Millisecond):
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-w.Events():
		if ok {
			t.Fatal("an event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Events not closed after Close")
	}
}
