// Command dpopclient feeds the load test's DPoP target. wrk cannot sign,
// and every DPoP proof is single use, so proofs are signed ahead of each
// run and wrk's Lua script (bench/dpop.lua) sends one per request:
//
//	dpopclient login  -gateway URL -user U -password-file F -dir DIR
//	    logs in as the mobile app (PKCE through the login form, DPoP
//	    token exchange) and keeps the device key and tokens in DIR;
//	dpopclient proofs -dir DIR -url URL -n N -out FILE
//	    signs N proofs for GET URL bound to the access token in DIR.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/token/client"
)

const (
	clientID = "bench-mobile"
	redirect = "com.example.bench:/cb"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: dpopclient login|proofs [flags]"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	gw := fs.String("gateway", "", "the gateway's public URL (login)")
	user := fs.String("user", "bench", "the user (login)")
	pwFile := fs.String("password-file", "", "a file holding the password (login)")
	dir := fs.String("dir", "", "where the device key and tokens are kept")
	target := fs.String("url", "", "the URL the proofs are for (proofs)")
	n := fs.Int("n", 10000, "how many proofs (proofs)")
	out := fs.String("out", "", "the proofs file, one per line (proofs)")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "login":
		fail(login(*gw, *user, *pwFile, *dir))
	case "proofs":
		fail(proofs(*dir, *target, *n, *out))
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpopclient:", err)
		os.Exit(1)
	}
}

func login(gw, user, pwFile, dir string) error {
	u, err := url.Parse(gw)
	if err != nil {
		return err
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	app, err := client.New(u, clientID, redirect, hc)
	if err != nil {
		return err
	}
	p := client.NewPKCE()
	jar, _ := cookiejar.New(nil)
	final, err := client.BrowserLogin(context.Background(), &http.Client{Jar: jar, Timeout: 30 * time.Second}, app.AuthorizeURL(p, true), user, strings.TrimSpace(string(pw)))
	if err != nil {
		return err
	}
	code, err := app.CodeFrom(final, p)
	if err != nil {
		return err
	}
	if err := app.Exchange(context.Background(), code, p); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(app.Key())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "device.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "access"), []byte(app.Access), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "token_type"), []byte(app.Type), 0o600)
}

func proofs(dir, target string, n int, out string) error {
	b, err := os.ReadFile(filepath.Join(dir, "device.pem"))
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return fmt.Errorf("device.pem: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("device.pem: not an ECDSA key")
	}
	access, err := os.ReadFile(filepath.Join(dir, "access"))
	if err != nil {
		return err
	}
	u, _ := url.Parse(target)
	app, err := client.NewWithKey(u, clientID, redirect, nil, key)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	for range n {
		p, err := app.Proof(http.MethodGet, target, string(access))
		if err != nil {
			return err
		}
		fmt.Fprintln(f, p)
	}
	return f.Close()
}
