//go:build unix

package secret

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// statInfo is a file's metadata with the owner chosen by the test, so
// the rule is tried for any owner without root or chown.
type statInfo struct {
	mode os.FileMode
	uid  uint32
}

func (s statInfo) Name() string       { return "gatehouse.keys" }
func (s statInfo) Size() int64        { return 50 }
func (s statInfo) Mode() os.FileMode  { return s.mode }
func (s statInfo) ModTime() time.Time { return time.Time{} }
func (s statInfo) IsDir() bool        { return false }
func (s statInfo) Sys() any           { return &syscall.Stat_t{Uid: s.uid} }

// TestKeyringModeForServiceUser: PostgreSQL's key-file rule. A non-root
// service reading a root-owned file its group may read (how Kubernetes
// mounts a Secret: root:fsGroup, 0440) is accepted; the same mode on a
// file the service owns, any mode others may read, a group-readable
// file when the service itself is root, and any file a third account
// owns, are not.
func TestKeyringModeForServiceUser(t *testing.T) {
	const service = 65532
	for _, c := range []struct {
		mode  os.FileMode
		owner uint32
		euid  int
		ok    bool
	}{
		{0o440, 0, service, true}, {0o640, 0, service, true}, {0o400, 0, service, true},
		{0o644, 0, service, false}, {0o660, 0, service, false}, {0o604, 0, service, false},
		{0o640, service, service, false}, {0o600, service, service, true},
		{0o640, 0, 0, false}, {0o600, 0, 0, true},
		// A third account's file: it could read and replace the secret.
		{0o600, 1000, 0, false}, {0o400, 1000, service, false}, {0o440, 1000, service, false},
	} {
		err := privateMode("gatehouse.keys", statInfo{c.mode, c.owner}, c.euid)
		if (err == nil) != c.ok {
			t.Errorf("mode %04o owned by %d, read by uid %d: %v, want ok=%v", c.mode, c.owner, c.euid, err, c.ok)
		}
	}
}
