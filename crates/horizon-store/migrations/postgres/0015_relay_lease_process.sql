-- Which process holds the relay's lease (the id it heartbeats as), for the
-- dashboard's System page and `GET /v1/admin/cluster`. NULL for a lease
-- taken before this migration, or by a process that had not registered.
ALTER TABLE relay_lease ADD COLUMN process uuid;
