-- 0001_init: users, login policy versions, the audit log, signing keys.
--
-- One template for both dialects: {{autoid}} and {{blob}} are filled in by
-- sqldir's dialect. Times are BIGINT Unix milliseconds, UTC. Lists and
-- maps are JSON text. Later features (federated identities, TOTP secrets,
-- API keys, devices) get their own tables keyed by users.id.

CREATE TABLE users (
	id            TEXT    PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE,              -- stored lower-case
	email         TEXT    NOT NULL DEFAULT '',          -- as given
	email_key     TEXT    NOT NULL DEFAULT '',          -- lower-cased email, for lookup and uniqueness
	display_name  TEXT    NOT NULL DEFAULT '',
	password_hash TEXT    NOT NULL DEFAULT '',          -- PHC argon2id; '' = no local password
	role          TEXT    NOT NULL DEFAULT '',
	groups        TEXT    NOT NULL DEFAULT '[]',        -- JSON array of strings
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	require_2fa   BOOLEAN NOT NULL DEFAULT FALSE,
	allowed_cidrs TEXT    NOT NULL DEFAULT '[]',        -- JSON array of CIDRs
	created_at    BIGINT  NOT NULL,
	updated_at    BIGINT  NOT NULL
);

-- Email is unique only when set; the key is lower-cased in Go so both
-- dialects fold case the same way (SQLite's lower() is ASCII-only).
CREATE UNIQUE INDEX users_email_key ON users (email_key) WHERE email_key <> '';

-- Gateways poll the disabled set.
CREATE INDEX users_disabled ON users (disabled) WHERE disabled;

CREATE TABLE policy_versions (
	version    BIGINT PRIMARY KEY,
	document   TEXT   NOT NULL,                         -- YAML
	actor      TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE audit_events (
	id        {{autoid}},
	time      BIGINT NOT NULL,
	event     TEXT   NOT NULL,
	actor     TEXT   NOT NULL DEFAULT '',
	user_id   TEXT   NOT NULL DEFAULT '',               -- no foreign key: the log outlives erased users
	client_ip TEXT   NOT NULL DEFAULT '',
	detail    TEXT   NOT NULL DEFAULT '{}'               -- JSON object of strings
);

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_user ON audit_events (user_id, time);

CREATE TABLE signing_keys (
	kid        TEXT    PRIMARY KEY,
	alg        TEXT    NOT NULL,
	private    {{blob}} NOT NULL,                       -- PKCS#8 DER
	created_at BIGINT  NOT NULL,
	retired    BOOLEAN NOT NULL DEFAULT FALSE
);
