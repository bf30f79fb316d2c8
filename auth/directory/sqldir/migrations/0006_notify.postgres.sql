-- 0006_notify (PostgreSQL only; recorded without effect on SQLite, which
-- serves one instance): every change a gateway replica must learn of
-- quickly sends NOTIFY gatehouse_directory, delivered at commit, so
-- replicas re-read at once instead of at their next poll. The payload is
-- the table's name; replicas re-read everything either way.

CREATE FUNCTION gatehouse_notify_directory() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('gatehouse_directory', TG_TABLE_NAME);
	RETURN NULL;
END
$$;

CREATE TRIGGER policy_versions_notify AFTER INSERT ON policy_versions
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();

CREATE TRIGGER session_revocations_notify AFTER INSERT ON session_revocations
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();

CREATE TRIGGER users_notify_rows AFTER INSERT OR DELETE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();

-- Only the columns replicas hold in memory: a login's last-seen write or
-- a password change must not wake every replica.
CREATE TRIGGER users_notify_update AFTER UPDATE OF disabled, allowed_cidrs ON users
	FOR EACH ROW
	WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled OR OLD.allowed_cidrs IS DISTINCT FROM NEW.allowed_cidrs)
	EXECUTE FUNCTION gatehouse_notify_directory();
