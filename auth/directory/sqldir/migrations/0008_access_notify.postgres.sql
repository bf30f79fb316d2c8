-- 0008_access_notify (PostgreSQL only): a new document version wakes every
-- replica, as a new policy version does (0006).

CREATE TRIGGER documents_notify AFTER INSERT ON documents
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();
