package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

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
	name, data := EmbeddedName, defaultsYAML
	if path != "" {
		var err error
		name = path
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	cfg, err := Parse(data, env)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", name, err)
	}
	return cfg, nil
}

// Parse is Load without the file: strict decode of one YAML document
// (unknown keys are errors, an empty document is fine), environment
// overrides, defaults, validation.
func Parse(data []byte, env []string) (*Config, error) {
	var cfg Config
	if err := decodeStrict(data, &cfg); err != nil {
		return nil, err
	}
	explicit, err := cacheTTLGiven(data)
	if err != nil {
		return nil, err
	}
	cfg.Session.cacheTTLSet = explicit || envHas(env, envPrefix+"SESSION_CACHE_TTL")
	// Environment and validation problems are reported together; a bad
	// variable leaves the file's value in place for validation.
	envErr := applyEnv(&cfg, env)
	cfg.SetDefaults()
	if err := errors.Join(envErr, cfg.Validate()); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// errMultipleDocuments is returned for a file with a second "---" document,
// which would otherwise be silently ignored.
var errMultipleDocuments = errors.New("yaml: more than one document; a config file is a single YAML document")

func decodeStrict(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: all defaults
		}
		return explainDecodeError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return explainDecodeError(err)
	default:
		return errMultipleDocuments
	}
}

// cacheTTLGiven reports whether session.cache_ttl has a value in the
// document. A second, lenient decode into a pointer is the simplest way to
// tell "0s" from "absent" (or empty) after the strict decode succeeded.
func cacheTTLGiven(data []byte) (bool, error) {
	var probe struct {
		Session struct {
			CacheTTL *time.Duration `yaml:"cache_ttl"`
		} `yaml:"session"`
	}
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return false, err
	}
	return probe.Session.CacheTTL != nil, nil
}
