-- 0012_api_keys_generation: a counter bumped when an API key is revoked,
-- so replicas drop what they cached at once (PostgreSQL notifies through
-- the generations trigger of 0010); their one-second cache bound remains
-- the safety net.

INSERT INTO generations (name, gen) VALUES ('api_keys', 1);
