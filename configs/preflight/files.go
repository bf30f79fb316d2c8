package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// creatable judges a file serve writes, without writing: one that exists
// must be a regular file this process may write ("" returned); one that
// does not must be creatable as os.MkdirAll and a create would make it,
// in the nearest folder that exists, which this process must be able to
// write. The note says what serve would create.
func creatable(path string) (string, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", path)
	case err == nil:
		if err := writable(path, false); err != nil {
			return "", fmt.Errorf("%s is not writable by this user: %w", path, err)
		}
		return "", nil
	case !absent(err):
		return "", err
	}
	folder := filepath.Dir(path)
	var missing []string
	for dir := folder; ; {
		fi, err := os.Stat(dir)
		switch {
		case err == nil && !fi.IsDir():
			return "", fmt.Errorf("%s is not a folder", dir)
		case err == nil:
			if err := writable(dir, true); err != nil {
				return "", fmt.Errorf("cannot create in %s: %w", dir, err)
			}
			if len(missing) == 0 {
				return fmt.Sprintf(" in %s, which exists", folder), nil
			}
			return fmt.Sprintf(", and the folder %s (mode 0700) it goes in", folder), nil
		case !absent(err):
			return "", err
		}
		missing = append(missing, dir)
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("no folder of %s exists", path)
		}
		dir = up
	}
}

// absent reports that a stat found nothing at the path: it does not
// exist, or a folder on the way is a file.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
