-- 0015_must_change_password: an admin-set password the user must replace.
--
-- The product's "Enforce Password Reset": a password an administrator set
-- (or reset) works once, for a login that then owes a new password of the
-- user's own choosing before it reaches anything. Setting a password
-- yourself clears it.

ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
