-- 0010_groups_notify (PostgreSQL only): a change to a sales group or a
-- membership wakes every replica, which answers access checks from its
-- copy of the groups.

CREATE TRIGGER sales_groups_notify AFTER INSERT OR UPDATE OR DELETE ON sales_groups
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();

CREATE TRIGGER group_members_notify AFTER INSERT OR UPDATE OR DELETE ON group_members
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_directory();
