package main

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
)

// selfData adapts the admin service's personal-data export to the
// account page (proxy/account.PersonalData).
type selfData struct{ svc *admin.Service }

func (d selfData) Export(ctx context.Context, userID string) (any, error) {
	return d.svc.PersonalData(ctx, userID)
}
