package anonip_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

func TestParseFlag(t *testing.T) {
	tests := []struct {
		name string
		want anonip.Flags
	}{
		{"is_anonymous", anonip.Anonymous},
		{"is_anonymous_vpn", anonip.AnonymousVPN},
		{"is_public_proxy", anonip.PublicProxy},
		{"is_tor_exit_node", anonip.TorExitNode},
		{"is_hosting_provider", anonip.HostingProvider},
		{"is_residential_proxy", anonip.ResidentialProxy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := anonip.ParseFlag(tt.name)
			if err != nil || got != tt.want {
				t.Fatalf("ParseFlag(%q): got %v, %v; want %v, nil", tt.name, got, err, tt.want)
			}
			if names := got.Names(); !slices.Equal(names, []string{tt.name}) {
				t.Errorf("Names(): got %v, want [%s]", names, tt.name)
			}
		})
	}
}

func TestParseFlagUnknown(t *testing.T) {
	for _, name := range []string{"", "IS_ANONYMOUS", "is_anonymous_proxy", "anonymous_vpn", " is_anonymous", "is_tor_exit_node,"} {
		t.Run(name, func(t *testing.T) {
			got, err := anonip.ParseFlag(name)
			if !errors.Is(err, anonip.ErrUnknownFlag) {
				t.Fatalf("ParseFlag(%q): got %v, %v; want ErrUnknownFlag", name, got, err)
			}
			// The message must let an admin fix the typo without the docs.
			for _, valid := range []string{"is_anonymous_vpn", "is_residential_proxy"} {
				if !strings.Contains(err.Error(), valid) {
					t.Errorf("error %q does not list %s", err, valid)
				}
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		names   []string
		want    anonip.Flags
		wantBad []string
	}{
		{nil, 0, nil},
		{[]string{"is_anonymous_vpn", "is_public_proxy", "is_tor_exit_node"},
			anonip.AnonymousVPN | anonip.PublicProxy | anonip.TorExitNode, nil},
		{[]string{"is_tor_exit_node", "is_tor_exit_node"}, anonip.TorExitNode, nil},
		{[]string{"is_vpn", "is_public_proxy", "is_tor"}, 0, []string{`"is_vpn"`, `"is_tor"`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, "+"), func(t *testing.T) {
			got, err := anonip.ParseFlags(tt.names)
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if (err != nil) != (tt.wantBad != nil) {
				t.Fatalf("got error %v, want one naming %v", err, tt.wantBad)
			}
			for _, bad := range tt.wantBad {
				if !strings.Contains(err.Error(), bad) {
					t.Errorf("error %q does not name %s", err, bad)
				}
			}
		})
	}
}

func TestFlagsNames(t *testing.T) {
	all := anonip.Anonymous | anonip.AnonymousVPN | anonip.PublicProxy |
		anonip.TorExitNode | anonip.HostingProvider | anonip.ResidentialProxy
	tests := []struct {
		f         anonip.Flags
		want      []string
		wantPrint string
	}{
		{0, nil, "none"},
		{anonip.ResidentialProxy | anonip.Anonymous, []string{"is_anonymous", "is_residential_proxy"},
			"is_anonymous,is_residential_proxy"},
		{all, []string{"is_anonymous", "is_anonymous_vpn", "is_public_proxy", "is_tor_exit_node",
			"is_hosting_provider", "is_residential_proxy"},
			"is_anonymous,is_anonymous_vpn,is_public_proxy,is_tor_exit_node,is_hosting_provider,is_residential_proxy"},
		{1 << 7, nil, "none"}, // a bit with no name is not invented
	}
	for _, tt := range tests {
		if got := tt.f.Names(); !slices.Equal(got, tt.want) {
			t.Errorf("Flags(%#x).Names(): got %v, want %v", uint8(tt.f), got, tt.want)
		}
		if got := tt.f.String(); got != tt.wantPrint {
			t.Errorf("Flags(%#x).String(): got %q, want %q", uint8(tt.f), got, tt.wantPrint)
		}
	}
}

// TestFlagsRoundTrip: Names and ParseFlags are inverses for every set.
func TestFlagsRoundTrip(t *testing.T) {
	for f := range anonip.Flags(1 << 6) {
		got, err := anonip.ParseFlags(f.Names())
		if err != nil || got != f {
			t.Errorf("ParseFlags(%v): got %v, %v; want %v", f.Names(), got, err, f)
		}
	}
}
