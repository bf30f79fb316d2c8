-- 0007_access: versioned documents (the permission templates today, the
-- access policy set next) and a user's own permission template.
--
-- A document kind's versions only grow, like policy_versions; the highest
-- is in force, and every earlier one stays for history and roll back.

CREATE TABLE documents (
	kind       TEXT   NOT NULL,
	version    BIGINT NOT NULL,
	body       TEXT   NOT NULL,
	actor      TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (kind, version)
);

-- '' = the role's default template.
ALTER TABLE users ADD COLUMN template TEXT NOT NULL DEFAULT '';
