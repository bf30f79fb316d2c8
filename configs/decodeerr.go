package configs

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder names an unknown key by its Go type ("field stor not found in
// type configs.Session") and a bad value by neither ("cannot unmarshal
// !!str `abc` into time.Duration"); operators think in key paths, so each
// message is rewritten to "line 3: session.stor: unknown key" and "line 4:
// login.lockout_window: cannot unmarshal ...".
var (
	unknownFieldMsg = regexp.MustCompile(`^field (.+) not found in type (.+)$`)
	durationMsg     = regexp.MustCompile("^cannot unmarshal !!\\w+ `([^`]*)` into time.Duration$")
	quotedValue     = regexp.MustCompile("`([^`]*)`")
)

// explain rewrites each message of a *yaml.TypeError with the key path it
// is about, one error per message.
func (d *document) explain(te *yaml.TypeError) []error {
	sections := sectionPaths(reflect.TypeFor[Config](), "", map[string]string{})
	out := make([]error, len(te.Errors))
	for i, msg := range te.Errors {
		line, rest, ok := splitLine(msg)
		if !ok {
			out[i] = fmt.Errorf("%s", msg)
			continue
		}
		if m := unknownFieldMsg.FindStringSubmatch(rest); m != nil {
			path := d.keyOnLine(line, m[1])
			if path == "" {
				section, known := sections[m[2]]
				if !known {
					out[i] = fmt.Errorf("%s", msg)
					continue
				}
				path = section + m[1]
			}
			if near := closest(m[1], keysOf(m[2])); near != "" {
				out[i] = fmt.Errorf("line %d: %s: unknown key; did you mean %s? (see configs/gatehouse.yaml for the keys)", line, path, near)
				continue
			}
			out[i] = fmt.Errorf("line %d: %s: unknown key; see configs/gatehouse.yaml for the keys", line, path)
			continue
		}
		if path := d.valueOnLine(line, rest); path != "" {
			if m := durationMsg.FindStringSubmatch(rest); m != nil {
				// "cannot unmarshal !!str `soon` into time.Duration"
				// names a Go type; say what to write instead.
				rest = fmt.Sprintf("want a duration such as 30s, 15m or 12h, got %q", m[1])
			}
			out[i] = fmt.Errorf("line %d: %s: %s", line, path, rest)
			continue
		}
		out[i] = fmt.Errorf("%s", msg)
	}
	return out
}

// keyOnLine returns the one key path named key whose key is on line.
func (d *document) keyOnLine(line int, key string) string {
	found := ""
	for p, l := range d.keys {
		if l != line || (p != key && !strings.HasSuffix(p, "."+key)) {
			continue
		}
		if found != "" {
			return "" // ambiguous: leave it to the type name
		}
		found = p
	}
	return found
}

// valueOnLine returns the one key path whose value is on line and, when
// the message quotes it, is that value (the decoder cuts long ones to
// seven characters and "...").
func (d *document) valueOnLine(line int, msg string) string {
	quoted, hasQuote := "", false
	if m := quotedValue.FindStringSubmatch(msg); m != nil {
		quoted, hasQuote = m[1], true
	}
	found := ""
	for p, v := range d.values {
		if v.Line != line {
			continue
		}
		if hasQuote && (v.Kind != yaml.ScalarNode || !matchesQuoted(v.Value, quoted)) {
			continue
		}
		if !hasQuote && v.Kind == yaml.ScalarNode {
			continue
		}
		if found != "" {
			return ""
		}
		found = p
	}
	return found
}

func matchesQuoted(value, quoted string) bool {
	if prefix, cut := strings.CutSuffix(quoted, "..."); cut {
		return strings.HasPrefix(value, prefix)
	}
	return value == quoted
}

// sectionPaths maps each struct type's name, as the decoder prints it, to
// the key path prefix of its section ("redis.Config" → "session.redis.").
// It names a key the tree could not place (several on one line).
func sectionPaths(t reflect.Type, prefix string, into map[string]string) map[string]string {
	into[t.String()] = prefix
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || key == "-" || key == "" {
			continue
		}
		switch ft := sf.Type; {
		case ft.Kind() == reflect.Struct:
			sectionPaths(ft, prefix+key+".", into)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			sectionPaths(ft.Elem(), prefix+key+"[].", into) // providers[].client_id
		}
	}
	return into
}

// keysOf lists the YAML keys of the struct type named typeName (as the
// decoder names it, "configs.Session") anywhere in the Config.
func keysOf(typeName string) []string {
	var found []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		var keys []string
		for i := range t.NumField() {
			sf := t.Field(i)
			key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || key == "-" || key == "" {
				continue
			}
			keys = append(keys, key)
			ft := sf.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			walk(ft)
		}
		if t.String() == typeName {
			found = keys
		}
	}
	walk(reflect.TypeFor[Config]())
	return found
}

// closest is the known name nearest to name, when it is a near miss (a
// typo, not another word): the "did you mean" of unknown keys and
// unknown environment variables alike.
func closest(name string, known []string) string {
	best, bestDist := "", 4
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist || d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	return best
}
