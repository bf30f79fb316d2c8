//go:build unix

package preflight

import "syscall"

// writable asks the kernel whether this process may write path (and,
// for a folder, enter it), judged as the write itself would be.
func writable(path string, folder bool) error {
	const wOK, xOK = 0x2, 0x1 // access(2) modes, the same on every Unix
	mode := uint32(wOK)
	if folder {
		mode |= xOK
	}
	return syscall.Access(path, mode)
}
