-- 0017_webhook_requeue: when an operator last put a given-up event back in
-- the queue (`gatehouse webhook retry`); 0: never. The sender counts
-- give_up_after from it when it is later than created_at, so a re-queued
-- event is retried as long as a new one, while created_at keeps saying
-- when the event was first queued.

ALTER TABLE webhook_outbox ADD COLUMN requeued_at BIGINT NOT NULL DEFAULT 0;
