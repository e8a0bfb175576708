package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
)

// Timings of Watch.
const (
	// watchDebounce is how long Watch waits after the last relevant event
	// before it looks at the files: changes within it are taken together
	// (a Secret update swaps a certificate and its key at once).
	watchDebounce = 200 * time.Millisecond
	// watchPoll is how often Watch reads the files without an event, in
	// case one was missed (a file system without inotify, a bind mount).
	watchPoll = time.Minute
	// watchRewatch is how often Watch tries to watch a directory again
	// that was removed or moved away, until it is back.
	watchRewatch = time.Second
)

// WatchedFiles returns every file whose change reloads cfg, loaded from
// configPath: the file itself; listen.tls's certificate and key; the
// context token's key files; the session encryption key files;
// session.redis.tls.ca_file; every route's upstream_ca_file; and the files
// of requirement kinds that watch some (the device inventory, the device
// CA, the EK CA bundles). Paths are absolute when cfg came from a file.
func WatchedFiles(configPath string, cfg *config.Config) []string {
	files := []string{configPath}
	add := func(f string) {
		if f != "" && f != "-" && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	if t := cfg.Listen.TLS; t != nil {
		add(t.CertFile)
		add(t.KeyFile)
	}
	if cfg.Token != nil {
		for _, k := range cfg.Token.Keys {
			add(k.File)
		}
	}
	for _, k := range cfg.Session.EncryptionKeys {
		add(k.File)
	}
	if r := cfg.Session.Redis; r != nil {
		add(r.TLS.CAFile)
	}
	for _, r := range cfg.Routes {
		add(r.UpstreamCAFile)
	}
	for _, k := range kinds.All {
		if fw, ok := k.(requirement.FileWatcher); ok && cfg.Section(k.Name()) != nil {
			for _, f := range fw.WatchFiles(cfg.Section(k.Name())) {
				add(f)
			}
		}
	}
	return files
}

// Watch reloads when the config file or any file it names that rotates
// changes (WatchedFiles), until ctx ends. It watches the files' directories,
// so an editor's rename-and-replace, a Kubernetes ConfigMap or Secret volume
// update (an atomic swap of the "..data" symlink) and cert-manager's renewals
// all count. Events are debounced; then the files' contents are compared
// with those of the last load and only a real change reloads. The files are
// also read every minute, in case an event was missed.
//
// A reload builds the whole gateway anew and swaps it in only when every
// part succeeded, so a half-written or bad file (a key that does not parse,
// a certificate without its key) is rejected, logged and counted
// (gateway_config_reloads_total{result="error"}), and the last good set
// keeps serving until the files change again. After a successful reload the
// set of watched files is that of the new configuration; after a rejected
// one it also holds the files the rejected configuration names, so that a
// configuration applied before its key files were mounted loads when they
// appear.
func (s *Server) Watch(ctx context.Context) error {
	if s.opts.ConfigPath == "" {
		return nil
	}
	w, err := newDirWatcher()
	if err != nil {
		return fmt.Errorf("server: watch: %w", err)
	}
	wt := &watcher{s: s, w: w, dirs: map[string]bool{}}
	wt.files = WatchedFiles(s.opts.ConfigPath, s.Config())
	if err := wt.addDirs(); err != nil {
		w.Close()
		return err
	}
	wt.sums = fingerprint(wt.files)
	go wt.run(ctx)
	return nil
}

// dirWatcher reports changes in directories (dirwatch_linux.go: inotify
// with a narrow mask; elsewhere fsnotify). Events and Errors are closed
// after Close.
type dirWatcher interface {
	Add(dir string) error
	// Remove stops watching dir (nil when it is not watched).
	Remove(dir string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

// watcher is Watch's state; only its goroutine touches it.
type watcher struct {
	s     *Server
	w     dirWatcher
	files []string
	dirs  map[string]bool
	sums  map[string]string
}

// addDirs watches each directory of the files not watched yet; it tries
// them all, and returns the errors of those it could not watch.
func (wt *watcher) addDirs() error {
	var errs []error
	for _, f := range wt.files {
		dir := filepath.Dir(f)
		if wt.dirs[dir] {
			continue
		}
		if err := wt.w.Add(dir); err != nil {
			errs = append(errs, fmt.Errorf("server: watch %s: %w", dir, err))
			continue
		}
		wt.dirs[dir] = true
	}
	return errors.Join(errs...)
}

// lost handles an event on a watched directory itself: removed, or moved
// away (its watch would follow it to its new name). It reports whether ev
// was one; the directory is then watched again when it is back.
func (wt *watcher) lost(ev fsnotify.Event) bool {
	if !wt.dirs[ev.Name] || !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return false
	}
	_ = wt.w.Remove(ev.Name)
	delete(wt.dirs, ev.Name)
	wt.s.logger.Warn("config watch: a watched directory was removed or moved away; watching for it to come back", "dir", ev.Name)
	return true
}

func (wt *watcher) run(ctx context.Context) {
	defer wt.w.Close()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	poll := time.NewTicker(watchPoll)
	defer poll.Stop()
	// rewatch ticks while a directory of the watched files is not watched
	// (removed, moved away, or not there yet).
	var rewatch *time.Ticker
	var rewatchC <-chan time.Time
	defer func() {
		if rewatch != nil {
			rewatch.Stop()
		}
	}()
	missing := func() {
		if rewatch == nil {
			rewatch = time.NewTicker(watchRewatch)
			rewatchC = rewatch.C
		}
	}
	for {
		select {
		case <-ctx.Done():
			debounce.Stop()
			return
		case ev, ok := <-wt.w.Events():
			if !ok {
				return
			}
			if wt.lost(ev) {
				missing()
				debounce.Reset(watchDebounce)
				continue
			}
			if relevant(ev, wt.files) {
				debounce.Reset(watchDebounce)
			}
		case <-rewatchC:
			if wt.addDirs() == nil {
				rewatch.Stop()
				rewatch, rewatchC = nil, nil
				wt.s.logger.Info("config watch: every directory of the watched files is watched again")
				// Files written there before the watch held are seen now.
				debounce.Reset(watchDebounce)
			}
		case err, ok := <-wt.w.Errors():
			if !ok {
				return
			}
			// Events may have been lost: look at the files.
			wt.s.logger.Warn("config watch error; reading the watched files", "err", err)
			debounce.Reset(watchDebounce)
		case <-debounce.C:
			if wt.check(ctx) {
				debounce.Reset(watchDebounce)
			}
		case <-poll.C:
			if wt.check(ctx) {
				debounce.Reset(watchDebounce)
			}
		}
		if wt.unwatched() {
			missing()
		}
	}
}

// watchAfterReload, when set (tests only), runs between a reload attempt
// and the watcher's look at the files the configuration names.
var watchAfterReload atomic.Pointer[func()]

// check reloads if a watched file's content changed since the last look.
// It reports whether to look again soon: a file the new configuration
// names changed while the reload was being tried (perhaps before its
// directory was watched, when no event tells).
func (wt *watcher) check(ctx context.Context) (again bool) {
	sums := fingerprint(wt.files)
	var changed []string
	for _, f := range wt.files {
		if sums[f] != wt.sums[f] {
			changed = append(changed, f)
		}
	}
	if len(changed) == 0 {
		return false
	}
	// The attempt is remembered even if it fails: a rejected set is not
	// retried until a file changes again (or SIGHUP).
	wt.sums = sums
	wt.s.logger.Info("watched files changed; reloading", "files", changed)
	// The files the configuration now names, as they are before the reload
	// reads them: one that appears or changes after this look (a Secret
	// mounted a moment after its ConfigMap) differs at the next one.
	var named []string
	cfg, lerr := config.LoadFile(wt.s.opts.ConfigPath, wt.s.opts.LoadOptions)
	if lerr == nil {
		named = WatchedFiles(wt.s.opts.ConfigPath, cfg)
	}
	before := fingerprint(named)
	files := wt.files
	if err := wt.s.Reload(ctx); err == nil {
		files = WatchedFiles(wt.s.opts.ConfigPath, wt.s.Config())
	} else if lerr == nil {
		// Rejected, but the file itself loads: most likely it names a key
		// or certificate that is not there yet (a ConfigMap applied before
		// its Secret was mounted). Watch those files too, so that the
		// reload is tried again when they appear.
		for _, f := range named {
			if !slices.Contains(files, f) {
				files = append(slices.Clip(files), f)
			}
		}
	}
	if f := watchAfterReload.Load(); f != nil {
		(*f)()
	}
	if slices.Equal(files, wt.files) {
		return false
	}
	wt.files = files
	if err := wt.addDirs(); err != nil {
		wt.s.logger.Warn("config watch: cannot watch a new file's directory yet; trying again every second", "err", err)
	}
	// The files watched before keep the fingerprints taken before the
	// reload read them: one changed while the reload was being built (a
	// second edit, a Secret mounted a moment later) differs at the next
	// look and is loaded then, instead of being taken as seen. Only the
	// files new to the set are fingerprinted now.
	next := fingerprint(files)
	for f, sum := range before {
		if cur, ok := next[f]; ok {
			if cur != sum {
				again = true // changed while the reload was tried
			}
			next[f] = sum
		}
	}
	for f, sum := range sums {
		if _, ok := next[f]; ok {
			next[f] = sum
		}
	}
	wt.sums = next
	return again
}

// unwatched reports whether a directory of the watched files is not watched.
func (wt *watcher) unwatched() bool {
	for _, f := range wt.files {
		if !wt.dirs[filepath.Dir(f)] {
			return true
		}
	}
	return false
}

// fingerprint hashes each file's content ("" when it cannot be read).
func fingerprint(files []string) map[string]string {
	out := make(map[string]string, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			out[f] = "unreadable: " + err.Error()
			continue
		}
		sum := sha256.Sum256(b)
		out[f] = string(sum[:])
	}
	return out
}

// relevant reports whether ev may have changed one of files: an event on
// one of their names in their directories, or on Kubernetes' "..data"
// symlink (a ConfigMap or Secret volume update swaps it).
func relevant(ev fsnotify.Event, files []string) bool {
	if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) {
		return false
	}
	n := filepath.Base(ev.Name)
	for _, f := range files {
		if filepath.Dir(f) != filepath.Dir(ev.Name) {
			continue
		}
		if n == "..data" || filepath.Base(f) == n {
			return true
		}
	}
	return false
}
