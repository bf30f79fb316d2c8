package configs

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ForwardAuth turns on /.gatehouse/auth, the endpoint nginx auth_request,
// Traefik ForwardAuth and Caddy forward_auth ask (docs/forward-auth.md).
type ForwardAuth struct {
	// Enabled mounts the endpoint; off by default.
	Enabled bool `yaml:"enabled"`
	// AllowedHosts are hosts (host or host:port, as browsers send them in
	// Host) besides public_url's whose original URL the login page may
	// return to as an absolute rd; others get a relative one.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// validate checks the section; trusted is whether trusted_proxies lists
// any proxy, without which every forward-auth request is refused.
func (f *ForwardAuth) validate(trusted bool) error {
	var errs []error
	for i, h := range f.AllowedHosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, fmt.Errorf("forward_auth.allowed_hosts[%d]: %q %w; give a host or host:port such as crm.example.com", i, h, err))
			continue
		}
		f.AllowedHosts[i] = strings.ToLower(h)
	}
	if f.Enabled && !trusted {
		errs = append(errs, errors.New("forward_auth.enabled: set trusted_proxies to the address of the proxy that asks (e.g. [127.0.0.1] for nginx on this host); forward-auth requests are answered only for a trusted proxy"))
	}
	return errors.Join(errs...)
}

// checkHost accepts what a Host header holds: a host name or IP literal
// ([v6] in brackets), optionally with a port; no scheme, path or user.
func checkHost(h string) error {
	if h == "" || strings.ContainsAny(h, "/\\@?#% \t") {
		return errors.New("is not a host")
	}
	u, err := url.Parse("//" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return errors.New("is not a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return errors.New("has a bad port")
		}
	} else if strings.HasSuffix(h, ":") {
		return errors.New("has an empty port")
	}
	return nil
}
