-- 0009_groups: sales groups with an access mode, and memberships that may
-- carry manager permissions (auth/directory Groups).
--
-- group_members is the membership; users.groups keeps the same names as a
-- JSON copy, written in the same transactions, so reading a user stays one
-- query. Existing users.groups entries become lead-based groups here.

CREATE TABLE sales_groups (
	name        TEXT   PRIMARY KEY,
	mode        TEXT   NOT NULL DEFAULT 'lead_based',   -- lead_based | account_based
	description TEXT   NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
	group_name TEXT NOT NULL REFERENCES sales_groups (name) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	perms      TEXT NOT NULL DEFAULT '[]',              -- JSON array of manager permissions
	PRIMARY KEY (group_name, user_id)
);

CREATE INDEX group_members_user ON group_members (user_id);

INSERT INTO sales_groups (name, created_at, updated_at)
	SELECT DISTINCT g.value, {{now_millis}}, {{now_millis}} FROM users, {{each_group}};

INSERT INTO group_members (group_name, user_id)
	SELECT DISTINCT g.value, users.id FROM users, {{each_group}};

-- A counter bumped in every transaction that changes a group, a
-- membership or a user, so replicas re-read their copy of the groups
-- only when it moved (directory.Groups.GroupsGeneration).
CREATE TABLE generations (
	name TEXT   PRIMARY KEY,
	gen  BIGINT NOT NULL
);

INSERT INTO generations (name, gen) VALUES ('groups', 1);
