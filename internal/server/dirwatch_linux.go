package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// dirMask is what a watched directory reports: a file created, renamed in
// or out, removed, or closed after writing — not every write. A directory
// often holds a busy file beside the watched ones (the audit log next to
// the config file), and IN_MODIFY would wake the watcher for each of its
// writes: measured in the black-box benchmark, ~15 % of the gateway's
// throughput when the audit log shared the config's directory
// (docs/performance.md). A file written in place without being closed (a
// process that keeps it open) is seen by the minute's poll instead.
const dirMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// errOverflow is reported when the kernel dropped events (its queue was
// full): something may have changed unseen.
var errOverflow = errors.New("inotify: event queue overflowed; events were lost")

// inotifyWatcher watches directories with inotify and dirMask. fsnotify
// cannot narrow its mask (its option for it is unexported), hence this.
type inotifyWatcher struct {
	f      *os.File
	fd     int
	events chan fsnotify.Event
	errs   chan error
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	dirs map[int]string // watch descriptor → directory
}

func newDirWatcher() (dirWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &inotifyWatcher{f: os.NewFile(uintptr(fd), "inotify"), fd: fd,
		events: make(chan fsnotify.Event, 64), errs: make(chan error, 1), done: make(chan struct{}), dirs: map[int]string{}}
	go w.read()
	return w, nil
}

func (w *inotifyWatcher) Events() <-chan fsnotify.Event { return w.events }
func (w *inotifyWatcher) Errors() <-chan error          { return w.errs }

func (w *inotifyWatcher) Add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := unix.InotifyAddWatch(w.fd, dir, dirMask)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	w.dirs[wd] = dir
	return nil
}

// Remove stops watching dir; nil when it is not watched (the kernel drops
// the watch of a removed directory by itself).
func (w *inotifyWatcher) Remove(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wd, d := range w.dirs {
		if d != dir {
			continue
		}
		delete(w.dirs, wd)
		if _, err := unix.InotifyRmWatch(w.fd, uint32(wd)); err != nil && !errors.Is(err, unix.EINVAL) {
			return &os.PathError{Op: "inotify_rm_watch", Path: dir, Err: err}
		}
	}
	return nil
}

// Close stops the reader; Events and Errors are closed after it.
func (w *inotifyWatcher) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.f.Close()
}

// read turns the kernel's events into fsnotify's, until Close.
func (w *inotifyWatcher) read() {
	defer close(w.events)
	defer close(w.errs)
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.report(fmt.Errorf("inotify: read: %w", err))
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			end := off + unix.SizeofInotifyEvent + int(raw.Len)
			if end > n {
				break // never split by the kernel; stop rather than misread
			}
			name := string(buf[off+unix.SizeofInotifyEvent : end])
			off = end
			if raw.Mask&unix.IN_Q_OVERFLOW != 0 {
				w.report(errOverflow)
				continue
			}
			w.mu.Lock()
			dir, ok := w.dirs[int(raw.Wd)]
			if raw.Mask&unix.IN_IGNORED != 0 {
				delete(w.dirs, int(raw.Wd))
			}
			w.mu.Unlock()
			op := opOf(raw.Mask)
			if !ok || op == 0 {
				continue
			}
			ev := fsnotify.Event{Name: dir, Op: op}
			if name = strings.TrimRight(name, "\x00"); name != "" {
				ev.Name = filepath.Join(dir, name)
			}
			select {
			case w.events <- ev:
			case <-w.done:
				return
			}
		}
	}
}

func (w *inotifyWatcher) report(err error) {
	select {
	case w.errs <- err:
	default: // one unread error is enough to make the watcher look
	}
}

func opOf(mask uint32) fsnotify.Op {
	var op fsnotify.Op
	if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
		op |= fsnotify.Create
	}
	if mask&unix.IN_CLOSE_WRITE != 0 {
		op |= fsnotify.Write
	}
	if mask&(unix.IN_DELETE|unix.IN_DELETE_SELF) != 0 {
		op |= fsnotify.Remove
	}
	if mask&(unix.IN_MOVED_FROM|unix.IN_MOVE_SELF) != 0 {
		op |= fsnotify.Rename
	}
	return op
}
