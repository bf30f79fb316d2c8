-- 0004_federated: a user's identities at external providers, keyed by the
-- provider id AND its subject (ASVS 6.8.1), so one IdP can never claim
-- another IdP's users, and a user stays the same user when their email
-- changes at the IdP.

CREATE TABLE federated_identities (
	provider   TEXT   NOT NULL,
	subject    TEXT   NOT NULL,
	user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (provider, subject)
);

CREATE INDEX federated_identities_user ON federated_identities (user_id);
