package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// defaultsYAML is what a bare `gatehouse serve` runs on.
//
//go:embed gatehouse.yaml
var defaultsYAML []byte

// EmbeddedName is how errors name the embedded defaults file.
const EmbeddedName = "embedded defaults (configs/gatehouse.yaml)"

// Defaults returns a copy of the embedded defaults file, e.g. for
// `gatehouse check-config` to print as a starting point.
func Defaults() []byte {
	return bytes.Clone(defaultsYAML)
}

// Load reads the YAML file at path ("" means the embedded defaults),
// applies the GATEHOUSE_* variables found in env (os.Environ() form),
// fills defaults and validates. Every error names the file; validation
// errors name each key. Nothing half-built is returned with an error.
func Load(path string, env []string) (*Config, error) {
	name, data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(data, env)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", name, err)
	}
	return cfg, nil
}

// readFile reads the config file at path, or the embedded defaults for
// "", and says how errors name it.
func readFile(path string) (name string, data []byte, err error) {
	if path == "" {
		return EmbeddedName, defaultsYAML, nil
	}
	if data, err = os.ReadFile(path); err != nil {
		return "", nil, fmt.Errorf("config: %w", err)
	}
	return path, data, nil
}

// Parse is Load without the file: strict decode of one YAML document
// (unknown keys are errors, an empty document is fine), each provider's
// own keys decoded by its type, environment overrides, defaults,
// validation. Every problem is reported at once, one a line, each with
// its key path and the line of that key in the file: a misspelt key does
// not hide a bad value elsewhere. Only a YAML syntax error stops the
// reading early.
func Parse(data []byte, env []string) (*Config, error) {
	cfg, r, err := inspect(data, env)
	if err != nil {
		return nil, err
	}
	if err := r.configErr(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// inspect is Parse keeping the configuration and its problems apart: the
// configuration as decoded, defaulted and validated (derived fields of a
// section with a problem may be unset), and a Report of the problems. Only
// a YAML syntax error returns no configuration.
func inspect(data []byte, env []string) (*Config, *Report, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, nil, err
	}
	var cfg Config
	var errs []error
	if err := decodeStrict(data, &cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, err
		}
		// The decoder carried on past each of these; the rest of the file
		// is judged too.
		errs = append(errs, doc.explain(te)...)
	}
	errs = append(errs, cfg.decodeMethods(doc)...)
	// An explicit 0s turns the cache off; absent (or empty) is the default.
	cfg.Session.cacheTTLSet = doc.given("session.cache_ttl") || envHas(env, envPrefix+"SESSION_CACHE_TTL")
	cfg.Shutdown.drainSet = doc.given("shutdown.drain_delay") || envHas(env, envPrefix+"SHUTDOWN_DRAIN_DELAY")
	cfg.Log.accessSet = doc.given("log.access") || envHas(env, envPrefix+"LOG_ACCESS")
	// A bad variable leaves the file's value in place for validation.
	fromEnv, envErr := applyEnv(&cfg, env)
	cfg.SetDefaults()
	r := &Report{doc: doc, fromEnv: fromEnv, config: append(errs, envErr, cfg.Validate())}
	return &cfg, r, nil
}

// decodeStrict decodes the one document parseDocument accepted; a
// *yaml.TypeError leaves everything else decoded.
func decodeStrict(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
