// Command bareproxy is the load test's upper bound for Gatehouse: a bare
// httputil.ReverseProxy with nothing in front of it, tuned exactly as
// Gatehouse's own forwarder is (proxy.NewTransport and a 32 KiB buffer
// pool), so the gap between the two is the cost of authentication alone.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9002", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:9001", "URL to forward to")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("bareproxy: upstream: %v", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:  proxy.NewTransport(),
		BufferPool: &proxy.BufferPool{},
	}
	srv := &http.Server{Addr: *listen, Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
