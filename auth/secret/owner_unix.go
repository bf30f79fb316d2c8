//go:build unix

package secret

import (
	"os"
	"syscall"
)

// fileOwner is the uid owning fi's file.
func fileOwner(fi os.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
