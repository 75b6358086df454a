-- The database's identity: the exactly-once relay writes it into its
-- position records in Kafka and refuses to resume from a record written for
-- another database (two deployments sharing one transactional id and
-- position topic would otherwise take each other's positions and mark
-- events published that never were sent).
CREATE TABLE horizon_database (
    id         uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO horizon_database (id) VALUES (gen_random_uuid());
