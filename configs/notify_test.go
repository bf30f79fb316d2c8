package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUpstreamNotifyDefaultsOff(t *testing.T) {
	c, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.UpstreamNotify; n.Enabled() || n.Timeout != 10*time.Second || n.GiveUpAfter != 24*time.Hour {
		t.Errorf("got upstream_notify %+v, want off, 10s timeout, 24h give_up_after", n)
	}
}

func TestUpstreamNotifyValidation(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# rotated 2026-05\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 0o600)
	readable := write("readable", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 0o644)
	short := write("short", "whsec_c2hvcnQ=\n", 0o600)
	raw := write("raw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 0o600)
	tests := []struct {
		name, doc string
		env       []string
		wantErr   []string // each must appear; none means valid
	}{
		{name: "configured", doc: "upstream_notify: {url: 'https://crm.internal/hooks', secret_file: " + good + ", timeout: 5s, give_up_after: 2h}"},
		{name: "from the environment", env: []string{"GATEHOUSE_UPSTREAM_NOTIFY_URL=http://127.0.0.1:9000/hooks", "GATEHOUSE_UPSTREAM_NOTIFY_SECRET_FILE=" + good}},
		{name: "no secret file", doc: "upstream_notify: {url: 'https://crm.internal/hooks'}",
			wantErr: []string{"upstream_notify.secret_file: required"}},
		{name: "secret readable by others", doc: "upstream_notify: {url: 'https://crm.internal/hooks', secret_file: " + readable + "}",
			wantErr: []string{"upstream_notify.secret_file:", "chmod 600"}},
		{name: "missing secret file", doc: "upstream_notify: {url: 'https://crm.internal/hooks', secret_file: " + filepath.Join(dir, "nope") + "}",
			wantErr: []string{"upstream_notify.secret_file:", "no such file"}},
		{name: "short secret", doc: "upstream_notify: {url: 'https://crm.internal/hooks', secret_file: " + short + "}",
			wantErr: []string{"upstream_notify.secret_file:", "line 1: the secret is 5 bytes"}},
		{name: "secret without prefix", doc: "upstream_notify: {url: 'https://crm.internal/hooks', secret_file: " + raw + "}",
			wantErr: []string{"upstream_notify.secret_file:", "whsec_"}},
		{name: "secret file without url", doc: "upstream_notify: {secret_file: " + good + "}",
			wantErr: []string{"upstream_notify.url: required when secret_file is set"}},
		{name: "bad url and bounds", doc: "upstream_notify: {url: 'ftp://crm/x', secret_file: " + good + ", timeout: 2m, give_up_after: 1s}",
			wantErr: []string{"upstream_notify.url:", "upstream_notify.timeout:", "upstream_notify.give_up_after:"}},
		{name: "credentials in url", doc: "upstream_notify: {url: 'https://u:p@crm/x', secret_file: " + good + "}",
			wantErr: []string{"upstream_notify.url: remove the user info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), tt.env)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if !c.UpstreamNotify.Enabled() || c.UpstreamNotify.URLParsed == nil {
					t.Errorf("upstream_notify %+v: want enabled with its URL parsed", c.UpstreamNotify)
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
			if strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				t.Errorf("error quotes the secret:\n%v", err)
			}
		})
	}
}
