-- 0011_api_keys: programs' credentials (auth/apikey). The secret is never
-- stored: hash is a keyed MAC of it (with the id of the secrets key that
-- made it, so keys survive a rotation of the secrets file).

CREATE TABLE api_keys (
	id            TEXT     PRIMARY KEY,
	user_id       TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name          TEXT     NOT NULL DEFAULT '',
	hash          {{blob}} NOT NULL,
	scopes        TEXT     NOT NULL DEFAULT '[]',   -- JSON array of features
	allowed_cidrs TEXT     NOT NULL DEFAULT '[]',   -- JSON array of CIDRs
	created_at    BIGINT   NOT NULL,
	expires_at    BIGINT   NOT NULL DEFAULT 0,      -- 0: never
	revoked_at    BIGINT   NOT NULL DEFAULT 0,      -- 0: live
	last_used_at  BIGINT   NOT NULL DEFAULT 0,
	last_used_ip  TEXT     NOT NULL DEFAULT ''
);

CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
