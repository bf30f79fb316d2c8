-- 0003_revocations: "end every session of this user", asked for by one
-- process (the CLI, an admin API) and carried out by every gateway replica,
-- which polls recent rows. Rows only matter for a few minutes; old ones
-- are pruned.

CREATE TABLE session_revocations (
	id         {{autoid}},
	user_id    TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE INDEX session_revocations_created ON session_revocations (created_at);
