package main

import (
	"cmp"
	"context"
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// selfData adapts the admin service's personal-data export to the
// account page (proxy/account.PersonalData).
type selfData struct{ svc *admin.Service }

func (d selfData) Export(ctx context.Context, userID string) (any, error) {
	return d.svc.PersonalData(ctx, userID)
}

// selfSignIns lists a user's recent logins for the account page.
type selfSignIns struct{ svc *admin.Service }

func (s selfSignIns) RecentSignIns(ctx context.Context, userID string, n int) ([]audit.Event, error) {
	var all []audit.Event
	for _, ev := range []string{audit.LoginSuccess, audit.LoginFailure} {
		evs, err := s.svc.Audit(ctx, admin.AuditFilter{UserID: userID, Event: ev, Limit: n})
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
	}
	slices.SortFunc(all, func(a, b audit.Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(all) > n {
		all = all[:n]
	}
	return all, nil
}
