-- shard_member.sql: this store is one shard of a sharded store
-- (shard_coordinator.sql; doc/store.md, "Sharding").
--
-- Run it with psql as the owner of schema aod, on each shard, after
-- `aodreport init`:
--     psql -d DBNAME -f shard_member.sql
-- The shard's aod.event_patient takes the report rows of its patients from
-- the coordinator, which keeps the archive (aod.audit_event) and checks
-- every row against it (the integrity trigger of migration 003 runs
-- there); here the same trigger would look for the event in an archive
-- that is not here, so it is turned off for the coordinator's rows.  A
-- report run on the shard itself still records its own run here, in full.
\set ON_ERROR_STOP on

ALTER TABLE aod.event_patient DISABLE TRIGGER event_patient_check;

-- The coordinator makes the months' partitions here as it makes its own:
-- a row inserted into this table (through postgres_fdw) makes the
-- partitions of its month and is not kept.
CREATE TABLE IF NOT EXISTS aod.partition_request (at timestamptz NOT NULL);

CREATE OR REPLACE FUNCTION aod.partition_request_make() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM aod.ensure_partitions(ARRAY[NEW.at]);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS partition_request_make ON aod.partition_request;
CREATE TRIGGER partition_request_make BEFORE INSERT ON aod.partition_request
    FOR EACH ROW EXECUTE FUNCTION aod.partition_request_make();
