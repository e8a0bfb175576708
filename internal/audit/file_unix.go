//go:build unix

package audit

import (
	"io/fs"
	"syscall"
)

// removed reports whether f, the open audit file, has no name left: it was
// removed (or its directory was), so what is written to it is gone when the
// process ends. One fstat, no allocation. A file without a descriptor, or
// whose descriptor cannot be read, is taken as present (its write says
// more).
func removed(f file) bool {
	d, ok := f.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(d.Fd()), &st); err != nil {
		return false
	}
	return st.Nlink == 0
}

// linked reports whether fi, the open audit file's, counts at least one
// link: a file system that counts none (some FUSE ones) never shows a
// removal, and its files are not taken as removed.
func linked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 0
}
