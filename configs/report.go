package configs

import (
	"fmt"
	"slices"
)

// Report is every problem of a configuration and of what it names: the
// file's own (decode, environment, validation), found by Inspect, and
// those the caller adds (a file it names cannot be read, a certificate
// has expired, a store does not answer). Err words them all as Load
// does — one a line, in file order, each with its key path and the line
// of that key or the variable that set it — so `check-config` and
// `serve` print the same problems the same way.
type Report struct {
	name    string
	doc     *document
	fromEnv map[string]string
	config  []error // the configuration's own problems
	added   []error
}

// Inspect is Load for the start-up checks: it returns the configuration
// even when it has problems, with a Report to which the caller adds the
// problems of the files and servers it names, so that one run reports
// every problem. Where a section has a problem its derived fields may be
// unset: open nothing from a configuration that is not Valid. The error
// is for a file that cannot be read or is not YAML; then there is
// nothing to judge.
func Inspect(path string, env []string) (*Config, *Report, error) {
	name, data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	cfg, r, err := inspect(data, env)
	if err != nil {
		return nil, nil, fmt.Errorf("config %s:\n%w", name, err)
	}
	r.name = name
	return cfg, r, nil
}

// Valid reports whether the configuration itself has no problem, as Load
// would accept it.
func (r *Report) Valid() bool { return r.configErr() == nil }

// configErr is the configuration's own problems, as Parse reports them.
func (r *Report) configErr() error { return r.doc.problems(r.fromEnv, r.config...) }

// Add records problems found beyond the file's text. Each should start
// with the key path it is about ("tls.key_file: open /x: no such file or
// directory"), as validation errors do, so it gets its line too.
func (r *Report) Add(errs ...error) { r.added = append(r.added, errs...) }

// Err is every problem, worded and ordered as Load's error; nil when
// there is none.
func (r *Report) Err() error {
	err := r.doc.problems(r.fromEnv, append(slices.Clone(r.config), r.added...)...)
	if err == nil {
		return nil
	}
	return fmt.Errorf("config %s:\n%w", r.name, err)
}
