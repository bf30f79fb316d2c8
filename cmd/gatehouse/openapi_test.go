package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy/console"
	"github.com/gatehouse-auth/gatehouse/session"
)

// TestAdminOpenAPI: the served document is valid OpenAPI 3.1, names every
// admin route, and every answer the routes give in a scripted session —
// successes and refusals — matches the document's schema for it.
func TestAdminOpenAPI(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	aliceUser := r.addUser(t, "alice", alicePW, "sales")
	// What the user routes show and revoke: a key of alice's, one of
	// root's (not hers to revoke through her route), a mobile device.
	aliceKeyID, _, _ := apikey.Parse(createKey(t, r, "--user", "alice"))
	rootKeyID, _, _ := apikey.Parse(createKey(t, r, "--user", "root"))
	if err := r.a.dir.AddDevice(t.Context(), directory.Device{ID: "dev-alice", UserID: aliceUser.ID, ClientID: "mobile", UserAgent: "app/1"}); err != nil {
		t.Fatal(err)
	}
	resp, served := call(t, "GET", r.URL+"/.gatehouse/api/v1/openapi.json")
	if resp.StatusCode != 200 || served != string(console.OpenAPI) {
		t.Fatalf("openapi.json: %d", resp.StatusCode)
	}
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.FileBodyDecoder)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(console.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: r.URL + "/.gatehouse/api/v1"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	root := adminSession(t, r, clk)
	alice := newBrowser(t, r.URL)
	alice.Login(t, "alice", alicePW)
	// A second browser session of alice's, for the admin to end.
	before, err := r.sessions.List(t.Context(), aliceUser.ID)
	if err != nil {
		t.Fatal(err)
	}
	newBrowser(t, r.URL).Login(t, "alice", alicePW)
	after, err := r.sessions.List(t.Context(), aliceUser.ID)
	if err != nil || len(after) != len(before)+1 {
		t.Fatalf("alice's sessions: %v %v", after, err)
	}
	var aliceSID string
	for _, rec := range after {
		if !slices.ContainsFunc(before, func(b session.Record) bool { return b.ID == rec.ID }) {
			aliceSID = rec.ID
		}
	}
	calls := []struct {
		b                  *browser
		method, path, body string
		want               int
	}{
		{root, "GET", "/admin/policy", "", 200},
		{root, "POST", "/admin/policy/dry-run", `{"document":"session: {idle_timeout: 10m}"}`, 200},
		{root, "POST", "/admin/policy/dry-run", `{"document":"session: {idle_timeout: never}"}`, 422},
		{root, "PUT", "/admin/policy", `{"document":"session: {idle_timeout: 10m}","version":1}`, 200},
		{root, "PUT", "/admin/policy", `{"document":"session: {idle_timeout: 11m}","version":1}`, 409},
		{root, "PUT", "/admin/policy", `{"document":"session: {idle_timeout: 11m}"}`, 400},
		{root, "GET", "/admin/policy/history?limit=5", "", 200},
		{root, "POST", "/admin/policy/rollback", `{"to":1,"version":2}`, 200},
		{root, "POST", "/admin/policy/rollback", `{"to":99,"version":3}`, 404},
		{root, "GET", "/admin/users?q=a&limit=10", "", 200},
		// Before alice's logout below, which a directory poll may apply
		// at any moment.
		{alice, "GET", "/admin/explain/network?address=127.0.0.1", "", 403},
		{root, "GET", "/admin/users/alice/sessions", "", 200},
		{root, "GET", "/admin/users/nobody/sessions", "", 404},
		{root, "DELETE", "/admin/users/root/sessions/" + aliceSID, "", 404},
		{root, "DELETE", "/admin/users/alice/sessions/" + aliceSID, "", 200},
		{root, "DELETE", "/admin/users/alice/sessions/" + aliceSID, "", 404},
		{root, "POST", "/admin/users/alice/logout", "", 200},
		{root, "POST", "/admin/users/nobody/logout", "", 404},
		{alice, "GET", "/admin/policy", "", 403},
		{alice, "POST", "/admin/users/alice/enable", "", 403},
		{nil, "GET", "/admin/users", "", 401},
		{root, "POST", "/reauth", `{"password":"wrong"}`, 403},
		{root, "POST", "/reauth", `{"password":"` + alicePW + `"}`, 204},
		{root, "GET", "/admin/audit?event=admin_api_call&limit=2", "", 200},
		{root, "GET", "/admin/audit?user=alice&format=ndjson", "", 200},
		{root, "GET", "/admin/audit?event=policy_changed&format=csv", "", 200},
		{root, "GET", "/admin/audit?event=no_such_event", "", 422},
		{root, "GET", "/admin/audit?since=yesterday", "", 400},
		{root, "GET", "/admin/explain/network?address=127.0.0.1&user=alice", "", 200},
		{root, "GET", "/admin/explain/network?address=not-an-ip", "", 400},
		{root, "GET", "/admin/explain/network?address=192.0.2.1&user=nobody", "", 404},
		{root, "GET", "/admin/explain/access?user=alice&method=get&path=/leads", "", 200},
		{root, "GET", "/admin/explain/access?user=alice&path=leads", "", 400},
		{root, "GET", "/admin/users/alice", "", 200},
		{root, "GET", "/admin/users/nobody", "", 404},
		{root, "POST", "/admin/users", `{"username":"carol","email":"carol@corp.example","role":"sales","display_name":"Carol","groups":["east"],"password":"` + alicePW + `"}`, 201},
		{root, "POST", "/admin/users", `{"username":"carol","email":"carol2@corp.example","role":"sales"}`, 409},
		{root, "POST", "/admin/users", `{"username":"dave","email":"dave@corp.example","role":"slaes"}`, 422},
		{root, "POST", "/admin/users", `{"username":"dave"}`, 400},
		{root, "PATCH", "/admin/users/carol", `{"display_name":"Carol C","groups":[]}`, 200},
		{root, "PATCH", "/admin/users/carol", `{"email":"alice@corp.example"}`, 409},
		{root, "PATCH", "/admin/users/carol", `{"role":"nope"}`, 422},
		{root, "PATCH", "/admin/users/nobody", `{"role":"sales"}`, 404},
		{root, "POST", "/admin/users/carol/disable", "", 200},
		{root, "POST", "/admin/users/nobody/disable", "", 404},
		{root, "POST", "/admin/users/carol/enable", "", 200},
		{root, "POST", "/admin/users/nobody/enable", "", 404},
		{root, "PUT", "/admin/users/carol/password", `{"password":"short"}`, 422},
		{root, "PUT", "/admin/users/carol/password", `{"password":"` + alicePW + `"}`, 200},
		{root, "POST", "/admin/users/carol/2fa/reset", "", 200},
		{root, "POST", "/admin/users/nobody/2fa/reset", "", 404},
		{root, "PUT", "/admin/users/carol/2fa/required", `{"required":true}`, 200},
		{root, "PUT", "/admin/users/carol/2fa/required", `{}`, 400},
		{root, "PUT", "/admin/users/carol/allowlist", `{"cidrs":["10.0.0.0/8","192.0.2.1"]}`, 200},
		{root, "PUT", "/admin/users/carol/allowlist", `{"cidrs":["10.0.0.0/33"]}`, 422},
		{root, "PUT", "/admin/users/carol/allowlist", `{"allowlist":[{"cidr":"10.1.0.0/16","description":"Bangalore office"},{"cidr":"192.0.2.1"}]}`, 200},
		{root, "PUT", "/admin/users/carol/allowlist", `{"allowlist":[{"cidr":"10.0.0.0/8","description":"a\nb"}]}`, 422},
		{root, "PUT", "/admin/users/carol/allowlist", `{"allowlist":[],"cidrs":[]}`, 400},
		{root, "GET", "/admin/users/carol", "", 200},
		{root, "DELETE", "/admin/users/alice/api-keys/" + rootKeyID, "", 404},
		{root, "DELETE", "/admin/users/alice/api-keys/" + aliceKeyID, "", 200},
		{root, "DELETE", "/admin/users/root/api-keys", "", 200},
		{root, "DELETE", "/admin/users/nobody/api-keys", "", 404},
		{root, "DELETE", "/admin/users/alice/devices/no-such-device", "", 404},
		{root, "DELETE", "/admin/users/alice/devices/dev-alice", "", 200},
		{root, "DELETE", "/admin/users/nobody/devices", "", 404},
		{root, "DELETE", "/admin/users/alice/devices", "", 200},
		{root, "GET", "/admin/users/alice", "", 200}, // a revoked key, a signed-out device
		{root, "DELETE", "/admin/users/carol?erase=maybe", "", 400},
		{root, "DELETE", "/admin/users/carol?erase=true", "", 200},
		{root, "DELETE", "/admin/users/carol", "", 404},
		{root, "DELETE", "/admin/users/admin", "", 200}, // the first admin serve made; root is left
		{root, "DELETE", "/admin/users/root", "", 409},
		{root, "POST", "/admin/logout-all", `{"confirm":"no"}`, 400},
		{root, "POST", "/admin/logout-all", `{"confirm":"log out everyone"}`, 200},
	}
	for _, c := range calls {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, _ := http.NewRequest(c.method, r.URL+"/.gatehouse/api/v1"+c.path, body)
		req.Header.Set("Content-Type", "application/json")
		if c.b != nil {
			req.AddCookie(c.b.Cookie("gatehouse"))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, got, c.want)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not in the document: %v", c.method, c.path, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(got)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s → %d does not match the document: %v\n%s", c.method, c.path, resp.StatusCode, err, got)
		}
	}
}
