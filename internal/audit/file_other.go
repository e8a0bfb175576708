//go:build !unix

package audit

import "io/fs"

// removed reports whether f, the open audit file, has no name left; where
// the link count cannot be read, never.
func removed(file) bool { return false }

// linked reports whether fi counts a link; where links cannot be read, no.
func linked(fs.FileInfo) bool { return false }
