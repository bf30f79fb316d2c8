package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// selfKeys adapts the admin operations to the account page's key
// self-service (proxy/account.Keys).
type selfKeys struct {
	svc  *admin.Service
	mac  admin.MACer
	auth *apikey.Authenticator
}

func (k selfKeys) List(ctx context.Context, userID string) ([]directory.APIKey, error) {
	return k.svc.UserAPIKeys(ctx, userID)
}

func (k selfKeys) Create(ctx context.Context, actor, username, name string, expires time.Duration, scopes []string) (string, error) {
	tok, _, err := k.svc.CreateAPIKey(ctx, actor, k.mac, admin.NewAPIKey{Username: username, Name: name, Expires: expires, Scopes: scopes})
	var inv *admin.InvalidError
	if errors.As(err, &inv) {
		var msgs []string
		for _, p := range inv.Problems {
			msgs = append(msgs, p.Message)
		}
		return "", userError(strings.Join(msgs, "; "))
	}
	return tok, err
}

func (k selfKeys) Revoke(ctx context.Context, actor, userID, id string) error {
	err := k.svc.RevokeOwnAPIKey(ctx, actor, userID, id)
	if errors.Is(err, admin.ErrNoAPIKey) {
		return fmt.Errorf("%w: %v", directory.ErrNotFound, err)
	}
	if err == nil {
		k.auth.Evict(id) // this replica at once; the others through the directory
	}
	return err
}

// userError is an error whose text is meant for the user.
type userError string

func (e userError) Error() string       { return string(e) }
func (e userError) UserMessage() string { return string(e) }
