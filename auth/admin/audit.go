package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// AuditFilter selects audit events. Every field is optional; the filters
// are ANDed. The field names of the *InvalidError Audit returns are
// "user", "event", "since", "until", "before" and "limit".
type AuditFilter struct {
	// Username selects the events concerning this user (resolved to the
	// id the events carry); ErrNoUser when nobody has it.
	Username string
	// UserID selects by id instead, for the events of a deleted user,
	// which stay in the log after the username is gone. Not with
	// Username.
	UserID string
	Event  string    // an event name (audit.LoginFailure…); case-insensitive
	Since  time.Time // at or after, inclusive
	Until  time.Time // before, exclusive
	// Before is the paging cursor: the ID of the last event of the
	// previous page (directory.AuditQuery.Before).
	Before int64
	// Limit is Audit's page size: 0 means directory.AuditPageDefault, at
	// most directory.AuditPageMax. AuditAll ignores it.
	Limit int
}

// auditLog is what reading the log needs of the directory. Directory
// does not embed it yet, so Audit asserts it at run time (every real
// directory has it); adding it to Directory would make that a compile
// error instead.
type auditLog interface {
	QueryAudit(ctx context.Context, q directory.AuditQuery) ([]audit.Event, error)
}

// Audit returns one page of the events f selects, newest first. The next
// page is f with Before set to the last event's ID; a page shorter than
// the limit is the last.
func (s *Service) Audit(ctx context.Context, f AuditFilter) ([]audit.Event, error) {
	log, q, err := s.auditQuery(ctx, f, true)
	if err != nil {
		return nil, err
	}
	return log.QueryAudit(ctx, q)
}

// AuditAll returns up to max events f selects, newest first, reading the
// log a page at a time (f.Limit is ignored); an export. max bounds the
// memory the caller spends, so it is required.
func (s *Service) AuditAll(ctx context.Context, f AuditFilter, max int) ([]audit.Event, error) {
	if max <= 0 {
		return nil, &InvalidError{Problems: []FieldProblem{{Field: "limit", Message: "must be a positive number of events"}}}
	}
	log, q, err := s.auditQuery(ctx, f, false)
	if err != nil {
		return nil, err
	}
	var all []audit.Event
	for len(all) < max {
		q.Limit = min(max-len(all), directory.AuditPageMax)
		page, err := log.QueryAudit(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	return all, nil
}

// auditQuery checks f and turns it into a directory query; withLimit
// says whether f.Limit is checked and used.
func (s *Service) auditQuery(ctx context.Context, f AuditFilter, withLimit bool) (auditLog, directory.AuditQuery, error) {
	log, ok := s.dir.(auditLog)
	if !ok {
		return nil, directory.AuditQuery{}, errors.New("admin: this directory cannot read the audit log")
	}
	q := directory.AuditQuery{UserID: f.UserID, Event: strings.ToLower(strings.TrimSpace(f.Event)),
		Since: f.Since, Until: f.Until, Before: f.Before}
	var e InvalidError
	if f.Username != "" && f.UserID != "" {
		e.add("user", "give a username or a user id, not both")
	}
	if q.Event != "" && !slices.Contains(eventNames, q.Event) {
		e.add("event", "unknown event %q; %s", q.Event, suggestEvents(q.Event))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		e.add("until", "must be after since (%s is not after %s)", f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	if f.Before < 0 {
		e.add("before", "must be an event id from a previous page")
	}
	if withLimit {
		if f.Limit < 0 || f.Limit > directory.AuditPageMax {
			e.add("limit", "must be between 1 and %d events (0: %d)", directory.AuditPageMax, directory.AuditPageDefault)
		}
		q.Limit = f.Limit
	}
	if err := e.err(); err != nil {
		return nil, q, err
	}
	if f.Username != "" {
		u, err := s.User(ctx, f.Username)
		if err != nil {
			return nil, q, err
		}
		q.UserID = u.ID
	}
	return log, q, nil
}

// eventNames are the events the log can hold, sorted: auth/audit's
// constants, including ones no longer recorded, since old rows keep
// them. TestAuditEventNamesComplete fails when auth/audit gains a name
// this list lacks.
var eventNames = slices.Sorted(slices.Values([]string{
	audit.LoginSuccess, audit.LoginFailure, audit.LoginLockout, audit.Logout,
	audit.SessionExpired, audit.SessionRevoked, audit.UserCreated, audit.UserDisabled,
	audit.UserEnabled, audit.UserChanged, audit.UserDeleted, audit.UserUnlocked, audit.UserErased, audit.PasswordSet, audit.PasswordChanged, audit.PasswordChangeRequired, audit.PasswordResetRequested, audit.PasswordReset, audit.PolicyChanged, audit.PolicySeeded,
	audit.KeyRotated, audit.StoreOutage, audit.NetworkBlocked,
	audit.MFARequired, audit.MFASuccess, audit.MFAFailure, audit.MFALockout,
	audit.MFAEnrolled, audit.MFACodeSent, audit.MFARemoved, audit.MFARecoveryReset, audit.MFAReset,
	audit.MFARequirement, audit.UserAllowlist, audit.UserRoleChanged,
	audit.TemplatesSeeded, audit.TemplateChanged, audit.TemplateDeleted, audit.UserTemplateChanged,
	audit.GroupCreated, audit.GroupChanged, audit.GroupDeleted, audit.GroupMemberAdded,
	audit.GroupMemberRemoved, audit.GroupPermsChanged,
	audit.AccessPoliciesSeeded, audit.AccessPoliciesChanged,
	audit.APIKeyCreated, audit.APIKeyRevoked, audit.APIKeyRefused,
	audit.DeviceLogin, audit.DeviceRevoked, audit.RefreshReuse, audit.TokenRefused,
	audit.LogoutAll, audit.AdminAPI, audit.PersonalDataExported, audit.WebhookRequeued,
}))

// EventNames returns every event name the log can hold, sorted (for a
// filter's choices).
func EventNames() []string { return slices.Clone(eventNames) }

// suggestEvents names a few valid events for a mistyped one: those that
// share its first word ("login_fail" → login_failure, login_lockout…),
// else the first few.
func suggestEvents(name string) string {
	word, _, _ := strings.Cut(name, "_")
	var near []string
	for _, n := range eventNames {
		if strings.HasPrefix(n, word+"_") || strings.Contains(n, name) {
			near = append(near, n)
		}
	}
	if len(near) > 0 && len(near) <= 10 {
		return "did you mean " + strings.Join(near, ", ") + "?"
	}
	return fmt.Sprintf("known events include %s… (%d in all)", strings.Join(eventNames[:5], ", "), len(eventNames))
}

// AuditRecord is an event as the exports and the admin API show it. The
// JSON field names are stable: scripts match on them, as log pipelines
// match on the slog keys they mirror.
type AuditRecord struct {
	ID       int64             `json:"id"`
	Time     string            `json:"time"` // RFC 3339, UTC, milliseconds
	Event    string            `json:"event"`
	Actor    string            `json:"actor"`
	UserID   string            `json:"user_id"`
	ClientIP string            `json:"client_ip"`
	Detail   map[string]string `json:"detail"` // {} when none, never null
}

// auditTime is RFC 3339 with fixed milliseconds (the directory's
// precision), so two events in one second keep their order and the
// column sorts as text.
const auditTime = "2006-01-02T15:04:05.000Z07:00"

// NewAuditRecord returns e as an AuditRecord.
func NewAuditRecord(e audit.Event) AuditRecord {
	d := e.Detail
	if d == nil {
		d = map[string]string{}
	}
	return AuditRecord{ID: e.ID, Time: e.Time.UTC().Format(auditTime), Event: e.Event, Actor: e.Actor,
		UserID: e.UserID, ClientIP: e.ClientIP, Detail: d}
}

// WriteAuditNDJSON writes one AuditRecord JSON object per line.
func WriteAuditNDJSON(w io.Writer, events []audit.Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(NewAuditRecord(e)); err != nil {
			return fmt.Errorf("write audit ndjson: %w", err)
		}
	}
	return nil
}

// AuditCSVHeader is the first row WriteAuditCSV writes.
var AuditCSVHeader = []string{"id", "time", "event", "actor", "user_id", "client_ip", "detail"}

// WriteAuditCSV writes a header and one row per event; detail is
// FormatDetail's key=value pairs. Actors, addresses and detail values can
// come from whoever is logging in, and the file is opened in spreadsheets,
// so every cell a spreadsheet would run as a formula is defused
// (CSVSafe).
func WriteAuditCSV(w io.Writer, events []audit.Event) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(AuditCSVHeader); err != nil {
		return fmt.Errorf("write audit csv: %w", err)
	}
	for _, e := range events {
		r := NewAuditRecord(e)
		row := []string{strconv.FormatInt(r.ID, 10), r.Time, r.Event, r.Actor, r.UserID, r.ClientIP, FormatDetail(e.Detail)}
		for i := range row {
			row[i] = CSVSafe(row[i])
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write audit csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write audit csv: %w", err)
	}
	return nil
}

// CSVSafe defuses a spreadsheet cell: one beginning with =, +, -, @, a
// tab or a carriage return, which Excel and LibreOffice read as a
// formula (=cmd|' /C calc'!A0 runs a program), gets a leading single
// quote, as OWASP's CSV injection guidance says. Quoting of commas,
// quotes and line breaks is encoding/csv's.
func CSVSafe(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// FormatDetail writes detail as key=value pairs sorted by key, separated
// by spaces. A key or value that is empty, holds a space, '=', '"' or
// anything unprintable (a newline, a terminal escape, invalid UTF-8) is
// Go-quoted, so the pairs read back unambiguously and print safely on a
// terminal.
func FormatDetail(detail map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(detail)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteIfNeeded(k))
		b.WriteByte('=')
		b.WriteString(quoteIfNeeded(detail[k]))
	}
	return b.String()
}

// quoteIfNeeded Go-quotes s when it would not read back as one token.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return r == ' ' || r == '=' || r == '"' || r == utf8.RuneError || !unicode.IsPrint(r)
	}) {
		return strconv.Quote(s)
	}
	return s
}
