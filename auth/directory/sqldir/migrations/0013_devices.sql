-- 0013_devices: the mobile app's device logins (directory.Devices). The id
-- is the device session's id; a row outlives its session so the user's
-- device list shows ended logins too. Revoking moves the devices
-- generation, which wakes every replica (PostgreSQL notifies through the
-- generations trigger of 0010, which covers every row) to delete the
-- sessions of the devices RevokedDevicesSince names.

CREATE TABLE devices (
	id            TEXT   PRIMARY KEY,
	user_id       TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id     TEXT   NOT NULL DEFAULT '',
	user_agent    TEXT   NOT NULL DEFAULT '',
	first_seen    BIGINT NOT NULL,
	last_seen     BIGINT NOT NULL,
	last_ip       TEXT   NOT NULL DEFAULT '',
	revoked_at    BIGINT NOT NULL DEFAULT 0,      -- 0: live
	revoke_reason TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX devices_user ON devices (user_id, first_seen);
CREATE INDEX devices_revoked ON devices (revoked_at);

INSERT INTO generations (name, gen) VALUES ('devices', 1);
