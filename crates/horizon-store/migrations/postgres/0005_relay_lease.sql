-- The relay's leadership: a lease with an expiry on the database's clock,
-- renewed by the leader every ~1.5 s. A dead, frozen or partitioned leader
-- stops renewing and another process takes the lease once it expires (the
-- epoch counts the hand-overs). Kafka's transactional fencing stops a
-- zombie leader's writes; the lease only decides who should relay.
CREATE TABLE relay_lease (
    name        text PRIMARY KEY,
    holder      uuid NOT NULL,
    epoch       bigint NOT NULL,
    expires_at  timestamptz NOT NULL
);
