package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HeaderRequestID names a request across the load balancer, the gateway,
// the CRM and their logs.
const HeaderRequestID = "X-Request-Id"

// requestIDs hands out ids unique to this process: a random prefix drawn
// at start and a counter, so making one costs no entropy and no lock.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (ids *requestIDs) next() string {
	var buf [32]byte
	out := append(buf[:0], ids.prefix...)
	return string(strconv.AppendUint(out, ids.n.Add(1), 36))
}

// validRequestID accepts what a proxy in front plausibly sends: short,
// printable, no spaces or quotes (it lands in logs and headers).
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// accessWriter records what the access log needs. The pipeline fills in
// the caller when it knows one, through the writer it was handed (no
// context value, so no extra allocation per request).
type accessWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	caller *Caller
}

func (w *accessWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *accessWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (WebSocket
// tunnels hijack it, streaming responses flush).
func (w *accessWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps streaming responses streaming through the wrapper.
func (w *accessWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

var accessWriters = sync.Pool{New: func() any { return new(accessWriter) }}

// noteCaller tells the access log who the request was, when w is the
// gateway's own writer.
func noteCaller(w http.ResponseWriter, c *Caller) {
	if aw, ok := w.(*accessWriter); ok {
		aw.caller = c
	}
}

// serveLogged gives the request its id (a trusted proxy's, else a new
// one), returns it to the client and passes it to the upstream, counts it
// in the metrics, and writes the access log line after the response.
func (g *Gateway) serveLogged(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(HeaderRequestID)
	if id == "" || !validRequestID(id) || !g.clientIP.FromTrustedProxy(r) {
		id = g.requestIDs.next()
		r.Header.Set(HeaderRequestID, id)
	}
	w.Header().Set(HeaderRequestID, id)
	aw := accessWriters.Get().(*accessWriter)
	*aw = accessWriter{ResponseWriter: w}
	g.tele.inflight.Inc()
	start := time.Now()
	g.handler.ServeHTTP(aw, r)
	d := time.Since(start)
	g.tele.inflight.Dec()
	status := aw.status
	if status == 0 {
		status = http.StatusOK
	}
	g.tele.observeRequest(r, status, d)
	if g.accessLog {
		g.logAccess(r, aw, id, status, d)
	}
	*aw = accessWriter{}
	accessWriters.Put(aw)
}

func (g *Gateway) logAccess(r *http.Request, aw *accessWriter, id string, status int, d time.Duration) {
	var ip, user, method string
	if c := aw.caller; c != nil {
		ip = c.IP.String()
		if c.SignedIn() {
			user, method = c.Identity.UserID, strings.Join(c.Identity.Methods, "+")
		}
	} else {
		ip = g.clientIP.Resolve(r).String()
	}
	g.access.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes", aw.bytes),
		slog.String("client_ip", ip),
		slog.String("user_id", user),
		slog.String("auth_method", method),
	)
}
