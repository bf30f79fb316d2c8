// Command upstream is the load test's stand-in CRM: it answers every
// request with the same small HTML page, so what bench/load.sh measures in
// front of it is the proxy, not the application.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()

	body := []byte(page(*size))
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", length)
		w.Write(body)
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// page returns an HTML document of exactly n bytes (at least its frame).
func page(n int) string {
	const head, tail = "<!doctype html><title>crm</title><p>", "</p>\n"
	fill := max(n-len(head)-len(tail), 0)
	return head + strings.Repeat("x", fill) + tail
}
