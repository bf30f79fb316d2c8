package configs

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Environment overrides: every scalar and list key has a variable named
// GATEHOUSE_ + its YAML path upper-cased and joined with "_"
// (session.redis.addrs → GATEHOUSE_SESSION_REDIS_ADDRS). Lists are
// comma-separated; an empty value gives an empty list. Maps
// (policy.methods, policy.network.allow_roles) are not overridable: set
// them in the file.
const (
	envPrefix = "GATEHOUSE_"
	// EnvConfigFile names the config file; the command line reads it, not
	// Load, and it is exempt from the unknown-variable check.
	EnvConfigFile = "GATEHOUSE_CONFIG"
	// envTestPrefix is left to tests (server addresses and the like).
	envTestPrefix = "GATEHOUSE_TEST_"
)

var durationType = reflect.TypeFor[time.Duration]()

// EnvNames lists every accepted override variable, in struct order.
func EnvNames() []string {
	var names []string
	walkEnvFields(reflect.ValueOf(&Config{}).Elem(), envPrefix, "", func(name, _ string, _ reflect.Value) {
		names = append(names, name)
	})
	return names
}

// envField is a field a variable sets, and its key path for errors.
type envField struct {
	path string
	v    reflect.Value
}

// applyEnv sets every GATEHOUSE_* variable of env onto cfg and returns
// the key paths it set, with the variable that set each. Unknown names
// are errors so a typo never silently does nothing; all problems are
// reported together.
func applyEnv(cfg *Config, env []string) (map[string]string, error) {
	fields := map[string]envField{}
	add := func(name, path string, v reflect.Value) { fields[name] = envField{path, v} }
	walkEnvFields(reflect.ValueOf(cfg).Elem(), envPrefix, "", add)
	// A configured provider's keys, its type's own included, are
	// addressed by its id, so a secret can come from the environment:
	// GATEHOUSE_PROVIDERS_GOOGLE_CLIENT_SECRET for providers[id=google].
	// Its id and type are not: they say which variables and keys exist.
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		prefix := envPrefix + "PROVIDERS_" + strings.ToUpper(strings.ReplaceAll(p.ID, "-", "_")) + "_"
		path := fmt.Sprintf("providers[%d]", i)
		walkEnvFields(reflect.ValueOf(p).Elem(), prefix, path, add)
		delete(fields, prefix+"ID")
		delete(fields, prefix+"TYPE")
		if p.Method != nil {
			walkEnvFields(reflect.ValueOf(p.Method).Elem(), prefix, path, add)
		}
	}
	set := map[string]string{}
	var errs []error
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == EnvConfigFile || strings.HasPrefix(name, envTestPrefix) {
			continue
		}
		field, ok := fields[name]
		if !ok {
			errs = append(errs, unknownEnvError(name, fields))
			continue
		}
		if err := setFromString(field.v, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		set[field.path] = name
	}
	return set, errors.Join(errs...)
}

// walkEnvFields calls fn for every overridable field below v, named by its
// yaml tags: the variable name under prefix and the key path under path.
// Unexported fields, `yaml:"-"`, inline fields and maps are skipped.
func walkEnvFields(v reflect.Value, prefix, path string, fn func(name, path string, field reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || key == "-" || key == "" {
			continue
		}
		name, p := prefix+strings.ToUpper(key), key
		if path != "" {
			p = path + "." + key
		}
		fv := v.Field(i)
		switch {
		case sf.Type.Kind() == reflect.Struct:
			walkEnvFields(fv, name+"_", p, fn)
		case settable(sf.Type):
			fn(name, p, fv)
		}
	}
}

func settable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// setFromString parses s into the field. Values are echoed in errors only
// for typed fields; free-form strings (where secrets live) never fail.
func setFromString(field reflect.Value, s string) error {
	switch {
	case field.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want a duration such as 30m or 500ms, got %q", s)
		}
		field.SetInt(int64(d))
	case field.Kind() == reflect.String:
		field.SetString(s)
	case field.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		field.SetBool(b)
	case field.Kind() == reflect.Slice:
		field.Set(reflect.ValueOf(splitList(s)))
	default:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, field.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		field.SetInt(n)
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items, so "a, b," is [a b] and "" clears the list.
func splitList(s string) []string {
	items := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func envHas(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

func unknownEnvError(name string, fields map[string]envField) error {
	if best := closest(name, slices.Collect(maps.Keys(fields))); best != "" {
		return fmt.Errorf("%s: unknown configuration variable; did you mean %s?", name, best)
	}
	return fmt.Errorf("%s: unknown configuration variable; names are GATEHOUSE_ plus the YAML key path, e.g. GATEHOUSE_SESSION_STORE", name)
}

// editDistance is the Levenshtein distance, for the "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
