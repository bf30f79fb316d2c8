package account

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// SignIns reads the user's recent login events from the audit log
// (auth/admin, wired in cmd/gatehouse).
type SignIns interface {
	// RecentSignIns returns up to n login_success and login_failure
	// events concerning userID, newest first.
	RecentSignIns(ctx context.Context, userID string, n int) ([]audit.Event, error)
}

// signInsShown is how many sign-ins the account page lists.
const signInsShown = 20

// signInRows turns login events into page rows; Result is a message id.
func signInRows(evs []audit.Event) []web.SignInRow {
	rows := make([]web.SignInRow, 0, len(evs))
	for _, e := range evs {
		row := web.SignInRow{Time: e.Time.Format(time.DateTime), Method: e.Detail["method"], Address: e.ClientIP,
			Result: "account.signin_failed"}
		if e.Event == audit.LoginSuccess {
			row.Result, row.OK = "account.signin_ok", true
		}
		rows = append(rows, row)
	}
	return rows
}
