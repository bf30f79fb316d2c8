package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/gatehouse-auth/gatehouse/proxy/console"
)

// TestAdminOpenAPI: the served document is valid OpenAPI 3.1, names every
// admin route, and every answer the routes give in a scripted session —
// successes and refusals — matches the document's schema for it.
func TestAdminOpenAPI(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
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
		{root, "POST", "/admin/users/alice/logout", "", 200},
		{root, "POST", "/admin/users/nobody/logout", "", 404},
		{alice, "GET", "/admin/policy", "", 403},
		{nil, "GET", "/admin/users", "", 401},
		{root, "POST", "/reauth", `{"password":"wrong"}`, 403},
		{root, "POST", "/reauth", `{"password":"` + alicePW + `"}`, 204},
		{root, "GET", "/admin/audit?event=admin_api_call&limit=2", "", 200},
		{root, "GET", "/admin/audit?user=alice&format=ndjson", "", 200},
		{root, "GET", "/admin/audit?event=policy_changed&format=csv", "", 200},
		{root, "GET", "/admin/audit?event=no_such_event", "", 422},
		{root, "GET", "/admin/audit?since=yesterday", "", 400},
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
