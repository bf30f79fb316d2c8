// Command gatehouse-mobile-demo is the reference mobile client: it plays
// an app installation against a running gateway — PKCE login through the
// gateway's login form (as the system browser would), DPoP-bound calls
// through the proxy, a refresh with rotation, and sign-out — and prints
// each step. The password is read from GATEHOUSE_DEMO_PASSWORD or, when
// that is empty, from the first line of standard input.
//
//	gatehouse-mobile-demo --gateway http://127.0.0.1:8080 --user alice \
//	    --client crm-mobile --redirect com.example.crm:/oauth/callback
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/token/client"
)

func main() {
	gw := flag.String("gateway", "http://127.0.0.1:8080", "the gateway's public URL")
	user := flag.String("user", "", "the user to log in as")
	clientID := flag.String("client", "crm-mobile", "the app's client id (config mobile.clients)")
	redirect := flag.String("redirect", "com.example.crm:/oauth/callback", "the app's registered redirect URI")
	path := flag.String("path", "/", "the API path to call through the gateway")
	flag.Parse()
	u, err := url.Parse(*gw)
	if err != nil || *user == "" || u.Host == "" {
		fmt.Fprintln(os.Stderr, "usage: gatehouse-mobile-demo --gateway URL --user U [--client ID] [--redirect URI] [--path /]")
		os.Exit(2)
	}
	pw := os.Getenv("GATEHOUSE_DEMO_PASSWORD")
	if pw == "" {
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		pw = strings.TrimRight(line, "\r\n")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := client.Walkthrough{Gateway: u, ClientID: *clientID, RedirectURI: *redirect, Username: *user, Password: pw, Path: *path, Out: os.Stdout}
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-mobile-demo:", err)
		os.Exit(1)
	}
}
