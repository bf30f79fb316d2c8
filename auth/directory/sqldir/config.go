package sqldir

import (
	"errors"
	"fmt"
	"strings"
)

// Config is the directory section.
type Config struct {
	// Driver is "sqlite" (default; a file, pure Go) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite ("data/gatehouse.db") or a PostgreSQL
	// connection string ("postgres://gatehouse@db/gatehouse?sslmode=verify-full").
	DSN string `yaml:"dsn"`
	// DSNFile reads the DSN from a file (it usually carries a password).
	DSNFile string `yaml:"dsn_file"`
	// MaxOpenConns bounds the pool (PostgreSQL); 0 means 10.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// SetDefaults fills the embedded-default directory: a SQLite file under ./data.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "sqlite"
	}
	if c.Driver == "sqlite" && c.DSN == "" && c.DSNFile == "" {
		c.DSN = "data/gatehouse.db"
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = 10
	}
}

// Validate reports every problem under the key path prefix ("directory").
func (c *Config) Validate(prefix string) error {
	var errs []error
	switch c.Driver {
	case "sqlite", "postgres":
	default:
		errs = append(errs, fmt.Errorf("%s.driver: must be \"sqlite\" or \"postgres\", got %q", prefix, c.Driver))
	}
	if c.DSN == "" && c.DSNFile == "" {
		errs = append(errs, fmt.Errorf("%s.dsn: required (a file path for sqlite, a postgres:// URL for postgres)", prefix))
	}
	if c.DSN != "" && c.DSNFile != "" {
		errs = append(errs, fmt.Errorf("%s.dsn_file: set either dsn or dsn_file, not both", prefix))
	}
	if c.Driver == "postgres" && c.DSN != "" && !strings.HasPrefix(c.DSN, "postgres://") && !strings.HasPrefix(c.DSN, "postgresql://") && !strings.Contains(c.DSN, "=") {
		errs = append(errs, fmt.Errorf("%s.dsn: not a PostgreSQL DSN; use postgres://user@host:5432/db", prefix))
	}
	if c.MaxOpenConns < 0 {
		errs = append(errs, fmt.Errorf("%s.max_open_conns: must not be negative", prefix))
	}
	return errors.Join(errs...)
}
