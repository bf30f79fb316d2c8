package reset_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/auth/reset"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// users is an in-memory account list; ResetPassword applies the stamp
// rule the directory-backed one does.
type users struct {
	mu   sync.Mutex
	byID map[string]*directory.User
	set  []string // passwords set, in order
	fail error
}

func (u *users) find(match func(*directory.User) bool) (*directory.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.byID {
		if match(x) {
			c := *x
			return &c, nil
		}
	}
	return nil, directory.ErrNotFound
}
func (u *users) UserByUsername(_ context.Context, n string) (*directory.User, error) {
	return u.find(func(x *directory.User) bool { return x.Username == n })
}
func (u *users) UserByEmail(_ context.Context, e string) (*directory.User, error) {
	return u.find(func(x *directory.User) bool { return strings.EqualFold(x.Email, e) })
}
func (u *users) UserByID(_ context.Context, id string) (*directory.User, error) {
	return u.find(func(x *directory.User) bool { return x.ID == id })
}
func (u *users) ResetPassword(_ context.Context, id string, stamp int64, pw string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fail != nil {
		return u.fail
	}
	x := u.byID[id]
	if x.SecurityStamp != stamp {
		return reset.ErrInvalidLink
	}
	x.SecurityStamp++
	u.set = append(u.set, pw)
	return nil
}

// outbox records what would be emailed (the SMTP path itself is tested
// in auth/email and end to end in cmd/gatehouse).
type outbox struct {
	mu   sync.Mutex
	sent []email.Message
}

func (o *outbox) Send(_ context.Context, m email.Message) error {
	o.mu.Lock()
	o.sent = append(o.sent, m)
	o.mu.Unlock()
	return nil
}

func (o *outbox) all() []email.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]email.Message(nil), o.sent...)
}

type rig struct {
	svc   *reset.Service
	users *users
	out   *outbox
	now   time.Time
	mu    sync.Mutex
}

func (r *rig) clock() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

func newRig(t testing.TB) *rig {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := secret.NewKeyring(secret.Key{ID: "k1", Bytes: key})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{now: time.Now(), out: &outbox{}, users: &users{byID: map[string]*directory.User{
		"u1": {ID: "u1", Username: "alice", Email: "Alice@Corp.example", PasswordHash: "$argon2id$x", SecurityStamp: 4},
		"u2": {ID: "u2", Username: "bob", Email: "bob@corp.example", PasswordHash: "$argon2id$x", Disabled: true},
		"u3": {ID: "u3", Username: "fed", Email: "fed@corp.example"},
		"u4": {ID: "u4", Username: "noemail", PasswordHash: "$argon2id$x"},
	}}}
	st := memory.New(r.clock)
	t.Cleanup(func() { st.Close() })
	pub, _ := url.Parse("https://crm.example.com")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.svc = reset.New(reset.Options{Users: r.users, Passwords: r.users, Keys: kr, Mail: r.out, Store: st,
		Audit: audit.New(log, nil), PublicURL: pub, Product: "Acme CRM", Log: log, Now: r.clock})
	return r
}

// token is the token of the n-th email's link.
func (r *rig) token(t *testing.T, n int) string {
	t.Helper()
	r.svc.Wait()
	sent := r.out.all()
	if len(sent) < n {
		t.Fatalf("%d emails, want at least %d", len(sent), n)
	}
	for _, line := range strings.Split(sent[n-1].Text, "\n") {
		if strings.HasPrefix(line, "https://crm.example.com/.gatehouse/password/reset?token=") {
			u, _ := url.Parse(line)
			return u.Query().Get("token")
		}
	}
	t.Fatalf("no link in:\n%s", sent[n-1].Text)
	return ""
}

// TestRequestSendsOnlyToKnownAccounts: a link goes to the account's own
// address whether it is asked for by username or by email; an unknown
// name, a disabled user, a user without a local password or without an
// address get nothing, and the same answer.
func TestRequestSendsOnlyToKnownAccounts(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, id := range []string{"alice", " ALICE@corp.example ", "nobody", "nobody@corp.example", "bob", "fed", "noemail", ""} {
		if err := r.svc.Request(ctx, id, "192.0.2.1"); err != nil {
			t.Fatalf("Request(%q): %v", id, err)
		}
	}
	r.svc.Wait()
	sent := r.out.all()
	if len(sent) != 2 || sent[0].To != "Alice@Corp.example" || sent[1].To != "Alice@Corp.example" {
		t.Fatalf("sent %+v, want two emails to alice", sent)
	}
	if !strings.Contains(sent[0].Subject, "Acme CRM") || !strings.Contains(sent[0].Text, "15 minutes") {
		t.Fatalf("email: %+v", sent[0])
	}
}

// TestRequestLimits: past 3 links per hour an account gets no more
// (answered as always); past 10 requests per 15 minutes a client network
// is told to wait.
func TestRequestLimits(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for i := range 5 {
		if err := r.svc.Request(ctx, "alice", "192.0.2.1"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	r.svc.Wait()
	if n := len(r.out.all()); n != reset.PerAccount {
		t.Fatalf("%d emails after 5 requests, want %d", n, reset.PerAccount)
	}
	for i := 5; i < reset.PerNetwork; i++ {
		if err := r.svc.Request(ctx, "nobody", "192.0.2.1"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if err := r.svc.Request(ctx, "nobody", "192.0.2.1"); !errors.Is(err, reset.ErrTooMany) {
		t.Fatalf("request %d from one network: %v, want ErrTooMany", reset.PerNetwork+1, err)
	}
	if err := r.svc.Request(ctx, "nobody", "198.51.100.1"); err != nil {
		t.Fatalf("another network: %v", err)
	}
}

// TestLinkAttacks: a link is refused when tampered with, expired, used
// once already, superseded by another link's use (the stamp moved), or
// for a user disabled since; a refused password leaves it usable.
func TestLinkAttacks(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.svc.Request(ctx, "alice", "192.0.2.1")
	r.svc.Request(ctx, "alice", "192.0.2.1")
	first, second := r.token(t, 1), r.token(t, 2)

	for _, bad := range []string{"", "x", first + "x", "A" + first[1:], strings.Replace(first, ".", ".A", 1), first[:len(first)-2]} {
		if _, err := r.svc.Check(ctx, bad); !errors.Is(err, reset.ErrInvalidLink) {
			t.Errorf("Check(%q): %v, want ErrInvalidLink", bad, err)
		}
	}
	l, err := r.svc.Check(ctx, first)
	if err != nil || l.User.Username != "alice" {
		t.Fatalf("Check: %v", err)
	}
	if err := r.svc.Complete(ctx, l, "short"); err == nil || errors.Is(err, reset.ErrInvalidLink) {
		t.Fatalf("a short password: %v", err)
	}
	r.users.fail = errors.Join(session.ErrUnavailable, io.ErrUnexpectedEOF)
	if err := r.svc.Complete(ctx, l, "a long enough passphrase"); err == nil {
		t.Fatal("store down: completed")
	}
	r.users.fail = nil
	if err := r.svc.Complete(ctx, l, "a long enough passphrase"); err != nil {
		t.Fatalf("Complete after a refused password and an outage: %v", err)
	}
	if err := r.svc.Complete(ctx, l, "another long passphrase"); !errors.Is(err, reset.ErrInvalidLink) {
		t.Fatalf("the same link twice: %v", err)
	}
	if _, err := r.svc.Check(ctx, first); !errors.Is(err, reset.ErrInvalidLink) {
		t.Fatalf("Check of a used link: %v", err)
	}
	if _, err := r.svc.Check(ctx, second); !errors.Is(err, reset.ErrInvalidLink) {
		t.Fatalf("the other link after one was used: %v, want ErrInvalidLink (stamp moved)", err)
	}
	if len(r.users.set) != 1 {
		t.Fatalf("passwords set: %v", r.users.set)
	}

	r.svc.Request(ctx, "alice", "192.0.2.1") // the third link this hour
	third := r.token(t, 3)
	r.advance(reset.Lifetime)
	if _, err := r.svc.Check(ctx, third); !errors.Is(err, reset.ErrInvalidLink) {
		t.Fatalf("a link %s old: %v", reset.Lifetime, err)
	}
	r.advance(-time.Minute)
	if _, err := r.svc.Check(ctx, third); err != nil {
		t.Fatalf("a link 14m old: %v", err)
	}
	r.users.byID["u1"].Disabled = true
	if _, err := r.svc.Check(ctx, third); !errors.Is(err, reset.ErrInvalidLink) {
		t.Fatalf("a disabled user's link: %v", err)
	}
}

// BenchmarkRequest is how long answering "send me a link" takes for a
// known and for an unknown account (the enumeration timing band): the
// same counting and lookups, with the link, the audit write and the email
// left to a background goroutine. ns/op includes that background work
// (it shares the CPUs); answer-p50-ns is the median time to the answer,
// what a client can measure. The clock moves an hour per request, so no
// limit applies and the known account's email goes out every time.
func BenchmarkRequest(b *testing.B) {
	for _, who := range []string{"alice", "nobody"} {
		b.Run(who, func(b *testing.B) {
			r := newRig(b)
			ctx := context.Background()
			var took []time.Duration
			for b.Loop() {
				r.advance(time.Hour)
				start := time.Now()
				if err := r.svc.Request(ctx, who, "192.0.2.1"); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			r.svc.Wait()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "answer-p50-ns")
		})
	}
}
