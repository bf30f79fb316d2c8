package configs

import (
	"slices"
	"strings"
	"testing"
)

func TestForwardAuthDefaultsOff(t *testing.T) {
	c, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ForwardAuth.Enabled || len(c.ForwardAuth.AllowedHosts) != 0 {
		t.Errorf("got forward_auth %+v, want off with no hosts", c.ForwardAuth)
	}
}

func TestForwardAuthValidation(t *testing.T) {
	tests := []struct {
		name, doc string
		env       []string
		wantErr   []string // each must appear; none means valid
		wantHosts []string
	}{
		{name: "enabled with a trusted proxy", doc: "trusted_proxies: [127.0.0.1]\nforward_auth: {enabled: true, allowed_hosts: [App.Example.com, '10.0.0.5:8443', '[2001:db8::1]:443']}",
			wantHosts: []string{"app.example.com", "10.0.0.5:8443", "[2001:db8::1]:443"}},
		{name: "from the environment", env: []string{"GATEHOUSE_TRUSTED_PROXIES=10.0.0.10", "GATEHOUSE_FORWARD_AUTH_ENABLED=true", "GATEHOUSE_FORWARD_AUTH_ALLOWED_HOSTS=a.example,b.example:8080"},
			wantHosts: []string{"a.example", "b.example:8080"}},
		{name: "enabled without trusted proxies", doc: "forward_auth: {enabled: true}",
			wantErr: []string{"forward_auth.enabled: set trusted_proxies"}},
		{name: "bad hosts", doc: "forward_auth: {allowed_hosts: ['https://app.example.com', 'app.example.com/x', 'evil.com@app.example.com', '', 'app:0', 'app:99999', 'app:', 'a b']}",
			wantErr: []string{"forward_auth.allowed_hosts[0]:", "forward_auth.allowed_hosts[1]:", "forward_auth.allowed_hosts[2]:",
				"forward_auth.allowed_hosts[3]:", "forward_auth.allowed_hosts[4]:", "forward_auth.allowed_hosts[5]:", "forward_auth.allowed_hosts[6]:", "forward_auth.allowed_hosts[7]:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), tt.env)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if !slices.Equal(c.ForwardAuth.AllowedHosts, tt.wantHosts) {
					t.Errorf("allowed_hosts = %q, want %q", c.ForwardAuth.AllowedHosts, tt.wantHosts)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}
