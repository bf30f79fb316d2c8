-- 0014_audit_query: an index for reading the audit log by event name
-- (directory.QueryAudit, `gatehouse audit --event`). 0001's indexes cover
-- the time order and the user filter; without this one a rare event is
-- found by reading the whole log backwards. time and id follow event so
-- that the newest-first order and the paging cursor are one range of it.
-- Migrations run in a transaction, so this cannot be CREATE INDEX
-- CONCURRENTLY: on a large PostgreSQL log, audit appends wait while it
-- builds, and those waiting past the recorder's 2s timeout are only in
-- the log stream.

CREATE INDEX audit_events_event ON audit_events (event, time, id);
