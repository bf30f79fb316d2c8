package configs

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder names an unknown key by its Go type ("field stor not found in
// type configs.Session"); operators think in key paths, so the message is
// rewritten to "line 3: session.stor: unknown key".
var unknownFieldMsg = regexp.MustCompile(`^line (\d+): field (.+) not found in type (.+)$`)

// explainDecodeError rewrites unknown-key messages of a *yaml.TypeError and
// returns every other error unchanged.
func explainDecodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	sections := sectionPaths(reflect.TypeFor[Config](), "", map[string]string{})
	msgs := make([]string, len(te.Errors))
	for i, msg := range te.Errors {
		msgs[i] = msg
		m := unknownFieldMsg.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		if section, ok := sections[m[3]]; ok {
			msgs[i] = fmt.Sprintf("line %s: %s%s: unknown key; see configs/gatehouse.yaml for the keys", m[1], section, m[2])
		}
	}
	return &yaml.TypeError{Errors: msgs}
}

// sectionPaths maps each struct type's name, as the decoder prints it, to
// the key path prefix of its section ("redis.Config" → "session.redis.").
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
