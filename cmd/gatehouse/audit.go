package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

const auditUse = `audit [--user U] [--event E] [--since T] [--until T] [--limit N] [--format table|ndjson|csv]`

// Default --limit per format: a screenful for a person, more for an
// export, which a script asks to raise when it wants everything.
const (
	auditTableLimit  = 50
	auditExportLimit = 1000
)

// cmdAudit reads the audit log, newest first: a table for a person, or
// NDJSON or CSV for a script or a spreadsheet. stdout holds the table or
// the export and nothing else; the note that --limit cut the list short
// goes to stderr.
func cmdAudit(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("audit")
	user := fs.String("user", "", "only events concerning this user (username)")
	event := fs.String("event", "", "only events with this name, e.g. login_failure, user_disabled")
	since := fs.String("since", "", "only events at or after T: RFC 3339 (2026-03-01T09:00:00Z), a date (2026-03-01, UTC) or a duration ago (24h, 7d)")
	until := fs.String("until", "", "only events before T, in the forms of --since")
	limit := fs.Int("limit", 0, fmt.Sprintf("at most N events, newest first (default %d for table, %d for ndjson and csv)", auditTableLimit, auditExportLimit))
	format := fs.String("format", "table", "table, ndjson or csv")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q: %s", errUsage, pos[0], auditUse)
	}
	f := admin.AuditFilter{Username: *user, Event: *event}
	now := time.Now()
	if f.Since, err = parseWhen(*since, now); err != nil {
		return fmt.Errorf("%w: --since: %v", errUsage, err)
	}
	if f.Until, err = parseWhen(*until, now); err != nil {
		return fmt.Errorf("%w: --until: %v", errUsage, err)
	}
	n := auditExportLimit
	switch *format {
	case "table":
		n = auditTableLimit
	case "ndjson", "csv":
	default:
		return fmt.Errorf("%w: --format: %q is not table, ndjson or csv", errUsage, *format)
	}
	if flagSet(fs, "limit") {
		if *limit <= 0 {
			return fmt.Errorf("%w: --limit: must be a positive number of events, not %d", errUsage, *limit)
		}
		n = *limit
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	// One event more than asked tells whether --limit cut the list.
	events, err := svc.AuditAll(ctx, f, n+1)
	if err != nil {
		return cliError(err, *user)
	}
	more := len(events) > n
	events = events[:min(len(events), n)]
	w := bufio.NewWriter(e.stdout)
	switch *format {
	case "ndjson":
		err = admin.WriteAuditNDJSON(w, events)
	case "csv":
		err = admin.WriteAuditCSV(w, events)
	default:
		err = writeAuditTable(ctx, w, svc, events)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return err
	}
	if more {
		fmt.Fprintf(e.stderr, "showing the newest %d events; there are more (raise --limit, or narrow with --since and --until)\n", n)
	}
	return nil
}

// writeAuditTable prints events for a person: times in UTC to the
// second, users by name (by id once the user is deleted), and every cell
// made printable, since actors, addresses and details can come from
// whoever is logging in and must not move the cursor or recolour the
// terminal.
func writeAuditTable(ctx context.Context, w *bufio.Writer, svc *admin.Service, events []audit.Event) error {
	names := map[string]string{}
	for _, ev := range events {
		if ev.UserID != "" {
			users, err := svc.Users(ctx)
			if err != nil {
				return err
			}
			for _, u := range users {
				names[u.ID] = u.Username
			}
			break
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tACTOR\tUSER\tIP\tDETAIL")
	for _, ev := range events {
		user := ev.UserID
		if n, ok := names[user]; ok {
			user = n
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), printable(ev.Event),
			printable(ev.Actor), printable(user), printable(ev.ClientIP), admin.FormatDetail(ev.Detail))
	}
	return tw.Flush()
}

// printable is s for a table cell: "-" when empty, Go-quoted when it
// holds a tab (which would split the cell) or anything unprintable.
func printable(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r == unicode.ReplacementChar || !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// parseWhen reads a --since or --until value: an RFC 3339 time, a date
// (midnight UTC) or a duration before now ("24h", "7d"). "" is no bound.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseLifetime(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (2026-03-01T09:00:00Z, 2026-03-01) nor a duration ago (24h, 7d)", s)
}

// flagSet reports whether name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
