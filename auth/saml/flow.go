package saml

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/session"
)

const (
	// transactionTTL is how long a started login waits for its response.
	transactionTTL = 10 * time.Minute
	// maxRelayState is the SAML bindings limit (3.4.3, 3.5.3).
	maxRelayState = 80
	// maxFormBytes caps the ACS body: the response plus RelayState and
	// form overhead. Anything bigger is refused before it is parsed.
	maxFormBytes = maxResponseBytes + 4<<10
)

// BindingCookie names the cookie StartBound returns. It must survive the
// IdP's cross-site POST to the ACS, so it is SameSite=None (Secure,
// HttpOnly, __Host-): a SameSite=Lax cookie would not be sent.
const BindingCookie = "__Host-gatehouse-saml"

// Transactions keeps one-time values with a TTL: pending logins under
// their RelayState, and seen assertion ids. session.Nonces satisfies it;
// Take returns session.ErrNotFound for a missing key.
type Transactions interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	Take(ctx context.Context, key string) ([]byte, error)
}

var _ Transactions = session.Nonces(nil)

// transaction is a pending SP-initiated login.
type transaction struct {
	RequestID string `json:"req"`
	Redirect  string `json:"rd,omitempty"`
	Binding   string `json:"bind,omitempty"` // sha256 of the browser's cookie
}

// Start begins an SP-initiated login: it stores a new AuthnRequest's id
// and rd under a random RelayState (one use, 10 minutes) and returns the
// IdP URL to redirect the browser to, carrying the signed request on the
// HTTP-Redirect binding. rd is stored as given and handed back by ACS:
// the caller cleans it (proxy.CleanRedirect) before and after.
func (c *Connector) Start(ctx context.Context, rd string) (string, error) {
	return c.start(ctx, rd, "")
}

// StartBound is Start plus login-CSRF protection: the returned cookie must
// be set on the browser, and ACS then refuses the response unless the same
// browser posts it. Without it, an attacker can start a login, obtain his
// own response and have a victim's browser post it (login CSRF).
func (c *Connector) StartBound(ctx context.Context, rd string) (string, *http.Cookie, error) {
	secret := rand.Text()
	u, err := c.start(ctx, rd, bindingHash(secret))
	if err != nil {
		return "", nil, err
	}
	return u, &http.Cookie{
		Name: BindingCookie, Value: secret, Path: "/", MaxAge: int(transactionTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode,
	}, nil
}

// StartWithBinding is StartBound for a caller that manages the browser
// binding itself (the gateway's one pre-login cookie for every provider):
// binding is the secret that browser holds, and ACSWithBinding must be
// given it again.
func (c *Connector) StartWithBinding(ctx context.Context, rd, binding string) (string, error) {
	if binding == "" {
		return "", errors.New("saml: empty login binding")
	}
	return c.start(ctx, rd, bindingHash(binding))
}

func (c *Connector) start(ctx context.Context, rd, binding string) (string, error) {
	req, err := c.v.sp.MakeAuthenticationRequest(c.ssoURL, crewsaml.HTTPRedirectBinding, crewsaml.HTTPPostBinding)
	if err != nil {
		return "", fmt.Errorf("saml %s: make authn request: %w", c.id, err)
	}
	relay := rand.Text() // base32: safe unescaped in the query crewjam builds
	val, err := json.Marshal(transaction{RequestID: req.ID, Redirect: rd, Binding: binding})
	if err != nil {
		return "", fmt.Errorf("saml %s: encode transaction: %w", c.id, err)
	}
	ok, err := c.tx.PutOnce(ctx, c.txKey(relay), val, transactionTTL)
	if err != nil {
		return "", fmt.Errorf("saml %s: store transaction: %w", c.id, err)
	}
	if !ok {
		return "", fmt.Errorf("saml %s: relay state collision", c.id)
	}
	u, err := req.Redirect(relay, &c.v.sp)
	if err != nil {
		return "", fmt.Errorf("saml %s: encode authn request: %w", c.id, err)
	}
	return u.String(), nil
}

// ACS checks a POSTed response and returns who it authenticates. Errors
// are *Error wrapping a sentinel (ErrUnsolicited, ErrReplay, ErrAudience,
// ErrInvalidResponse, ErrNoIdentity), or a store outage (fail closed).
// The route must be exempt from CrossOriginProtection (the IdP's POST is
// cross-site); these checks are its protection.
func (c *Connector) ACS(r *http.Request) (Result, error) {
	var presented string
	if ck, err := r.Cookie(BindingCookie); err == nil {
		presented = ck.Value
	}
	return c.ACSWithBinding(r, presented)
}

// ACSWithBinding is ACS with the browser's binding secret given by the
// caller (see StartWithBinding) instead of read from BindingCookie.
func (c *Connector) ACSWithBinding(r *http.Request, presented string) (Result, error) {
	samlResponse, relay, err := readPost(r)
	if err != nil {
		return Result{}, err
	}
	tx, ids, err := c.pending(r.Context(), relay, presented)
	if err != nil {
		return Result{}, err
	}
	a, err := c.v.verify(samlResponse, ids)
	if err != nil {
		return Result{}, err
	}
	if err := c.remember(r.Context(), a); err != nil {
		return Result{}, err
	}
	res, err := resultFrom(a)
	if err != nil {
		return Result{}, err
	}
	res.Redirect = tx.Redirect
	return res, nil
}

// readPost parses the form (crewjam would not: ParseResponse reads
// r.Form as is) under a size cap, and refuses the artifact binding, which
// would make crewjam call the IdP with http.DefaultClient.
func readPost(r *http.Request) (samlResponse, relay string, err error) {
	if r.Method != http.MethodPost || r.Body == nil {
		return "", "", refuse(ErrInvalidResponse, "want a POST with a body, got %s", r.Method)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return "", "", refuse(ErrInvalidResponse, "read form: %w", err)
	}
	if r.PostForm.Has("SAMLart") {
		return "", "", refuse(ErrInvalidResponse, "artifact binding is not supported")
	}
	if samlResponse = r.PostForm.Get("SAMLResponse"); samlResponse == "" {
		return "", "", refuse(ErrInvalidResponse, "no SAMLResponse in the form")
	}
	return samlResponse, r.PostForm.Get("RelayState"), nil
}

// pending consumes the login the RelayState names and returns the request
// ids the response may answer. With no such login, only an IdP-initiated
// response (no InResponseTo at all) is acceptable, and only if enabled.
func (c *Connector) pending(ctx context.Context, relay, presented string) (transaction, []string, error) {
	tx, found, err := c.take(ctx, relay)
	switch {
	case err != nil:
		return transaction{}, nil, err
	case found:
		if !boundTo(presented, tx.Binding) {
			return transaction{}, nil, refuse(ErrUnsolicited, "login was started by another browser")
		}
		return tx, []string{tx.RequestID}, nil
	case c.allowIDPInitiated:
		return transaction{}, []string{""}, nil
	}
	return transaction{}, nil, refuse(ErrUnsolicited, "no pending login for this RelayState")
}

func (c *Connector) take(ctx context.Context, relay string) (transaction, bool, error) {
	if !ourRelay(relay) {
		return transaction{}, false, nil
	}
	b, err := c.tx.Take(ctx, c.txKey(relay))
	if errors.Is(err, session.ErrNotFound) {
		return transaction{}, false, nil
	}
	if err != nil {
		return transaction{}, false, fmt.Errorf("saml %s: take transaction: %w", c.id, err)
	}
	var tx transaction
	if err := json.Unmarshal(b, &tx); err != nil {
		return transaction{}, false, fmt.Errorf("saml %s: decode transaction: %w", c.id, err)
	}
	return tx, true, nil
}

// remember is the replay cache crewjam lacks: an assertion id is accepted
// once while any copy of it could still pass the time checks.
func (c *Connector) remember(ctx context.Context, a *crewsaml.Assertion) error {
	ok, err := c.tx.PutOnce(ctx, "saml:assertion:"+c.id+":"+a.ID, []byte{1}, c.v.replayTTL(a))
	if err != nil {
		return fmt.Errorf("saml %s: replay cache: %w", c.id, err)
	}
	if !ok {
		return refuse(ErrReplay, "assertion %q was already used", a.ID)
	}
	return nil
}

func (c *Connector) txKey(relay string) string { return "saml:" + c.id + ":" + relay }

// ourRelay reports whether relay could be one Start made (rand.Text:
// base32 letters and digits). Anything else is never looked up, so a
// posted RelayState cannot name, and Take would delete, another key.
func ourRelay(relay string) bool {
	if relay == "" || len(relay) > maxRelayState {
		return false
	}
	for _, r := range relay {
		if (r < 'A' || r > 'Z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

func bindingHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// boundTo reports whether r comes from the browser a login was bound to;
// an unbound login (Start) matches any browser.
func boundTo(presented, want string) bool {
	if want == "" {
		return true
	}
	if presented == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(bindingHash(presented)), []byte(want)) == 1
}
