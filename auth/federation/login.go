package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
)

// Protocol is the protocol half of a redirect login (OIDC, SAML): it sends
// the browser to the provider and verifies what comes back. Finish returns
// who the provider vouches for and the rd given to Start; an error a user
// should see is an *auth.Refusal, any other is internal (the gateway fails
// closed).
type Protocol interface {
	// Protocol is "oidc" or "saml" (see auth.RedirectLogin).
	Protocol() string
	Start(ctx context.Context, rd, binding string) (string, error)
	Finish(r *http.Request, binding string) (Claims, string, error)
}

// Transactions keeps one-time values with a TTL (pending logins, seen
// SAML assertion ids); session.Nonces satisfies it, and a cluster must
// give the shared store.
type Transactions interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	Take(ctx context.Context, key string) ([]byte, error)
}

// Env is what the running gateway gives a login method to open one
// provider: the provider's common settings (id, label, mapping rule) and
// the shared services.
type Env struct {
	ID    string // the provider id, a path segment of its routes
	Label string // the login button's text
	Rule  Rule
	Users Store
	// PublicURL is the gateway's origin; the provider's callback and
	// metadata URLs are built from it.
	PublicURL    *url.URL
	Transactions Transactions
	// Client makes the provider's outbound requests (discovery, keys,
	// tokens, metadata); nil means the method's own default.
	Client *http.Client
	Now    func() time.Time // nil means time.Now
}

// NewLogin joins a protocol and the user mapping into an
// auth.RedirectLogin: after the protocol verified the provider's answer,
// Resolve finds (or creates) the user under env.Rule, and mapping errors
// become refusals that name the provider. A protocol that also serves
// metadata (SAML) or takes back-channel logouts (OIDC) keeps that
// ability.
func NewLogin(p Protocol, env Env) auth.RedirectLogin {
	l := &login{id: env.ID, label: env.Label, proto: p, users: env.Users, rule: env.Rule}
	if m, ok := p.(auth.MetadataProvider); ok {
		return &metadataLogin{login: l, MetadataProvider: m}
	}
	if b, ok := p.(auth.BackchannelLogout); ok {
		return &backchannelLogin{login: l, BackchannelLogout: b}
	}
	return l
}

type login struct {
	id, label string
	proto     Protocol
	users     Store
	rule      Rule
}

type metadataLogin struct {
	*login
	auth.MetadataProvider
}

type backchannelLogin struct {
	*login
	auth.BackchannelLogout
}

var (
	_ auth.RedirectLogin     = (*login)(nil)
	_ auth.MetadataProvider  = (*metadataLogin)(nil)
	_ auth.BackchannelLogout = (*backchannelLogin)(nil)
)

func (l *login) ID() string       { return l.id }
func (l *login) Label() string    { return l.label }
func (l *login) Protocol() string { return l.proto.Protocol() }

func (l *login) Start(ctx context.Context, rd, binding string) (string, error) {
	return l.proto.Start(ctx, rd, binding)
}

func (l *login) Finish(r *http.Request, binding string) (auth.FederatedResult, error) {
	claims, rd, err := l.proto.Finish(r, binding)
	if err != nil {
		return auth.FederatedResult{}, err
	}
	u, out, err := Resolve(r.Context(), l.users, claims, l.rule)
	if err != nil {
		return auth.FederatedResult{}, l.refusal(claims.Method, err)
	}
	detail := map[string]string{}
	if out.Created {
		detail["user_created"] = "true"
	}
	if out.Linked {
		detail["identity_linked"] = "true"
	}
	return auth.FederatedResult{Identity: IdentityFor(u, claims), Redirect: rd, MFA: claims.MFA, Detail: detail}, nil
}

// refusals are the mapping errors a user is told about; %s is the
// provider's label. Any other error (a directory outage) stays internal.
var refusals = []struct {
	err         error
	reason, msg string
}{
	{ErrNoAccount, "no_account", "Your %s account is not set up for this application. Ask your administrator."},
	{ErrDisabled, "disabled", "Your account cannot sign in here. Ask your administrator."},
	{ErrUnverifiedEmail, "email_unverified", "%s did not confirm your email address, so it cannot be used to sign in."},
	{ErrBadEmail, "bad_email", "%s sent an email address this application cannot use."},
	{ErrNoRole, "no_role", "Your %s account has no role in this application any more. Ask your administrator."},
}

func (l *login) refusal(method string, err error) error {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return Refuse(http.StatusForbidden, method, r.reason, r.msg, l.label, nil)
		}
	}
	return err
}

// Refuse builds the refusal of a federated login: the page's status, the
// stable code "federated_<reason>", a fixed message safe to show, and for
// the log and audit an *auth.Failure wrapping auth.ErrInvalidCredentials
// and the cause, if any (never a token or an assertion).
// format's %s, when it has one, is the provider's label (the Refusal's
// Arg, for pages that word the message in another language).
func Refuse(status int, method, reason, format, label string, cause error) *auth.Refusal {
	err := auth.ErrInvalidCredentials
	if cause != nil {
		err = fmt.Errorf("%w: %w", auth.ErrInvalidCredentials, cause)
	}
	ref := &auth.Refusal{Status: status, Code: "federated_" + reason, Message: Message(format, label),
		Err: &auth.Failure{Method: method, Reason: reason, Err: err}}
	if strings.Contains(format, "%s") {
		ref.Arg = label
	}
	return ref
}

// RefusalCodes are the codes of the mapping refusals, for the page
// catalogues' test (each needs an "error.<code>" text).
func RefusalCodes() []string {
	codes := make([]string, len(refusals))
	for i, r := range refusals {
		codes[i] = "federated_" + r.reason
	}
	return codes
}

// Message fills a refusal text's %s, if it has one, with the provider's
// label.
func Message(format, label string) string {
	if strings.Contains(format, "%s") {
		return fmt.Sprintf(format, label)
	}
	return format
}
