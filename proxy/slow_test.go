package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// trickle opens a login POST that promises a body and sends it a byte at
// a time, as a slowloris client does.
func trickle(t *testing.T, addr string, stop <-chan struct{}) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "POST /.gatehouse/login HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Sec-Fetch-Site: same-origin\r\nContent-Length: 1000\r\n\r\nu")
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := io.WriteString(conn, "x"); err != nil {
					return
				}
			}
		}
	}()
	return conn
}

// TestSlowLoginBodyCutOff: a login POST trickling a byte at a time was
// held for minutes (review finding F6); the page read deadline ends it.
func TestSlowLoginBodyCutOff(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{PageTimeout: 300 * time.Millisecond})
	public, _ := url.Parse(g.URL)
	stop := make(chan struct{})
	defer close(stop)
	conn := trickle(t, public.Host, stop)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("trickled login answered %d", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("trickled login still held after %s", time.Since(start))
	}
}

// TestHealthzAnswersDuringSlowLoginFlood: slow logins beyond MaxPages are
// refused at once, and health checks keep answering (review finding F6:
// 300 slow connections made healthz stop answering).
func TestHealthzAnswersDuringSlowLoginFlood(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{PageTimeout: 5 * time.Second, MaxPages: 4})
	public, _ := url.Parse(g.URL)
	stop := make(chan struct{})
	defer close(stop)
	for range 8 {
		trickle(t, public.Host, stop)
	}
	time.Sleep(200 * time.Millisecond)
	b := gatewaytest.NewBrowser(g.URL)
	if resp, _ := b.Get(t, "/.gatehouse/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz during the flood: %d", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/.gatehouse/login"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("login page past MaxPages: %d, want an immediate 503", resp.StatusCode)
	}
}
