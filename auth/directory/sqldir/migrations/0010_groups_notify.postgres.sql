-- 0010_groups_notify (PostgreSQL only): a change to a sales group, a
-- membership or a user bumps the groups generation (0009), which wakes
-- every replica; they answer access checks from their copy of the groups.

CREATE TRIGGER generations_notify AFTER UPDATE ON generations
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();
