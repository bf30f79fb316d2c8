package sqldir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Check judges the configuration as Open would, without opening or
// writing anything: dsn_file is read; the folder of a SQLite database,
// when it exists, must pass Open's rule (privateFolder); and PostgreSQL
// is pinged when ping is set, within ctx. For SQLite it returns the
// database file's path ("" for an in-memory database), so the caller
// can say whether it exists or Open would create it (and its folder).
// Every error starts with its key path.
func Check(ctx context.Context, cfg Config, ping bool) (string, error) {
	cfg.SetDefaults()
	if err := cfg.Validate("directory"); err != nil {
		return "", err
	}
	d, err := dialectFor(cfg.Driver)
	if err != nil {
		return "", err
	}
	dsn, err := readDSN(cfg)
	if err != nil {
		return "", err
	}
	key := "directory.dsn"
	if cfg.DSNFile != "" {
		key = "directory.dsn_file"
	}
	if d.name != "sqlite" {
		if !ping {
			return "", nil
		}
		db, err := openPool(d, dsn, 1)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			return "", fmt.Errorf("%s: PostgreSQL does not answer: %w", key, d.classify("ping", err))
		}
		return "", nil
	}
	path := sqlitePath(dsn)
	if path == "" {
		return "", nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path, nil // Open makes it, mode 0700
	case err != nil:
		return path, fmt.Errorf("%s: %w", key, err)
	case !fi.IsDir():
		return path, fmt.Errorf("%s: %s is not a folder", key, dir)
	}
	return path, privateFolder(dir, fi)
}

// privateFolder is Open's rule for the folder of a SQLite database: no
// access for group or others, who could read the -wal and -shm files
// SQLite creates beside the database, or swap the files.
func privateFolder(dir string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("directory.dsn: the folder %s is open to other users (mode %s); the database holds password hashes: run chmod 700 %s, or put the file in a folder of its own",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}
