-- shard_coordinator.sql: this store's report rows on several PostgreSQL
-- servers, by patient key (doc/store.md, "Sharding").
--
-- Run it with psql as a superuser (postgres_fdw and an operator class need
-- one), on the coordinator, after `aodreport init`, before anything is
-- loaded, with the number of shards:
--     psql -d DBNAME -v shards=3 -f shard_coordinator.sql
-- The site first makes, on the coordinator, one postgres_fdw server per
-- shard, named aod_shard_1 ... aod_shard_N, with a user mapping for the
-- owner of schema aod (and for the reporting and loading logins, or PUBLIC)
-- that logs in on the shard as the owner of its schema aod.  Each shard is
-- an aodreport store of its own (`aodreport init`, then
-- shard_member.sql).
--
-- Afterwards aod.event_patient here is partitioned by HASH of patient_key,
-- one partition per shard, each a foreign table on its shard's
-- aod.event_patient; everything else stays here (the archive
-- aod.audit_event, search outcomes, the self-audit and retention records).
-- The hash is SHA-256 of the key, so that partition K-1 holds exactly the
-- patients `aodreport batch --shard K/N` takes: shard K's batch can run
-- on shard K.
\set ON_ERROR_STOP on

CREATE EXTENSION IF NOT EXISTS postgres_fdw;

BEGIN;

DO $$
BEGIN
    -- Written for the tables of migration 005; a later migration that
    -- reshapes aod.event_patient must be checked against this script (the
    -- sharding test runs it on a store at the newest schema).
    IF coalesce((SELECT max(version) FROM aod.schema_version), 0) < 5 THEN
        RAISE EXCEPTION 'shard_coordinator.sql needs schema version 5 or later; run aodreport init first';
    END IF;
    IF EXISTS (SELECT 1 FROM aod.event_patient) THEN
        RAISE EXCEPTION 'aod.event_patient holds rows: shard a store before loading it';
    END IF;
END
$$;

-- The first 8 bytes of SHA-256 of the key (UTF-8), as batch.c's shard does,
-- less the constant PostgreSQL adds when it combines the hash of a
-- partition key (hash_combine64 with 0): the partition remainder is then
-- those 8 bytes modulo the number of shards, as in `batch --shard`.
CREATE FUNCTION aod.shard_hash(k text, seed bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN v < -9223372036854775808 THEN v + 18446744073709551616 ELSE v END::bigint
      FROM (SELECT ('x' || encode(substr(sha256(convert_to(k, 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint::numeric
                   - 5305509591434766563 AS v) s
$$;

CREATE FUNCTION aod.shard_hash32(k text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('x' || encode(substr(sha256(convert_to(k, 'UTF8')), 1, 4), 'hex'))::bit(32)::integer
$$;

CREATE OPERATOR CLASS aod.shard_text_ops FOR TYPE text USING hash AS
    OPERATOR 1 = (text, text),
    FUNCTION 1 aod.shard_hash32(text),
    FUNCTION 2 aod.shard_hash(text, bigint);

-- The key of the shard a patient key is on (1..n), as batch --shard counts.
CREATE FUNCTION aod.shard_of(k text, n integer) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ((x::numeric + CASE WHEN x < 0 THEN 18446744073709551616 ELSE 0 END) % n + 1)::integer
      FROM (SELECT ('x' || encode(substr(sha256(convert_to(k, 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint AS x) s
$$;

-- Ask each shard what a scan costs (so that a patient's rows come sorted
-- by the shard's index instead of being sorted here), and fetch rows in
-- batches of 1000 rather than 100: unless the site set them otherwise.
SELECT format('ALTER SERVER %I OPTIONS (ADD %s %L)', s.srvname, o.name, o.value)
  FROM pg_foreign_server s
 CROSS JOIN (VALUES ('use_remote_estimate', 'true'), ('fetch_size', '1000')) o(name, value)
 WHERE s.srvname ~ '^aod_shard_[0-9]+$'
   AND NOT EXISTS (SELECT 1 FROM unnest(s.srvoptions) x WHERE x LIKE o.name || '=%') \gexec

-- The local, month-partitioned report table goes; the sharded one comes.
DROP TABLE aod.event_patient;

CREATE TABLE aod.event_patient (
    patient_key   text NOT NULL,
    recorded      timestamptz NOT NULL,
    event_id      bigint NOT NULL,
    norm_version  smallint NOT NULL DEFAULT 1,
    norm          text NOT NULL,
    other_keys    text[]
) PARTITION BY HASH (patient_key aod.shard_text_ops);

COMMENT ON TABLE aod.event_patient IS
    'Report index, sharded: a partition per shard server (postgres_fdw), by patient key.';

SELECT format('CREATE FOREIGN TABLE aod.event_patient_shard_%s PARTITION OF aod.event_patient'
              ' FOR VALUES WITH (MODULUS %s, REMAINDER %s) SERVER aod_shard_%s'
              ' OPTIONS (schema_name %L, table_name %L)',
              k, :shards, k - 1, k, 'aod', 'event_patient')
  FROM generate_series(1, :shards) k \gexec

-- Each shard's month partitions are made with the coordinator's: the
-- loader (and the self-audit) ask aod.ensure_partitions here, which now
-- also asks every shard (shard_member.sql's aod.partition_request).
SELECT format('CREATE FOREIGN TABLE aod.partition_request_shard_%s (at timestamptz NOT NULL)'
              ' SERVER aod_shard_%s OPTIONS (schema_name %L, table_name %L)',
              k, k, 'aod', 'partition_request')
  FROM generate_series(1, :shards) k \gexec

ALTER FUNCTION aod.ensure_partitions(timestamptz[]) RENAME TO ensure_partitions_here;

CREATE FUNCTION aod.ensure_partitions(t timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ft regclass;
    months timestamptz[];
BEGIN
    SELECT array_agg(DISTINCT date_trunc('month', x AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
      INTO months FROM unnest(t) x WHERE x IS NOT NULL AND isfinite(x);
    FOR ft IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'aod' AND c.relname LIKE 'partition\_request\_shard\_%'
                 AND c.relkind = 'f' ORDER BY c.relname LOOP
        EXECUTE format('INSERT INTO %s (at) SELECT unnest($1)', ft) USING months;
    END LOOP;
    RETURN aod.ensure_partitions_here(t);
END
$$;

REVOKE EXECUTE ON FUNCTION aod.ensure_partitions(timestamptz[]) FROM PUBLIC;

-- The integrity check of migration 003, row by row: PostgreSQL collects no
-- transition table of rows that go to foreign tables.  The same test (the
-- row against its event in the archive here), about the same cost per row.
CREATE FUNCTION aod.event_patient_check_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e aod.audit_event;
    why text;
BEGIN
    SELECT * INTO e FROM aod.audit_event a WHERE a.id = NEW.event_id AND a.recorded = NEW.recorded;
    why := CASE WHEN NOT FOUND THEN 'no such event is stored'
                ELSE aod.norm_disagreement(NEW.norm, NEW.patient_key, NEW.recorded, e) END;
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'aod.event_patient: the row for event % and patient key % disagrees with its stored event: %',
            NEW.event_id, NEW.patient_key, why
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON FUNCTION aod.event_patient_check_row() FROM PUBLIC;

CREATE TRIGGER event_patient_check AFTER INSERT ON aod.event_patient
    FOR EACH ROW EXECUTE FUNCTION aod.event_patient_check_row();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        GRANT SELECT ON aod.event_patient TO aod_reader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader') THEN
        GRANT INSERT ON aod.event_patient TO aod_loader;
        GRANT EXECUTE ON FUNCTION aod.ensure_partitions(timestamptz[]) TO aod_loader;
    END IF;
END
$$;

COMMIT;
