package tor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Fetch bounds. A refresh is a background job, so a slow server only delays
// the next list; the timeout keeps it from holding Load forever.
const (
	fetchTimeout = time.Minute
	maxRedirects = 10
	// minURLRefresh keeps a typo ("refresh: 1s") from hammering the Tor
	// Project's servers, which regenerate the list every few minutes.
	minURLRefresh = time.Minute
)

// errNotModified is returned by a fetch when the server answered 304 to
// the validators of the current list.
var errNotModified = errors.New("not modified")

// Source says where the exit list comes from and how fresh it must be: the
// config's network.tor_exit_list section.
type Source struct {
	File string `yaml:"file"` // a local file, kept current by some other job
	URL  string `yaml:"url"`  // an https:// URL, e.g. https://check.torproject.org/torbulkexitlist
	// Refresh is how often Run reloads the list; 0 loads it only once.
	Refresh time.Duration `yaml:"refresh"`
	// MaxAge is the age past which the list is reported stale; 0 never.
	MaxAge time.Duration `yaml:"max_age"`
}

// Validate reports every problem at once, each with its key; the config
// layer prefixes the section's path. It does no I/O: a missing file or an
// unreachable URL is a load failure, reported by the loader.
func (s Source) Validate() error {
	var errs []error
	switch {
	case s.File == "" && s.URL == "":
		errs = append(errs, errors.New("file, url: one is required"))
	case s.File != "" && s.URL != "":
		errs = append(errs, errors.New("file, url: set one, not both"))
	case s.URL != "":
		if err := checkHTTPS(s.URL); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
		if 0 < s.Refresh && s.Refresh < minURLRefresh {
			errs = append(errs, fmt.Errorf("refresh: at least %v for a url", minURLRefresh))
		}
	}
	if s.Refresh < 0 {
		errs = append(errs, errors.New("refresh: must not be negative (0 loads once)"))
	}
	if s.MaxAge < 0 {
		errs = append(errs, errors.New("max_age: must not be negative (0 is never stale)"))
	}
	return errors.Join(errs...)
}

// name is the source as logs show it: the path, or the URL without any
// password.
func (s Source) name() string {
	if s.File != "" {
		return s.File
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

// checkHTTPS refuses anything but https: the list decides who may log in,
// so it must not be open to whoever sits on the network path.
func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "https" || u.Host == "" {
		return errors.New("must be an https:// URL")
	}
	return nil
}

// httpsRedirectsOnly is the fetch client's CheckRedirect: a redirect to
// plain http would undo checkHTTPS.
func httpsRedirectsOnly(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Scheme != "https" {
		return errors.New("redirect to a non-https URL refused")
	}
	return nil
}

// validators are the current list's ETag and Last-Modified, sent back so
// an unchanged list costs a 304 instead of a download.
type validators struct {
	etag, lastModified string
}

// readFile parses the file and returns its modification time: for a bulk
// list, which carries no date, that is when the job maintaining it last
// succeeded.
func readFile(path string) (*List, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	l, err := Parse(f)
	return l, fi.ModTime(), err
}

// fetchURL downloads and parses the list. It returns errNotModified when
// the server confirms the list behind v is current.
func fetchURL(ctx context.Context, c *http.Client, raw string, v validators) (*List, validators, error) {
	if err := checkHTTPS(raw); err != nil {
		return nil, v, err
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, v, err
	}
	if v.etag != "" {
		req.Header.Set("If-None-Match", v.etag)
	}
	if v.lastModified != "" {
		req.Header.Set("If-Modified-Since", v.lastModified)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, v, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && v != (validators{}):
		return nil, v, errNotModified
	case resp.StatusCode != http.StatusOK:
		return nil, v, fmt.Errorf("unexpected status %q", resp.Status)
	case resp.ContentLength > MaxSize:
		return nil, v, fmt.Errorf("%w (Content-Length %d)", ErrTooLarge, resp.ContentLength)
	}
	l, err := Parse(resp.Body)
	if err != nil {
		return nil, v, err
	}
	return l, validators{resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")}, nil
}
