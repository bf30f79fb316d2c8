package configs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// document is a config file's YAML tree, kept to give every problem the
// line of its key: decode errors come with one, validation errors name a
// key path and are looked up here.
type document struct {
	keys   map[string]int        // key path → line of the key
	values map[string]*yaml.Node // key path → its value
}

// errMultipleDocuments is returned for a file with a second "---" document,
// which would otherwise be silently ignored.
var errMultipleDocuments = errors.New("yaml: more than one document; a config file is a single YAML document")

// parseDocument reads the tree. A syntax error ends loading here: nothing
// after it can be judged.
func parseDocument(data []byte) (*document, error) {
	d := &document{keys: map[string]int{}, values: map[string]*yaml.Node{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return d, nil // empty file: all defaults
	} else if err != nil {
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return nil, errMultipleDocuments
	}
	for _, n := range root.Content {
		d.walk(n, "")
	}
	return d, nil
}

// walk records every key below n, named as errors name them:
// session.redis.addrs, trusted_proxies[1], providers[0].client_id.
func (d *document) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if _, seen := d.keys[p]; !seen { // a duplicate is the decoder's error
				d.keys[p], d.values[p] = k.Line, v
			}
			d.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.keys[p], d.values[p] = item.Line, item
			d.walk(item, p)
		}
	}
}

// given reports whether the file sets path to a value (an empty value is
// YAML null: not given).
func (d *document) given(path string) bool {
	v, ok := d.values[path]
	return ok && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null")
}

// line returns the line of path's key, or fallback when the file lacks it.
func (d *document) line(path string, fallback int) int {
	if l, ok := d.keys[path]; ok {
		return l
	}
	return fallback
}

// locate returns the line of path, or of its nearest ancestor the file
// has (a required key that is missing is reported where its section
// is), or 0.
func (d *document) locate(path string) int {
	for p := path; p != ""; p = parent(p) {
		if l, ok := d.keys[p]; ok {
			return l
		}
	}
	return 0
}

func parent(path string) string {
	return path[:max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['), 0)]
}

// problem is one problem of a config, as shown: "line 3: key.path: what
// is wrong; the fix". It wraps the error it came from.
type problem struct {
	line int
	text string
	err  error
}

func (p *problem) Error() string { return p.text }
func (p *problem) Unwrap() error { return p.err }

// keyPrefix is the key path a validation message starts with.
var keyPrefix = regexp.MustCompile(`^([A-Za-z0-9_.\[\]-]+): `)

// problems turns everything found (decode, environment and validation
// errors, errors.Join trees included) into one problem per line, each
// with the line of its key when the file has one, or the variable that
// set it, in file order; nil when there is none.
func (d *document) problems(fromEnv map[string]string, errs ...error) error {
	var leaves []error
	for _, err := range errs {
		leaves = flatten(err, leaves)
	}
	if len(leaves) == 0 {
		return nil
	}
	out := make([]*problem, len(leaves))
	for i, err := range leaves {
		p := &problem{text: err.Error(), err: err}
		if line, _, ok := splitLine(p.text); ok {
			p.line = line
		} else if m := keyPrefix.FindStringSubmatch(p.text); m != nil {
			if name, ok := fromEnv[m[1]]; ok {
				p.text += " (set by " + name + ")"
			} else if p.line = d.locate(m[1]); p.line > 0 {
				p.text = fmt.Sprintf("line %d: %s", p.line, p.text)
			}
		}
		out[i] = p
	}
	slices.SortStableFunc(out, func(a, b *problem) int {
		switch {
		case a.line == 0 || b.line == 0:
			return cmp.Compare(b.line, a.line) // those without a line last
		}
		return cmp.Compare(a.line, b.line)
	})
	joined := make([]error, len(out))
	for i, p := range out {
		joined[i] = p
	}
	return errors.Join(joined...)
}

// flatten appends the problems in err: the leaves of errors.Join trees
// (an error whose text is its children's, one a line), other errors as
// they are.
func flatten(err error, into []error) []error {
	if err == nil {
		return into
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		kids := j.Unwrap()
		msgs := make([]string, len(kids))
		for i, k := range kids {
			msgs[i] = k.Error()
		}
		if err.Error() == strings.Join(msgs, "\n") {
			for _, k := range kids {
				into = flatten(k, into)
			}
			return into
		}
	}
	return append(into, err)
}

var lineMsg = regexp.MustCompile(`^line (\d+): (.*)$`)

// splitLine splits "line 3: rest" as the YAML decoder words its errors.
func splitLine(msg string) (int, string, bool) {
	m := lineMsg.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg, false
	}
	n, err := strconv.Atoi(m[1])
	return n, m[2], err == nil
}
