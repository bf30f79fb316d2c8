package secret

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxFileSize bounds what LoadKeyring reads: a keyring is a few lines.
const maxFileSize = 64 << 10

// fileHeader starts every generated keyring file, so whoever opens it
// knows how to rotate without reading the source.
const fileHeader = `# Gatehouse keyring: one key per line, "<id> <base64 of 32 bytes>".
# The first key is active. To rotate, add a new line at the top; remove an
# old line only once nothing sealed under it remains. Keep this file mode 600.
`

// LoadKeyring reads the keyring file at path: one key per line,
// "<id> <base64 of 32 bytes>", blank lines and lines starting with '#'
// ignored, first key active. With create set and no file at path, it
// generates a key, writes a new file (mode 0600, parent directories 0700)
// and returns it. A file that group or others may read is refused: the
// keys decrypt every TOTP seed.
func LoadKeyring(path string, create bool) (*Keyring, error) {
	if path == "" {
		return nil, errors.New("secret: keyring path is empty")
	}
	data, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return createKeyring(path)
	}
	if err != nil {
		return nil, err
	}
	return parseKeyring(path, data)
}

// readPrivate reads path after checking its mode. The check uses the open
// file, so a swap between check and read cannot slip past it.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret: open keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: stat keyring %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: keyring %s is not a regular file", path)
	}
	if err := privateMode(path, fi, os.Geteuid()); err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("secret: keyring %s is %d bytes, more than a keyring should be (%d)", path, fi.Size(), maxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return nil, fmt.Errorf("secret: read keyring: %w", err)
	}
	return data, nil
}

// parseKeyring reads the file format. Errors name the file and line and
// never include the key text itself.
func parseKeyring(path string, data []byte) (*Keyring, error) {
	var keys []Key
	lineNo := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("secret: keyring %s line %d: %w", path, lineNo, err)
		}
		for _, seen := range keys {
			if seen.ID == k.ID {
				return nil, fmt.Errorf("secret: keyring %s line %d: duplicate key id %q", path, lineNo, k.ID)
			}
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("secret: keyring %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("secret: keyring %s has no keys; add a line \"<id> <base64 of %d random bytes>\"", path, KeySize)
	}
	return NewKeyring(keys...)
}

func parseLine(line string) (Key, error) {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return Key{}, fmt.Errorf("want \"<id> <base64 key>\", got %d fields", len(fields))
	}
	if err := checkID(fields[0]); err != nil {
		return Key{}, err
	}
	// The decode error would quote the offending byte of the key; say
	// only what is wrong.
	b, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return Key{}, fmt.Errorf("key %q is not valid standard base64", fields[0])
	}
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("key %q is %d bytes, want %d", fields[0], len(b), KeySize)
	}
	return Key{ID: fields[0], Bytes: b}, nil
}

// createKeyring writes a fresh one-key file. The file appears complete
// or not at all (written under a temporary name, then hard-linked into
// place), and link fails if the name exists, so two processes starting
// together agree: the loser reads the winner's file.
//
// It never creates folders: a key file configured under a folder that
// does not exist is a mistake to report (a service started as root would
// otherwise make root-owned folders wherever the path points). The
// default key file sits beside the SQLite database, whose folder the
// directory makes first.
func createKeyring(path string) (*Keyring, error) {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("secret: %w", &MissingFolderError{Folder: dir})
	}
	key := Key{ID: "k1-" + strings.ToLower(rand.Text()[:8]), Bytes: make([]byte, KeySize)}
	rand.Read(key.Bytes)
	content := fileHeader + key.ID + " " + base64.StdEncoding.EncodeToString(key.Bytes) + "\n"

	tmp, err := os.CreateTemp(dir, ".keyring-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("secret: create keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("secret: write keyring %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadKeyring(path, false)
	} else if err != nil {
		return nil, fmt.Errorf("secret: create keyring: %w", err)
	}
	return NewKeyring(key)
}

// MissingFolderError is a key file to create in a folder that does not
// exist.
type MissingFolderError struct{ Folder string }

func (e *MissingFolderError) Error() string {
	return "the key file's folder " + e.Folder + " does not exist; the gateway creates the key file, never its folders: create it (mode 0700, owned by the gateway's user)"
}

// privateMode applies PostgreSQL's rule for private key files: a file the
// process's own user owns must be 0600 or stricter; a file root owns may
// also be read by its group (0640), which is how Kubernetes mounts a
// Secret for a non-root container (root:fsGroup, defaultMode 0440).
// Nobody else may ever read it, and nobody but the owner write it.
func privateMode(path string, fi os.FileInfo, euid int) error {
	if err := modeError(path, fi, euid); err != nil {
		return fmt.Errorf("secret: keyring %w", err)
	}
	return nil
}

// modeError is privateMode's rule: nil, or what is wrong with the file
// at path and the command that fixes it. The owner must be this
// process's user or root: a 0600 file owned by some third account lets
// that account read and replace the secret.
func modeError(path string, fi os.FileInfo, euid int) error {
	perm := fi.Mode().Perm()
	owner, ok := fileOwner(fi)
	switch {
	case perm&0o007 != 0 || perm&0o020 != 0:
		// others can read or write, or the group can write
	case ok && owner != 0 && int(owner) != euid:
		return fmt.Errorf("%s is owned by uid %d, neither this process's user (uid %d) nor root; run chown %d %s",
			path, owner, euid, euid, path)
	case perm&0o070 == 0:
		return nil
	case ok && owner == 0 && euid != 0:
		return nil // root's file, readable by our group only
	}
	return fmt.Errorf("%s has mode %04o, readable by group or others; run chmod 600 %s "+
		"(a file owned by root may be 0640 for a service user in its group)", path, perm, path)
}
