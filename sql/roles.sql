-- roles.sql: the database roles of aodreport, least privilege.
--
-- Run it with psql, after `aodreport init`, as the owner of schema aod (the
-- login that ran init) holding CREATEROLE, or as a superuser:
--     psql -d DBNAME -f roles.sql
-- It stops at the first error, and running it again changes nothing.  Then
-- grant the group roles to login roles:
--     GRANT aod_reader TO alice;  GRANT aod_loader TO etl;
-- Both are NOLOGIN group roles; passwords (or certificates) belong to the
-- login roles.  doc/operations.md, "Install into an existing PostgreSQL",
-- walks through the whole set-up.
--
--   owner       owns schema aod and everything in it; `aodreport init`
--               (migrations) runs as the owner, nothing else should.
--   aod_reader  report, explain, batch: reads the store, and appends only
--               its own self-audit record, through aod.record_self_audit()
--               (and reads the retention horizon, aod.retention_horizon())
--               (no INSERT, UPDATE or DELETE on any table).
--   aod_loader  load: inserts events and their report rows; it may read
--               only the event keys it needs to skip what is stored, never
--               a resource or aod.event_patient, and may not update or
--               delete an event.  Its rows are checked against the events
--               they point to by a trigger (sql/003_least_privilege.sql).
--               It also replaces the site inputs (load-roster,
--               load-patient-facts, load-care): DELETE and INSERT on those
--               tables only, never SELECT.
\set ON_ERROR_STOP on

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'aod') THEN
        RAISE EXCEPTION 'schema aod not found in database %: run aodreport init first',
            current_database();
    END IF;
END
$$;
SELECT r.rolname AS owner
  FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
 WHERE n.nspname = 'aod' \gset

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        CREATE ROLE aod_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader') THEN
        CREATE ROLE aod_loader NOLOGIN;
    END IF;
END
$$;

-- Start from nothing, so that what an older roles.sql granted (INSERT for
-- the reader, SELECT for the loader, TEMP) goes away.
REVOKE ALL ON SCHEMA aod FROM PUBLIC, aod_reader, aod_loader;
REVOKE ALL ON ALL TABLES IN SCHEMA aod FROM PUBLIC, aod_reader, aod_loader;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA aod FROM PUBLIC, aod_reader, aod_loader;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aod FROM PUBLIC, aod_reader, aod_loader;
REVOKE SELECT (id, event_key) ON aod.audit_event FROM aod_loader;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM aod_loader, aod_reader',
                   current_database());
END
$$;

GRANT USAGE ON SCHEMA aod TO aod_reader, aod_loader;

-- The reporting role reads; its one write is its self-audit record.
GRANT SELECT ON aod.audit_event, aod.event_patient, aod.schema_version, aod.search_outcome,
    aod.retention_log, aod.partition_info, aod.observer_day, aod.observer_span, aod.observer_gap
    TO aod_reader;
-- and the site inputs (migration 010): roster, patient facts, care relationships
GRANT SELECT ON aod.roster, aod.patient_fact, aod.care_relationship, aod.site_input
    TO aod_reader;
GRANT EXECUTE ON FUNCTION aod.record_self_audit(text, text[], text, text, text, date, date,
    timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb),
    aod.record_self_audits(jsonb),
    aod.retention_horizon()
    TO aod_reader;

-- The loader inserts; it reads the event keys (to skip what is stored) and
-- the schema version, and reserves event ids from the sequence.
GRANT INSERT ON aod.audit_event, aod.event_patient, aod.search_outcome TO aod_loader;
-- the completeness statement's records per source and day: added to at load
GRANT EXECUTE ON FUNCTION aod.observer_days_add(text[], int[], bigint[], text[]) TO aod_loader;
-- The site inputs are replaced whole by each load: DELETE then COPY, one
-- transaction (it reads none of them).
GRANT INSERT, DELETE ON aod.roster, aod.patient_fact, aod.care_relationship TO aod_loader;
GRANT INSERT ON aod.site_input TO aod_loader;
GRANT SELECT (id, event_key) ON aod.audit_event TO aod_loader;
GRANT SELECT ON aod.schema_version TO aod_loader;
-- (each batch's months get their partitions, sql/005_partitions.sql)
GRANT EXECUTE ON FUNCTION aod.ensure_partitions(timestamptz[]) TO aod_loader;
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO aod_loader',
                   pg_get_serial_sequence('aod.audit_event', 'id'));
END
$$;

-- Later migrations (run by the owner) stay right: new tables are readable
-- by the reporting role and by nobody else, and no new function is
-- executable by PUBLIC (a migration that needs more grants it itself).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA aod GRANT SELECT ON TABLES TO aod_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
