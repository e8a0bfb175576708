//go:build !linux

package server

import (
	"errors"

	"github.com/fsnotify/fsnotify"
)

// fsnotifyWatcher watches directories with fsnotify's defaults (on Linux,
// dirwatch_linux.go narrows inotify's mask to leave busy files aside).
type fsnotifyWatcher struct{ w *fsnotify.Watcher }

func newDirWatcher() (dirWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return fsnotifyWatcher{w}, nil
}

func (f fsnotifyWatcher) Add(dir string) error { return f.w.Add(dir) }
func (f fsnotifyWatcher) Remove(dir string) error {
	if err := f.w.Remove(dir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		return err
	}
	return nil
}
func (f fsnotifyWatcher) Events() <-chan fsnotify.Event { return f.w.Events }
func (f fsnotifyWatcher) Errors() <-chan error          { return f.w.Errors }
func (f fsnotifyWatcher) Close() error                  { return f.w.Close() }
