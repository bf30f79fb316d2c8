-- 0016_webhook_outbox: the durable queue of session-end notifications to
-- the upstream's webhook (upstream_notify, auth/webhook). A row is written
-- when the event is recorded and deleted only after the receiver answered
-- 2xx (at-least-once). Senders on every replica claim due rows with a
-- lease (lease_until, claim) so two never send the same row at the same
-- time; a failed attempt moves next_attempt on (exponential backoff) and
-- a row given up is kept with failed_at set, for the operator.

CREATE TABLE webhook_outbox (
	id           TEXT    PRIMARY KEY,            -- the event id (webhook-id): the receiver's de-duplication key
	event_type   TEXT    NOT NULL,
	body         TEXT    NOT NULL,               -- the JSON sent, fixed at enqueue
	created_at   BIGINT  NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt BIGINT  NOT NULL,
	lease_until  BIGINT  NOT NULL DEFAULT 0,     -- 0 or past: free to claim
	claim        TEXT    NOT NULL DEFAULT '',    -- the holder of the current lease
	last_error   TEXT    NOT NULL DEFAULT '',
	failed_at    BIGINT  NOT NULL DEFAULT 0      -- 0: pending; else given up at
);

CREATE INDEX webhook_outbox_due ON webhook_outbox (failed_at, next_attempt, created_at);
