package proxy

import (
	"net/http"
	"net/netip"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// errNetworkBlocked deliberately does not say which list matched: that
// would tell an attacker what to route around. The audit log has it.
var errNetworkBlocked = &Error{Status: http.StatusForbidden, Code: "network_blocked",
	Message: "Access from this network is not allowed. If you think this is wrong, contact your administrator."}

// networkAllowed runs the guard and, when it refuses, answers the request
// and records the block. It reports whether the caller may go on.
func (g *Gateway) networkAllowed(w http.ResponseWriter, r *http.Request, ip netip.Addr, login bool, role, userID, username string) bool {
	if g.Network == nil {
		return true
	}
	v := g.Network.Check(ip, login, role, userID)
	if v.Allow {
		return true
	}
	detail := map[string]string{"rule": v.Rule, "login": boolString(login)}
	if v.Detail != "" {
		detail["detail"] = v.Detail
	}
	g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.NetworkBlocked, Actor: username, UserID: userID, ClientIP: ip.String(), Detail: detail})
	if v.Rule == policy.RuleUnverifiable {
		g.renderError(w, r, errUnavailable)
		return false
	}
	g.renderError(w, r, errNetworkBlocked)
	return false
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
