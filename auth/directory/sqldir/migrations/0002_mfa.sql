-- 0002_mfa: two-factor authentication.
--
-- users.security_stamp is bumped by the application whenever a credential
-- changes; remember-device tokens carry it and die when it moves.
-- totp_factors.secret is sealed (AES-GCM) by the application before it
-- gets here; recovery codes are stored only as hashes.

ALTER TABLE users ADD COLUMN security_stamp BIGINT NOT NULL DEFAULT 0;

CREATE TABLE totp_factors (
	user_id    TEXT     PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret     {{blob}} NOT NULL,                      -- sealed, never clear text
	created_at BIGINT   NOT NULL
);

CREATE TABLE recovery_codes (
	user_id TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    {{blob}} NOT NULL,
	used_at BIGINT   NULL,                             -- NULL while unused
	PRIMARY KEY (user_id, hash)
);
