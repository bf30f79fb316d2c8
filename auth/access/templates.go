package access

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a named set of granted features.
type Template struct {
	Description string   `yaml:"description,omitempty"`
	Features    []string `yaml:"features"`
}

// TemplateSet is every permission template: one document, versioned in
// the directory like the login policy, so a change is one audited version
// with a diff, and every replica moves to it at once.
type TemplateSet struct {
	Templates map[string]Template `yaml:"templates"`
}

// DefaultTemplates are the templates a new directory starts with, for the
// roles in DefaultRoles.
func DefaultTemplates() TemplateSet {
	all := slices.Clone(DefaultFeatures)
	manager := slices.DeleteFunc(slices.Clone(DefaultFeatures), func(f string) bool { return f == "admin" })
	return TemplateSet{Templates: map[string]Template{
		"admin":         {Description: "Administrators: every feature", Features: all},
		"sales_manager": {Description: "Sales managers: everything but administration", Features: manager},
		"sales_user": {Description: "Sales users: their own leads, activities and tasks", Features: []string{
			"leads.view", "leads.create", "leads.update", "accounts.view", "opportunities.view",
			"activities.manage", "tasks.manage", "dashboards"}},
	}}
}

// ParseTemplates decodes a template document strictly and validates it
// against the feature catalogue (nil skips that check).
func ParseTemplates(doc []byte, features []string) (TemplateSet, error) {
	var s TemplateSet
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return TemplateSet{}, fmt.Errorf("templates: %w", err)
	}
	if s.Templates == nil {
		s.Templates = map[string]Template{}
	}
	if err := s.Validate(features); err != nil {
		return TemplateSet{}, err
	}
	return s, nil
}

// ParseTemplate decodes one template (the input of `gatehouse template
// set --file`).
func ParseTemplate(name string, doc []byte, features []string) (Template, error) {
	var t Template
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return Template{}, fmt.Errorf("template %s: %w", name, err)
	}
	s := TemplateSet{Templates: map[string]Template{name: t}}
	if err := s.Validate(features); err != nil {
		return Template{}, err
	}
	return s.Templates[name], nil
}

// Validate checks names and that every feature is in the catalogue (when
// features is not nil); features are sorted and deduplicated in place.
func (s *TemplateSet) Validate(features []string) error {
	var errs []string
	for _, name := range slices.Sorted(maps.Keys(s.Templates)) {
		t := s.Templates[name]
		if !validTemplate.MatchString(name) {
			errs = append(errs, fmt.Sprintf("templates: %q is not a template name (lower-case letters, digits, - and _, at most 64)", name))
		}
		for _, f := range t.Features {
			if features != nil && !slices.Contains(features, f) {
				errs = append(errs, fmt.Sprintf("templates.%s.features: %q is not in the policy's access.features", name, f))
			}
		}
		t.Features = slices.Compact(slices.Sorted(slices.Values(t.Features)))
		if t.Features == nil {
			t.Features = []string{}
		}
		s.Templates[name] = t
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "\n"))
}

// Marshal renders the set as the stored document.
func (s TemplateSet) Marshal() ([]byte, error) { return yaml.Marshal(s) }

// Using returns the templates that grant feature, sorted.
func (s TemplateSet) Using(feature string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(s.Templates)) {
		if slices.Contains(s.Templates[name].Features, feature) {
			out = append(out, name)
		}
	}
	return out
}
