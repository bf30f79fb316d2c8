package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have cut bits
		t.Fatal(err)
	}
	return path
}

func b64(fill byte, n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

func TestLoadKeyringCreates(t *testing.T) {
	// Never a folder: a missing one is reported, and nothing is made.
	root := t.TempDir()
	var missing *MissingFolderError
	if _, err := LoadKeyring(filepath.Join(root, "new", "dir", "keyring"), true); !errors.As(err, &missing) || missing.Folder != filepath.Join(root, "new", "dir") {
		t.Fatalf("a key file in a missing folder: %v, want MissingFolderError", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("folders were created: %v", entries)
	}
	path := filepath.Join(root, "keyring")
	k, err := LoadKeyring(path, true)
	if err != nil {
		t.Fatalf("LoadKeyring(create): %v", err)
	}
	if id := k.ActiveID(); !strings.HasPrefix(id, "k1-") || len(id) != 11 {
		t.Errorf("generated id = %q, want k1-<8 chars>", id)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %04o, want 0600", got)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".keyring-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	again, err := LoadKeyring(path, true)
	if err != nil {
		t.Fatalf("LoadKeyring(existing): %v", err)
	}
	sealed := k.Seal([]byte("seed"), nil)
	if got, _, err := again.Open(sealed, nil); err != nil || string(got) != "seed" {
		t.Errorf("reloaded ring Open = (%q, %v), want the same key", got, err)
	}
}

func TestLoadKeyringCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	rings := make([]*Keyring, 8)
	var wg sync.WaitGroup
	for i := range rings {
		wg.Go(func() {
			k, err := LoadKeyring(path, true)
			if err != nil {
				t.Errorf("LoadKeyring: %v", err)
			}
			rings[i] = k
		})
	}
	wg.Wait()
	for _, k := range rings {
		if k != nil && k.ActiveID() != rings[0].ActiveID() {
			t.Errorf("active ids differ: %s vs %s; want every starter to share one key", k.ActiveID(), rings[0].ActiveID())
		}
	}
}

func TestLoadKeyringMissingWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent")
	if _, err := LoadKeyring(path, false); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadKeyring(missing) error = %v, want one naming %s", err, path)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("LoadKeyring(create=false) created the file (stat err %v)", err)
	}
}

func TestLoadKeyringParses(t *testing.T) {
	content := "# rotated 2026-01\n\n  k2 " + b64(2, 32) + "  \n# old\nk1\t" + b64(1, 32) + "\n"
	k, err := LoadKeyring(writeFile(t, content, 0o600), false)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	if got := strings.Join(k.IDs(), ","); got != "k2,k1" {
		t.Errorf("ids = %s, want k2,k1 (file order, first active)", got)
	}
	want := mustRing(t, testKey("k2", 2))
	if !want.VerifyMAC("p", nil, k.MAC("p", nil)) {
		t.Error("loaded key bytes differ from the file's")
	}
}

func TestLoadKeyringRefusesOpenPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		path := writeFile(t, "k1 "+b64(1, 32)+"\n", mode)
		_, err := LoadKeyring(path, true)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: got %v, want an error naming the fix (chmod 600 %s)", mode, err, path)
		}
	}
}

func TestLoadKeyringMalformed(t *testing.T) {
	secretText := b64(7, 32)
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty file", "", "has no keys"},
		{"comments only", "# nothing\n\n", "has no keys"},
		{"one field", "# c\n" + secretText + "\n", "line 2: want"},
		{"three fields", "k1 " + secretText + " extra\n", "line 1: want"},
		{"bad base64", "k1 " + secretText[:20] + "!!!\n", "line 1: key \"k1\" is not valid standard base64"},
		{"short key", "k1 " + b64(7, 16) + "\n", "line 1: key \"k1\" is 16 bytes, want 32"},
		{"bad id", "k/1 " + secretText + "\n", "line 1: key id \"k/1\""},
		{"duplicate id", "k1 " + secretText + "\nk1 " + b64(8, 32) + "\n", "line 2: duplicate key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content, 0o600)
			_, err := LoadKeyring(path, false)
			if err == nil {
				t.Fatal("LoadKeyring: got nil error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, path) {
				t.Errorf("error = %q, want it to name %s and contain %q", msg, path, tt.want)
			}
			if strings.Contains(msg, secretText[:12]) {
				t.Errorf("error leaks key material: %q", msg)
			}
		})
	}
}

func TestLoadKeyringRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(dir, false); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadKeyring(dir) = %v, want not a regular file", err)
	}
}
