package sqldir

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// NotifyChannel is the PostgreSQL channel migration 0006's triggers
// notify on every change replicas hold in memory.
const NotifyChannel = "gatehouse_directory"

// ErrNoPush is Listen's answer on SQLite: one instance, nobody to tell.
var ErrNoPush = errors.New("sqldir: change notifications need PostgreSQL")

// listenCheck is how long the listening connection may be silent before
// it is pinged: a connection that looks open but is dead is found within
// about this long.
const listenCheck = time.Second

// Listen calls changed whenever the directory notifies a change, and once
// after every (re)connection, since notifications sent while no
// connection listened are lost and the caller must read again. state
// reports whether a listening connection is up. It runs until ctx ends,
// on a connection of its own (not one of the pool's), reconnecting with
// backoff; on SQLite it returns ErrNoPush at once.
func (db *DB) Listen(ctx context.Context, changed func(), state func(up bool)) error {
	if db.dsn == "" {
		return ErrNoPush
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := db.listenOnce(ctx, changed, state)
		state(false)
		if ctx.Err() != nil {
			break
		}
		_ = err // the caller sees the outage through state; the DSN-bearing error is not logged
		if listened {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

func (db *DB) listenOnce(ctx context.Context, changed func(), state func(bool)) (listened bool, err error) {
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		return false, fmt.Errorf("sqldir: listen: parse DSN: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "gatehouse-listen"
	// The wait below times out every listenCheck; pgx's default answer to
	// a done context is a cancel request, a new connection to the server
	// each time. A read deadline is all an idle LISTEN needs.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return false, err
	}
	state(true)
	changed()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			changed()
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, listenCheck)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}
