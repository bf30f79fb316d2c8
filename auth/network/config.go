package network

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is the network section: where the guard's lists come from. What
// they block is the login policy's business (policy.network).
type Config struct {
	TorExitList   TorExitList   `yaml:"tor_exit_list"`
	AnonymousIPDB AnonymousIPDB `yaml:"anonymous_ip_db"`
	// DenyFile is a plain list of CIDRs or addresses (one per line, #
	// comments) refused outright; reloaded when it changes.
	DenyFile string `yaml:"deny_file"`
}

// TorExitList is the Tor exit list source: a file or an https URL, in
// the bulk format or TorDNSEL exit-addresses (detected).
type TorExitList struct {
	File    string        `yaml:"file"`
	URL     string        `yaml:"url"`
	Refresh time.Duration `yaml:"refresh"`
	MaxAge  time.Duration `yaml:"max_age"`
}

// AnonymousIPDB is a MaxMind-format anonymous-IP database, reloaded when
// the file changes.
type AnonymousIPDB struct {
	File   string        `yaml:"file"`
	Reload time.Duration `yaml:"reload"`
}

// SetDefaults fills refresh intervals.
func (c *Config) SetDefaults() {
	if c.TorExitList.Refresh == 0 {
		c.TorExitList.Refresh = time.Hour
	}
	if c.TorExitList.MaxAge == 0 {
		c.TorExitList.MaxAge = 24 * time.Hour
	}
	if c.AnonymousIPDB.Reload == 0 {
		c.AnonymousIPDB.Reload = time.Minute
	}
}

// Validate reports every problem under prefix ("network").
func (c *Config) Validate(prefix string) error {
	var errs []error
	t := c.TorExitList
	if t.File != "" && t.URL != "" {
		errs = append(errs, fmt.Errorf("%s.tor_exit_list: set either file or url, not both", prefix))
	}
	if t.URL != "" {
		if u, err := url.Parse(t.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.tor_exit_list.url: must be an https:// URL (e.g. https://check.torproject.org/torbulkexitlist)", prefix))
		}
	}
	if t.Refresh < time.Minute {
		errs = append(errs, fmt.Errorf("%s.tor_exit_list.refresh: must be at least 1m, got %s", prefix, t.Refresh))
	}
	if t.MaxAge < t.Refresh {
		errs = append(errs, fmt.Errorf("%s.tor_exit_list.max_age: must be at least the refresh interval (%s), got %s", prefix, t.Refresh, t.MaxAge))
	}
	if c.AnonymousIPDB.Reload < time.Second {
		errs = append(errs, fmt.Errorf("%s.anonymous_ip_db.reload: must be at least 1s, got %s", prefix, c.AnonymousIPDB.Reload))
	}
	return errors.Join(errs...)
}
