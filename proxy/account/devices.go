package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// DeviceService is what the account page needs to show and sign out the
// user's own mobile devices (the directory, with auth/token ending the
// devices' sessions).
type DeviceService interface {
	// UserDevices returns the user's devices, live and revoked, newest
	// first.
	UserDevices(ctx context.Context, userID string) ([]directory.Device, error)
	// SignOut ends the device only if it is the user's: another user's
	// or an unknown id is directory.ErrNotFound, so the answer tells
	// nothing about devices that are not theirs. actor and ip go to the
	// audit record.
	SignOut(ctx context.Context, userID, deviceID, actor, ip string) error
}

// signedOutShown caps the signed-out devices listed: the directory keeps
// every device a user ever had, and an old phone's row helps nobody.
const signedOutShown = 5

// reasonLabels name the directory's revoke reasons (auth/token's, spelled
// out so the route set does not import the token service) for the user,
// as message ids; an unknown reason is shown as stored.
var reasonLabels = map[string]string{
	"revoked":        "account.reason_revoked",
	"another_device": "account.reason_another_device",
	"refresh_reuse":  "account.reason_refresh_reuse",
	"logged_out":     "account.reason_logged_out",
}

// deviceRows turns the user's devices into page rows: every live one,
// then the most recent signed-out ones, and how many older ones are left
// out.
func deviceRows(devs []directory.Device) (rows []web.DeviceRow, hidden int) {
	var ended []web.DeviceRow
	for _, d := range devs {
		row := web.DeviceRow{ID: d.ID, Client: d.ClientID, UserAgent: d.UserAgent, FirstSeen: d.FirstSeen.Format(time.DateTime),
			LastSeen: d.LastSeen.Format(time.DateTime), LastIP: d.LastIP, Live: true}
		if d.RevokedAt.IsZero() {
			rows = append(rows, row)
			continue
		}
		reason := reasonLabels[d.RevokeReason]
		if reason == "" {
			reason = d.RevokeReason
		}
		row.EndedAt, row.EndedWhy, row.Live = d.RevokedAt.Format(time.DateTime), reason, false
		ended = append(ended, row)
	}
	if len(ended) > signedOutShown {
		hidden, ended = len(ended)-signedOutShown, ended[:signedOutShown]
	}
	return append(rows, ended...), hidden
}

// signOutDevice ends one of the signed-in user's mobile devices. It needs
// no fresh sign-in, unlike key changes: it only takes access away, so a
// borrowed session gains nothing by it.
func (p *Pages) signOutDevice(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := p.devices.SignOut(r.Context(), c.Identity.UserID, id, c.Identity.Username, c.IP.String()); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			p.renderAccount(w, r, "", "account.no_device", http.StatusNotFound)
			return
		}
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.renderAccountWith(w, r, web.PageData{Notice: "account.device_out", NoticeArg: id}, http.StatusOK)
}
