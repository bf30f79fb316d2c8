package configs

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds arbitrary bytes through the path Load uses. It must never
// panic, and whatever it accepts must survive a marshal/parse round trip
// unchanged (so `gatehouse check-config` output could be fed back in).
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`providers:
  - {id: google, type: google, client_id: x, client_secret: s, hosted_domains: [corp.example], group_map: {A: {groups: [a]}}}
  - {id: adfs, type: saml, idp_metadata_file: m, sp_cert_file: a, sp_key_file: b, clock_skew: 2m, jit: {enabled: true, role: sales}}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, nil)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		again, err := Parse(out, nil)
		if err != nil {
			t.Fatalf("re-parse of accepted config failed: %v\n%s", err, out)
		}
		if out2, _ := yaml.Marshal(again); string(out2) != string(out) {
			t.Fatalf("round trip changed the config:\n%s\nthen\n%s", out, out2)
		}
	})
}
