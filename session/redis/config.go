package redis

import (
	"errors"
	"fmt"
	"time"
)

// Config is the session.redis section. One go-redis UniversalClient serves
// all three shapes: a single address (standalone), master_name set
// (Sentinel; addrs are the sentinels), or cluster: true (addrs are seeds).
type Config struct {
	Addrs        []string      `yaml:"addrs"`
	MasterName   string        `yaml:"master_name"`
	Cluster      bool          `yaml:"cluster"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	DB           int           `yaml:"db"`
	TLS          bool          `yaml:"tls"`
	KeyPrefix    string        `yaml:"key_prefix"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// SetDefaults fills unset fields with production-safe values.
func (c *Config) SetDefaults() {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "gatehouse:"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = time.Second
	}
}

// Validate reports every problem, each prefixed with its key path under
// prefix (e.g. "session.redis").
func (c *Config) Validate(prefix string) error {
	var errs []error
	if len(c.Addrs) == 0 {
		errs = append(errs, fmt.Errorf("%s.addrs: required when session.store is \"redis\" (e.g. [127.0.0.1:6379])", prefix))
	}
	if len(c.Addrs) > 1 && !c.Cluster && c.MasterName == "" {
		// go-redis would silently treat several addresses as a cluster.
		errs = append(errs, fmt.Errorf("%s.addrs: %d addresses need cluster: true (cluster seeds) or master_name (Sentinel); a standalone server takes one", prefix, len(c.Addrs)))
	}
	if c.Cluster && c.MasterName != "" {
		errs = append(errs, fmt.Errorf("%s.cluster: cannot be combined with %s.master_name; pick Cluster or Sentinel", prefix, prefix))
	}
	if c.Cluster && c.DB != 0 {
		errs = append(errs, fmt.Errorf("%s.db: Redis Cluster has only database 0; remove db or cluster", prefix))
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, fmt.Errorf("%s.password_file: set either password or password_file, not both", prefix))
	}
	if c.DB < 0 || c.DB > 15 {
		errs = append(errs, fmt.Errorf("%s.db: must be 0..15, got %d", prefix, c.DB))
	}
	if c.DialTimeout < 0 || c.ReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s: timeouts must not be negative", prefix))
	}
	return errors.Join(errs...)
}
