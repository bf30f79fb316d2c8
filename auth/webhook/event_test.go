package webhook_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
)

// TestEventsMapped pins which audit events become which notification,
// and which are deliberately not sent (an end already reported, or no
// end at all).
func TestEventsMapped(t *testing.T) {
	at := time.Date(2026, 5, 4, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	ev := func(name, actor string, detail map[string]string) audit.Event {
		return audit.Event{Event: name, Time: at, Actor: actor, UserID: "u1", Detail: detail}
	}
	d := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		in   audit.Event
		want *webhook.Payload // nil: not sent
	}{
		{"logout", ev(audit.Logout, "alice", d("session", "s1")),
			&webhook.Payload{Type: "logout", Session: "s1", Reason: "logout"}},
		{"idle timeout", ev(audit.SessionExpired, "", d("reason", "idle_timeout", "session", "s1")),
			&webhook.Payload{Type: "idle_timeout", Session: "s1", Reason: "idle_timeout"}},
		{"absolute lifetime", ev(audit.SessionExpired, "", d("reason", "absolute_lifetime", "session", "s1")),
			&webhook.Payload{Type: "absolute_timeout", Session: "s1", Reason: "absolute_lifetime"}},
		{"device idle timeout", ev(audit.SessionExpired, "", d("reason", "idle_timeout", "device", "d1")),
			&webhook.Payload{Type: "idle_timeout", Device: "d1", Reason: "idle_timeout"}},
		{"admin logout", ev(audit.SessionRevoked, "root", d("reason", "admin_logout")),
			&webhook.Payload{Type: "revoked", Reason: "admin_logout"}},
		{"password set", ev(audit.SessionRevoked, "root", d("reason", "password_set")),
			&webhook.Payload{Type: "revoked", Reason: "password_set"}},
		{"one session ended by an admin", ev(audit.SessionRevoked, "root", d("reason", "admin_revoked", "session", "s2")),
			&webhook.Payload{Type: "revoked", Session: "s2", Reason: "admin_revoked"}},
		{"logout all", ev(audit.SessionRevoked, "root", d("reason", "logout_all")),
			&webhook.Payload{Type: "revoked", Reason: "logout_all"}},
		{"2FA mandate ends a session", ev(audit.SessionRevoked, "system", d("reason", "mfa_required", "session", "s3")),
			&webhook.Payload{Type: "revoked", Session: "s3", Reason: "mfa_required"}},
		{"IdP back-channel logout", ev(audit.SessionRevoked, "idp:corp", d("reason", "backchannel_logout", "session", "s4", "provider", "corp")),
			&webhook.Payload{Type: "revoked", Session: "s4", Reason: "backchannel_logout"}},
		{"a factor change ends another session", ev(audit.SessionRevoked, "system", d("reason", "factor_changed", "session", "s5")),
			&webhook.Payload{Type: "revoked", Session: "s5", Reason: "factor_changed"}},
		{"a factor change ends a device's login", ev(audit.SessionRevoked, "system", d("reason", "factor_changed", "device", "d2")),
			&webhook.Payload{Type: "revoked", Device: "d2", Reason: "factor_changed"}},
		{"device signed out", ev(audit.DeviceRevoked, "root", d("device", "d1", "reason", "revoked")),
			&webhook.Payload{Type: "device_logout", Device: "d1", Reason: "revoked"}},
		{"refresh token reuse signs the device out", ev(audit.DeviceRevoked, "system", d("device", "d1", "reason", "refresh_reuse")),
			&webhook.Payload{Type: "device_logout", Device: "d1", Reason: "refresh_reuse"}},
		{"user disabled", ev(audit.UserDisabled, "root", nil),
			&webhook.Payload{Type: "user_disabled", Reason: "user_disabled"}},
		// Reported once, by the event above them:
		{"revocation applied by a replica", ev(audit.SessionRevoked, "system", d("reason", "revocation", "count", "2")), nil},
		{"disable applied by a replica", ev(audit.SessionRevoked, "system", d("reason", "user_disabled", "count", "1")), nil},
		{"disable's own revocation", ev(audit.SessionRevoked, "root", d("reason", "user_disabled")), nil},
		{"revoked session arriving later", ev(audit.SessionRevoked, "system", d("reason", "revoked", "session", "s1")), nil},
		{"refresh reuse itself", ev(audit.RefreshReuse, "", d("device", "d1")), nil},
		// Not an end:
		{"login", ev(audit.LoginSuccess, "alice", d("session", "s1")), nil},
		{"expiry without a known reason", ev(audit.SessionExpired, "", d("reason", "other")), nil},
		{"no user", audit.Event{Event: audit.Logout, Time: at}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := webhook.Of(tt.in)
			if tt.want == nil {
				if ok {
					t.Fatalf("got %+v, want no notification", got)
				}
				return
			}
			want := *tt.want
			want.Time, want.User = time.Date(2026, 5, 4, 10, 0, 0, 123000000, time.UTC), webhook.User{ID: "u1"}
			if !ok || got != want {
				t.Fatalf("got %+v (%v), want %+v", got, ok, want)
			}
		})
	}
}
