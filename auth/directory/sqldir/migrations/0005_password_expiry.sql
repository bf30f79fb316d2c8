-- 0005_password_expiry: a password that stops working at a set time.
--
-- The first admin's generated password expires an hour after it was shown
-- (ASVS 6.4.1: an initial secret is short-lived); setting a password
-- clears it. 0 means the password does not expire.

ALTER TABLE users ADD COLUMN password_expires_at BIGINT NOT NULL DEFAULT 0;
