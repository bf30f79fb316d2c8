-- 0018_otp_factors: second factors whose codes are sent to the user.
--
-- kind 'email' sends to the account's email address at send time (target
-- is empty, so an admin's change of address moves the factor with it);
-- 'sms' to target, a phone number. A user has at most one of each kind,
-- besides or instead of a TOTP factor; recovery codes are shared by all.

CREATE TABLE otp_factors (
	user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT   NOT NULL,
	target     TEXT   NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, kind)
);
