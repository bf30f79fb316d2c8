-- 0019_passkeys: WebAuthn credentials (passkeys and security keys).
--
-- A user may register several (a phone, a laptop, a spare key); together
-- they count as one more second factor beside TOTP and OTP ones and share
-- the recovery codes. credential is the record the WebAuthn library
-- keeps (public key, flags, AAGUID, transports) as it encodes it; the
-- columns beside it are what the directory itself has to query or
-- compare: the authenticator's credential id (unique: one credential is
-- one user's) and the signature counter, advanced by a conditional
-- UPDATE so that a cloned authenticator replaying an old count is caught
-- even when two replicas check assertions at once.

CREATE TABLE passkeys (
	id            TEXT     PRIMARY KEY,               -- public, random, for URLs
	user_id       TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id {{blob}} NOT NULL UNIQUE,
	name          TEXT     NOT NULL DEFAULT '',
	credential    {{blob}} NOT NULL,
	sign_count    BIGINT   NOT NULL DEFAULT 0,
	created_at    BIGINT   NOT NULL,
	last_used_at  BIGINT   NOT NULL DEFAULT 0
);

CREATE INDEX passkeys_user ON passkeys (user_id, created_at);
