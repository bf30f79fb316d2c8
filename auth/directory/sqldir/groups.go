package sqldir

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// Generations are counters bumped in the transaction of the change they
// announce, so replicas re-read a copy only when it moved (and PostgreSQL
// notifies them through the generations trigger).
const (
	genGroups  = "groups"   // a group, a membership or a user changed
	genAPIKeys = "api_keys" // an API key was revoked
	genDevices = "devices"  // a device login was revoked
)

func bumpGeneration(ctx context.Context, tx *sql.Tx, name string) error {
	_, err := tx.ExecContext(ctx, `UPDATE generations SET gen = gen + 1 WHERE name = $1`, name)
	return err
}

func (db *DB) generation(ctx context.Context, name string) (int64, error) {
	var gen int64
	err := db.db.QueryRowContext(ctx, `SELECT gen FROM generations WHERE name = $1`, name).Scan(&gen)
	return gen, db.d.classify(name+" generation", err)
}

func bumpGroups(ctx context.Context, tx *sql.Tx) error { return bumpGeneration(ctx, tx, genGroups) }

// GroupsGeneration reads the groups generation.
func (db *DB) GroupsGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, genGroups)
}

// CreateGroup stores a group without members.
func (db *DB) CreateGroup(ctx context.Context, g *directory.Group) error {
	now := db.timestamp()
	err := db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sales_groups (name, mode, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
			g.Name, g.Mode, g.Description, toMillis(now))
		if err != nil {
			return err
		}
		return bumpGroups(ctx, tx)
	})
	if err != nil {
		return db.d.classify("create group", err)
	}
	g.CreatedAt, g.UpdatedAt = now, now
	return nil
}

// UpdateGroup sets a group's mode and description.
func (db *DB) UpdateGroup(ctx context.Context, name, mode, description string) error {
	err := db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sales_groups SET mode = $2, description = $3, updated_at = $4 WHERE name = $1`,
			name, mode, description, toMillis(db.timestamp()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("group %q: %w", name, directory.ErrNotFound)
		}
		return bumpGroups(ctx, tx)
	})
	return db.d.classify("update group", err)
}

// DeleteGroup removes a group, its memberships and its name from the
// members' users.groups, in one transaction.
func (db *DB) DeleteGroup(ctx context.Context, name string) error {
	err := db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		members, err := memberIDs(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_name = $1`, name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sales_groups WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("group %q: %w", name, directory.ErrNotFound)
		}
		for _, id := range members {
			if err := db.copyGroups(ctx, tx, id); err != nil {
				return err
			}
		}
		return bumpGroups(ctx, tx)
	})
	return db.d.classify("delete group", err)
}

func memberIDs(ctx context.Context, tx *sql.Tx, group string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT user_id FROM group_members WHERE group_name = $1`, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Group returns one group with its members.
func (db *DB) Group(ctx context.Context, name string) (*directory.Group, error) {
	gs, err := db.groups(ctx, "group", `WHERE name = $1`, name)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("sqldir: group %q: %w", name, directory.ErrNotFound)
	}
	return &gs[0], nil
}

// ListGroups returns every group with its members, by name.
func (db *DB) ListGroups(ctx context.Context) ([]directory.Group, error) {
	return db.groups(ctx, "list groups", "")
}

// groups reads the groups matching where (on sales_groups, aliased as
// the table itself) and, in a second query, their members.
func (db *DB) groups(ctx context.Context, op, where string, args ...any) ([]directory.Group, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT name, mode, description, created_at, updated_at FROM sales_groups `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, db.d.classify(op, err)
	}
	var gs []directory.Group
	index := map[string]int{}
	for rows.Next() {
		var g directory.Group
		var created, updated int64
		if err := rows.Scan(&g.Name, &g.Mode, &g.Description, &created, &updated); err != nil {
			rows.Close()
			return nil, db.d.classify(op, err)
		}
		g.CreatedAt, g.UpdatedAt = fromMillis(created), fromMillis(updated)
		index[g.Name] = len(gs)
		gs = append(gs, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.d.classify(op, err)
	}
	if len(gs) == 0 {
		return nil, nil
	}
	q := `SELECT m.group_name, m.user_id, u.username, m.perms FROM group_members m JOIN users u ON u.id = m.user_id`
	if where != "" {
		q += ` WHERE m.group_name = $1`
	}
	rows, err = db.db.QueryContext(ctx, q+` ORDER BY m.group_name, u.username`, args...)
	if err != nil {
		return nil, db.d.classify(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var group, perms string
		var m directory.GroupMember
		if err := rows.Scan(&group, &m.UserID, &m.Username, &perms); err != nil {
			return nil, db.d.classify(op, err)
		}
		if err := json.Unmarshal([]byte(perms), &m.Perms); err != nil {
			return nil, fmt.Errorf("sqldir: %s: permissions of %s in %s: %w", op, m.UserID, group, err)
		}
		m.Perms = nilIfEmpty(m.Perms)
		if i, ok := index[group]; ok {
			gs[i].Members = append(gs[i].Members, m)
		}
	}
	return gs, db.d.classify(op, rows.Err())
}

// SetMember adds a membership or replaces its permissions.
func (db *DB) SetMember(ctx context.Context, group, userID string, perms []string) error {
	enc, err := encodeList(perms)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM sales_groups WHERE name = $1`, group, "group"); err != nil {
			return err
		}
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = $1`, userID, "user"); err != nil {
			return err
		}
		const q = `INSERT INTO group_members (group_name, user_id, perms) VALUES ($1, $2, $3)
			ON CONFLICT (group_name, user_id) DO UPDATE SET perms = excluded.perms`
		if _, err := tx.ExecContext(ctx, q, group, userID, enc); err != nil {
			return err
		}
		return db.copyGroups(ctx, tx, userID)
	})
	return db.d.classify("set group member", err)
}

// RemoveMember ends a membership.
func (db *DB) RemoveMember(ctx context.Context, group, userID string) error {
	err := db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_name = $1 AND user_id = $2`, group, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("%s is not in group %q: %w", userID, group, directory.ErrNotFound)
		}
		return db.copyGroups(ctx, tx, userID)
	})
	return db.d.classify("remove group member", err)
}

func exists(ctx context.Context, tx *sql.Tx, q, arg, what string) error {
	var one int
	if err := tx.QueryRowContext(ctx, q, arg).Scan(&one); err != nil {
		if err == sql.ErrNoRows {
			return fmt.Errorf("%s %q: %w", what, arg, directory.ErrNotFound)
		}
		return err
	}
	return nil
}

// copyGroups rewrites users.groups from the user's memberships, keeping
// the order of names already there and appending new ones in name order.
func (db *DB) copyGroups(ctx context.Context, tx *sql.Tx, userID string) error {
	var cur string
	if err := tx.QueryRowContext(ctx, `SELECT groups FROM users WHERE id = $1`, userID).Scan(&cur); err != nil {
		return err
	}
	var names []string
	_ = json.Unmarshal([]byte(cur), &names) // a malformed copy is rebuilt from the memberships
	member, err := memberships(ctx, tx, userID)
	if err != nil {
		return err
	}
	var out []string
	for _, n := range names {
		if member[n] && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	var added []string
	for n := range member {
		if !slices.Contains(out, n) {
			added = append(added, n)
		}
	}
	slices.Sort(added)
	enc, err := encodeList(append(out, added...))
	if err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, `UPDATE users SET groups = $2 WHERE id = $1`, userID, enc); err != nil {
		return err
	}
	return bumpGroups(ctx, tx)
}

func memberships(ctx context.Context, tx *sql.Tx, userID string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT group_name FROM group_members WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		m[g] = true
	}
	return m, rows.Err()
}

// syncMemberships makes the user's memberships exactly names: missing
// groups are created lead-based, memberships that stay keep their
// permissions, the rest end. The groups generation moves when a
// membership did or bump is set (a new user, a renamed one). Called by CreateUser and UpdateUser in the
// transaction that wrote users.groups.
func (db *DB) syncMemberships(ctx context.Context, tx *sql.Tx, userID string, names []string, bump bool) error {
	have, err := memberships(ctx, tx, userID)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	now := toMillis(db.timestamp())
	for _, n := range names {
		if want[n] {
			continue
		}
		want[n] = true
		if have[n] {
			continue
		}
		bump = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO sales_groups (name, mode, description, created_at, updated_at)
			VALUES ($1, $2, '', $3, $3) ON CONFLICT (name) DO NOTHING`, n, directory.ModeLeadBased, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_name, user_id, perms) VALUES ($1, $2, '[]')`, n, userID); err != nil {
			return err
		}
	}
	for n := range have {
		if !want[n] {
			bump = true
			if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_name = $1 AND user_id = $2`, n, userID); err != nil {
				return err
			}
		}
	}
	if !bump {
		return nil
	}
	return bumpGroups(ctx, tx)
}
