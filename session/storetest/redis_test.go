package storetest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// outcome records how RedisAddr ended a test instead of ending this one.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper() {}

func (o *outcome) Skipf(format string, args ...any) {
	o.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcome) Fatalf(format string, args ...any) {
	o.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestRedisAddrUnreachable: outside CI a missing server skips and says
// which variable to set; under CI=true it fails, so CI cannot go green by
// testing nothing.
func TestRedisAddrUnreachable(t *testing.T) {
	tests := []struct {
		ci       string
		wantSkip bool
	}{
		{ci: "", wantSkip: true},
		{ci: "false", wantSkip: true},
		{ci: "true", wantSkip: false},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv(RedisAddrEnv, "127.0.0.1:1")
			o := &outcome{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				RedisAddr(o)
			}()
			<-done
			msg := o.failed
			if tt.wantSkip {
				msg = o.skipped
			}
			if msg == "" {
				t.Fatalf("got skipped %q failed %q, want skip %v", o.skipped, o.failed, tt.wantSkip)
			}
			if !strings.Contains(msg, RedisAddrEnv) {
				t.Errorf("got %q, want it to name %s", msg, RedisAddrEnv)
			}
		})
	}
}
