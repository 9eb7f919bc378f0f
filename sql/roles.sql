-- roles.sql: database roles for aodreport.  Run once as a superuser or the
-- store's owner, after `aodreport init`:
--     psql -d DBNAME -f roles.sql
-- then grant the group roles to login roles:
--     GRANT aod_reader TO alice;  GRANT aod_loader TO etl;
-- Both are NOLOGIN group roles; passwords belong to the login roles.

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

GRANT USAGE ON SCHEMA aod TO aod_reader, aod_loader;

-- Reports read; the only write a report makes is its own self-audit record,
-- an AuditEvent inserted like any other.
GRANT SELECT ON ALL TABLES IN SCHEMA aod TO aod_reader;
GRANT INSERT ON aod.audit_event, aod.event_patient TO aod_reader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA aod TO aod_reader;

-- The loader inserts and reads (to skip what is already stored); it never
-- updates or deletes.  It reserves event ids from the sequence (USAGE) and
-- COPYs straight into the tables; it needs no staging table any more, so
-- TEMP below is for older versions and for ad-hoc work.
GRANT SELECT, INSERT ON aod.audit_event, aod.event_patient TO aod_loader;
GRANT SELECT ON aod.schema_version TO aod_loader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA aod TO aod_loader;
DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO aod_loader, aod_reader', current_database());
END
$$;
