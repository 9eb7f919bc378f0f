-- 005_partitions.sql: a store that lives for years.
--
-- aod.audit_event and aod.event_patient become tables partitioned by month
-- of `recorded` (PostgreSQL's declarative partitioning; no extension), so
-- that
--   - retention drops a whole month of both (aod.apply_retention: a DROP
--     TABLE per partition, no DELETE, no rewrite), and records that it did
--     (an AuditEvent, and the horizon aod.retention_horizon() returns);
--   - a month that is over is clustered once (`aodreport maintain`), with a
--     lock on that month alone;
--   - a report is still one index range scan per month it touches, in
--     report order (the partitions are appended in time order, no Sort).
--
-- Migrating an existing store rewrites nothing: its two tables become one
-- partition each ("legacy"), covering everything up to the end of the
-- current month; new months get partitions of their own.  The migration
-- reads each table once (to prove the bound) under its lock: doc/store.md,
-- "Partitions", says how long that took on the benchmark store.
--
-- What changes besides:
--   - aod.audit_event's keys are per partition: id and event_key are unique
--     within each month (a unique index on a partitioned table must include
--     the partition key); across months the loader keeps them unique, as it
--     always has (it looks every key up before storing, under its advisory
--     lock), and ids come from one sequence.
--   - the foreign key from event_patient to audit_event goes: it would make
--     dropping a month scan the month, and cannot reach a partition on
--     another server (doc/store.md, "Sharding").  The integrity trigger
--     checks instead that every new row's event exists.
--   - partitions are created ahead (aod.ensure_partitions, called by the
--     loader for each batch's months, by the self-audit, by retention and by
--     `aodreport maintain`), as a table of their own attached to the parent:
--     attaching takes a lock that reports and loads do not wait for.

-- ---------------------------------------------------- the old tables
ALTER TABLE aod.event_patient DROP CONSTRAINT event_patient_event_id_fkey;
DROP TRIGGER event_patient_check ON aod.event_patient;
ALTER TABLE aod.audit_event RENAME TO audit_event_legacy;
ALTER TABLE aod.event_patient RENAME TO event_patient_legacy;
ALTER INDEX aod.audit_event_pkey RENAME TO audit_event_legacy_pkey;
ALTER INDEX aod.audit_event_key_unique RENAME TO audit_event_legacy_key_unique;
ALTER INDEX aod.audit_event_no_patient_idx RENAME TO audit_event_legacy_no_patient_idx;
ALTER INDEX aod.event_patient_pkey RENAME TO event_patient_legacy_pkey;
ALTER INDEX aod.event_patient_event_idx RENAME TO event_patient_legacy_event_idx;
ALTER INDEX aod.event_patient_recorded_idx RENAME TO event_patient_legacy_recorded_idx;
-- It took the old table's row type, which went with the rename; made anew
-- below.
DROP FUNCTION aod.norm_disagreement(text, text, timestamptz, aod.audit_event_legacy);

-- ---------------------------------------------------- the new parents
CREATE TABLE aod.audit_event (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    event_key     bytea NOT NULL,
    fhir_id       text,
    fhir_version  text NOT NULL CONSTRAINT audit_event_fhir_version_check
                  CHECK (fhir_version IN ('R4', 'R5', 'R6', 'unknown')),
    recorded      timestamptz NOT NULL,
    patient_keys  text[] NOT NULL DEFAULT '{}',
    loaded_from   text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    resource      jsonb NOT NULL
) PARTITION BY RANGE (recorded);

COMMENT ON TABLE aod.audit_event IS
    'Every loaded FHIR AuditEvent, whole; one row per distinct event; a partition per month of recorded.';

CREATE INDEX audit_event_no_patient_idx ON aod.audit_event (recorded)
    WHERE patient_keys = '{}';

CREATE TABLE aod.event_patient (
    patient_key   text NOT NULL,
    recorded      timestamptz NOT NULL,
    event_id      bigint NOT NULL,
    norm_version  smallint NOT NULL DEFAULT 1,
    norm          text NOT NULL,
    other_keys    text[],
    PRIMARY KEY (patient_key, recorded, event_id)
) PARTITION BY RANGE (recorded);

COMMENT ON TABLE aod.event_patient IS
    'Report index: one row per patient key and event, in report order, with the event pre-extracted; a partition per month of recorded.';
COMMENT ON COLUMN aod.event_patient.other_keys IS
    'The event''s patient keys other than patient_key; NULL when it has none (or, for rows loaded before migration 002, when not known).';

CREATE INDEX event_patient_event_idx ON aod.event_patient (event_id);
CREATE INDEX event_patient_recorded_idx ON aod.event_patient USING brin (recorded);

DO $$
BEGIN
    ALTER TABLE aod.audit_event ALTER COLUMN resource SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; documents are compressed with pglz';
END
$$;

-- ids go on from where the old identity was; its sequence goes with it
DO $$
DECLARE
    s record;
BEGIN
    SELECT last_value, is_called INTO s FROM aod.audit_event_id_seq;
    ALTER TABLE aod.audit_event_legacy ALTER COLUMN id DROP IDENTITY;
    PERFORM setval(pg_get_serial_sequence('aod.audit_event', 'id'), s.last_value, s.is_called);
END
$$;

-- The old tables, attached as they are.  The CHECK proves the bound, so
-- that ATTACH need not read the table again; it reads it once.  An event
-- recorded after the end of this month (a clock ahead) moves the bound.
-- A store with no events yet (a new one) keeps no old partition.
DO $$
DECLARE
    bound timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                         AT TIME ZONE 'UTC';
    latest timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aod.audit_event_legacy)
       AND NOT EXISTS (SELECT 1 FROM aod.event_patient_legacy) THEN
        DROP TABLE aod.audit_event_legacy, aod.event_patient_legacy;
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('ALTER TABLE aod.audit_event_legacy ADD CONSTRAINT audit_event_legacy_bound CHECK (recorded < %L)', bound);
    EXCEPTION WHEN check_violation THEN
        SELECT max(recorded) INTO latest FROM aod.audit_event_legacy;
        bound := (date_trunc('month', latest AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        EXECUTE format('ALTER TABLE aod.audit_event_legacy ADD CONSTRAINT audit_event_legacy_bound CHECK (recorded < %L)', bound);
    END;
    EXECUTE format('ALTER TABLE aod.event_patient_legacy ADD CONSTRAINT event_patient_legacy_bound CHECK (recorded < %L)', bound);
    EXECUTE format('ALTER TABLE aod.audit_event ATTACH PARTITION aod.audit_event_legacy FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    EXECUTE format('ALTER TABLE aod.event_patient ATTACH PARTITION aod.event_patient_legacy FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    ALTER TABLE aod.audit_event_legacy DROP CONSTRAINT audit_event_legacy_bound;
    ALTER TABLE aod.event_patient_legacy DROP CONSTRAINT event_patient_legacy_bound;
END
$$;

-- ---------------------------------------------------- partitions
-- Every partition of a range-partitioned table of aod, with its bounds
-- (NULL lower: from the beginning), for maintenance and retention.
CREATE VIEW aod.partition_info AS
SELECT p.relname::text AS parent,
       c.oid::regclass AS partition,
       CASE WHEN b.expr ~ '^FOR VALUES FROM \(MINVALUE\)' THEN NULL
            ELSE substring(b.expr FROM '^FOR VALUES FROM \(''([^'']*)''\)')::timestamptz END AS lo,
       substring(b.expr FROM ' TO \(''([^'']*)''\)$')::timestamptz AS hi,
       c.relkind = 'f' AS foreign_table,
       coalesce((SELECT i.indisclustered FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), false) AS clustered,
       c.reltuples::bigint AS rows_estimate
  FROM pg_inherits h
  JOIN pg_class p ON p.oid = h.inhparent
  JOIN pg_namespace n ON n.oid = p.relnamespace AND n.nspname = 'aod'
  JOIN pg_partitioned_table t ON t.partrelid = p.oid AND t.partstrat = 'r'
  JOIN pg_class c ON c.oid = h.inhrelid
  CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
 WHERE p.relname IN ('audit_event', 'event_patient');

COMMENT ON VIEW aod.partition_info IS
    'The month partitions of aod.audit_event and aod.event_patient: bounds, whether clustered, estimated rows.';

-- Makes sure a partition of each range-partitioned table covers the month
-- of every time in t (NULLs ignored).  Returns how many it created.  A new
-- partition is made as a table of its own and then attached: ATTACH takes
-- a lock (SHARE UPDATE EXCLUSIVE) that reports and loads do not conflict
-- with.  SECURITY DEFINER: the loader and the reporting role call it, and
-- may not create tables themselves.
CREATE FUNCTION aod.ensure_partitions(t timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m timestamptz;
    hi timestamptz;
    tbl text;
    part text;
    made integer := 0;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', x AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
               FROM unnest(t) x WHERE x IS NOT NULL AND isfinite(x) ORDER BY 1 LOOP
        hi := (m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
        FOREACH tbl IN ARRAY ARRAY['audit_event', 'event_patient'] LOOP
            part := tbl || '_' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM');
            -- the month made already (the usual case, a few microseconds;
            -- the bounds below are read only when it is not)
            CONTINUE WHEN to_regclass(format('aod.%I', part)) IS NOT NULL;
            -- only a table partitioned by range here (a sharded coordinator's
            -- event_patient is partitioned by patient key instead)
            CONTINUE WHEN NOT EXISTS (
                SELECT 1 FROM pg_partitioned_table pt
                 WHERE pt.partrelid = format('aod.%I', tbl)::regclass AND pt.partstrat = 'r');
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM aod.partition_info i
                 WHERE i.parent = tbl AND (i.lo IS NULL OR i.lo <= m) AND m < i.hi);
            -- the same lock ATTACH takes, first: two sessions making the same
            -- month wait for each other, and the second finds it made
            EXECUTE format('LOCK TABLE aod.%I IN SHARE UPDATE EXCLUSIVE MODE', tbl);
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM aod.partition_info i
                 WHERE i.parent = tbl AND (i.lo IS NULL OR i.lo <= m) AND m < i.hi);
            EXECUTE format('CREATE TABLE aod.%I (LIKE aod.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                           ' INCLUDING STORAGE INCLUDING COMPRESSION,'
                           ' CONSTRAINT %I CHECK (recorded >= %L AND recorded < %L))',
                           part, tbl, part || '_bound', m, hi);
            IF tbl = 'audit_event' THEN
                -- unique within the month; across months the loader keeps them so
                EXECUTE format('ALTER TABLE aod.%I ADD CONSTRAINT %I PRIMARY KEY (id),'
                               ' ADD CONSTRAINT %I UNIQUE (event_key)',
                               part, part || '_pkey', part || '_key_unique');
            END IF;
            EXECUTE format('ALTER TABLE aod.%I ATTACH PARTITION aod.%I FOR VALUES FROM (%L) TO (%L)',
                           tbl, part, m, hi);
            EXECUTE format('ALTER TABLE aod.%I DROP CONSTRAINT %I', part, part || '_bound');
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END
$$;

REVOKE EXECUTE ON FUNCTION aod.ensure_partitions(timestamptz[]) FROM PUBLIC;

-- This month and the next two, from the start.
SELECT aod.ensure_partitions(ARRAY[now(), now() + interval '1 month', now() + interval '2 months']);

-- ---------------------------------------------------- integrity
-- Why the row (norm, patient_key, recorded) of aod.event_patient disagrees
-- with its event e, in words; NULL when it agrees.
CREATE FUNCTION aod.norm_disagreement(norm text, patient_key text, recorded timestamptz,
                                      e aod.audit_event) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    token text := split_part(norm, E'\n', 1);
    f text[] := string_to_array(split_part(norm, E'\n', 2), E'\t');
    v2 boolean;
    idx integer := 18;
    k integer;
    nkeys integer;
    keys text[] := '{}';
    needle text;
    rec_ms bigint := floor(extract(epoch FROM e.recorded) * 1000);
BEGIN
    IF token NOT IN ('aod1', 'aod2') OR f[1] IS DISTINCT FROM 'R' THEN
        RETURN 'norm is not a stored record';
    END IF;
    v2 := token = 'aod2';
    IF recorded IS DISTINCT FROM e.recorded THEN
        RETURN 'recorded differs from the event''s';
    END IF;
    IF NOT patient_key = ANY (e.patient_keys) THEN
        RETURN 'patient_key is not one of the event''s patient keys';
    END IF;
    -- The key's identifying part (the id of a reference, the value of an
    -- identifier) must occur in the resource: the keys are the loader's
    -- reading of it, and must not name someone the event never mentions.
    needle := CASE WHEN strpos(patient_key, '|') > 0
                   THEN substr(patient_key, strpos(patient_key, '|') + 1)
                   ELSE regexp_replace(patient_key, '^.*/', '') END;
    needle := to_json(needle)::text;
    IF needle = '""' OR strpos(e.resource::text, substr(needle, 2, length(needle) - 2)) = 0 THEN
        RETURN 'the resource does not mention patient_key';
    END IF;
    IF aod.norm_field(f[2], v2) IS DISTINCT FROM e.fhir_id
       OR e.resource->>'id' IS DISTINCT FROM e.fhir_id THEN
        RETURN 'the id in norm or the resource differs from the event''s';
    END IF;
    IF f[4] IS DISTINCT FROM rec_ms::text
       OR floor(extract(epoch FROM (e.resource->>'recorded')::timestamptz) * 1000) <> rec_ms THEN
        RETURN 'the recorded time in norm or the resource differs from the event''s';
    END IF;
    IF aod.norm_field(f[7], v2) IS DISTINCT FROM e.resource->>'action' THEN
        RETURN 'the action in norm differs from the resource''s';
    END IF;
    -- four coding lists (type, subtype, purpose, source type), then counts
    FOR k IN 1 .. 4 LOOP
        idx := idx + 1 + 3 * f[idx]::integer;
    END LOOP;
    IF f[idx]::integer IS DISTINCT FROM coalesce(jsonb_array_length(e.resource->'agent'), 0) THEN
        RETURN 'the number of agents in norm differs from the resource''s';
    END IF;
    nkeys := f[idx + 2]::integer;
    IF idx + 2 + nkeys <> cardinality(f) THEN
        RETURN 'norm is not a stored record';
    END IF;
    FOR k IN 1 .. nkeys LOOP
        keys := keys || aod.norm_field(f[idx + 2 + k], v2);
    END LOOP;
    IF NOT (keys @> e.patient_keys AND keys <@ e.patient_keys) THEN
        RETURN 'the patient keys in norm differ from the event''s';
    END IF;
    RETURN NULL;
END
$$;

-- As in migration 003, and a row whose event is not stored is refused (the
-- foreign key used to say so).
CREATE OR REPLACE FUNCTION aod.event_patient_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT * INTO bad
      FROM (SELECT n.event_id, n.patient_key,
                   CASE WHEN e.id IS NULL THEN 'no such event is stored'
                        ELSE aod.norm_disagreement(n.norm, n.patient_key, n.recorded, e) END AS why
              FROM new_rows n
              LEFT JOIN aod.audit_event e ON e.id = n.event_id AND e.recorded = n.recorded) s
     WHERE s.why IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aod.event_patient: the row for event % and patient key % disagrees with its stored event: %',
            bad.event_id, bad.patient_key, bad.why
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER event_patient_check AFTER INSERT ON aod.event_patient
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION aod.event_patient_check();

-- ---------------------------------------------------- the self-audit
-- The function of migration 003, now behind one that first makes sure the
-- month it records in has its partitions.
ALTER FUNCTION aod.record_self_audit(text, text[], text, text, text, date, date,
    timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb)
    RENAME TO record_self_audit_003;
REVOKE ALL ON FUNCTION aod.record_self_audit_003(text, text[], text, text, text, date, date,
    timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        REVOKE ALL ON FUNCTION aod.record_self_audit_003(text, text[], text, text, text, date, date,
            timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb)
            FROM aod_reader;
    END IF;
END
$$;

CREATE FUNCTION aod.record_self_audit(
    p_retry_key text, p_patient_keys text[], p_kind text, p_audience text, p_language text,
    p_first_day date, p_last_day date, p_period_start timestamptz, p_period_end timestamptz,
    p_as_of timestamptz, p_started timestamptz, p_operator_name text, p_os_user text,
    p_host text, p_program text, p_files jsonb, OUT event_id text, OUT stored boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    month text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    -- the month's partitions are there but once a month (cheaper to look
    -- for them by name than to ask ensure_partitions, on a new connection;
    -- it makes both tables' months together)
    IF to_regclass('aod.audit_event_' || month) IS NULL THEN
        PERFORM aod.ensure_partitions(ARRAY[clock_timestamp()]);
    END IF;
    SELECT r.event_id, r.stored INTO event_id, stored
      FROM aod.record_self_audit_003(p_retry_key, p_patient_keys, p_kind, p_audience, p_language,
               p_first_day, p_last_day, p_period_start, p_period_end, p_as_of, p_started,
               p_operator_name, p_os_user, p_host, p_program, p_files) r;
END
$$;

REVOKE EXECUTE ON FUNCTION aod.record_self_audit(text, text[], text, text, text, date, date,
    timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb) FROM PUBLIC;

-- ---------------------------------------------------- retention
-- Each time retention dropped months: up to when (the horizon: no event
-- recorded before it is in the store any more), what, by whom, and the id
-- of the AuditEvent that records it.
CREATE TABLE aod.retention_log (
    applied_at  timestamptz NOT NULL DEFAULT now(),
    horizon     timestamptz NOT NULL,
    cutoff      timestamptz NOT NULL,
    applied_by  text NOT NULL DEFAULT session_user,
    partitions  text[] NOT NULL,
    event_id    text NOT NULL
);

COMMENT ON TABLE aod.retention_log IS
    'Every retention run that dropped months: the horizon it left (events recorded before it are gone).';

-- The retention horizon: events recorded before it may have been removed
-- from the store by retention; NULL when retention never removed anything.
-- What a report's completeness statement reads.
CREATE FUNCTION aod.retention_horizon() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT max(horizon) FROM aod.retention_log
$$;

REVOKE EXECUTE ON FUNCTION aod.retention_horizon() FROM PUBLIC;

-- Drops every month partition (of both tables) that ends on or before
-- cutoff (and is over by the server's clock), whole: a DROP TABLE each, no DELETE and no rewrite, then records
-- an AuditEvent of the deletion (type DICOM "Audit Log Used", subtype ISO
-- 21089 "destroy", action D) and a row of aod.retention_log.  Returns the
-- dropped partitions with their estimated rows; none when nothing was due
-- (and then records nothing).  Runs as the owner of the store (it drops
-- tables); not SECURITY DEFINER.
CREATE FUNCTION aod.apply_retention(p_cutoff timestamptz, p_operator_name text, p_os_user text,
                                    p_host text, p_program text)
RETURNS TABLE (partition text, lo timestamptz, hi timestamptz, rows_estimate bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dcm constant text := 'http://dicom.nema.org/resources/ontology/DCM';
    life constant text := 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle';
    ptype constant text := 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
    fmt_time constant text := 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';
    who text := session_user;
    rec timestamptz;
    horizon timestamptz;
    names text[];
    r record;
    eid text;
    res jsonb;
    display text;
BEGIN
    IF p_cutoff IS NULL OR NOT isfinite(p_cutoff) THEN
        RAISE EXCEPTION 'apply_retention: give a cutoff time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- nothing may be loaded into a month while it goes
    PERFORM pg_advisory_xact_lock(hashtext('aodreport load'));
    FOR r IN SELECT i.parent, i.partition::text AS part, i.lo, i.hi, i.rows_estimate AS n
               FROM aod.partition_info i
              WHERE i.hi <= least(p_cutoff, now()) AND NOT i.foreign_table
              ORDER BY i.hi, i.parent LOOP
        EXECUTE format('DROP TABLE %s', r.part);
        partition := r.part;
        lo := r.lo;
        hi := r.hi;
        rows_estimate := r.n;
        names := coalesce(names, '{}') || r.part;
        horizon := greatest(horizon, r.hi);
        RETURN NEXT;
    END LOOP;
    IF names IS NULL THEN
        RETURN;
    END IF;
    horizon := greatest(horizon, (SELECT max(l.horizon) FROM aod.retention_log l));

    rec := date_trunc('milliseconds', clock_timestamp());
    PERFORM aod.ensure_partitions(ARRAY[rec]);
    eid := 'aodreport-retention-' || left(encode(sha256(convert_to(
        who || E'\n' || to_char(rec AT TIME ZONE 'UTC', fmt_time) || E'\n' || array_to_string(names, ','),
        'UTF8')), 'hex'), 32);
    display := coalesce(nullif(p_operator_name, ''), coalesce(nullif(p_os_user, ''), 'unknown'))
               || ' (database user ' || who || ')';
    res := jsonb_build_object(
        'resourceType', 'AuditEvent',
        'id', eid,
        'type', jsonb_build_object('system', dcm, 'code', '110101', 'display', 'Audit Log Used'),
        'subtype', jsonb_build_array(jsonb_build_object('system', life, 'code', 'destroy', 'display', 'Destroy')),
        'action', 'D',
        'recorded', to_char(rec AT TIME ZONE 'UTC', fmt_time),
        'outcome', '0',
        'agent', jsonb_build_array(
            jsonb_build_object(
                'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
                    'system', ptype, 'code', 'AUT', 'display', 'author (originator)'))),
                'who', jsonb_build_object('display', display),
                'altId', 'database user ' || who || '; OS user '
                         || coalesce(nullif(p_os_user, ''), 'unknown') || ' on '
                         || coalesce(nullif(p_host, ''), 'unknown'),
                'requestor', true),
            jsonb_build_object(
                'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
                    'system', dcm, 'code', '110153', 'display', 'Source Role ID'))),
                'who', jsonb_build_object('type', 'Device', 'display', coalesce(nullif(p_program, ''), 'aodreport')),
                'requestor', false)),
        'source', jsonb_build_object('observer', jsonb_build_object('display', 'aodreport')),
        'entity', jsonb_build_array(jsonb_build_object(
            'type', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
                                       'code', '2', 'display', 'System Object'),
            'name', 'aod audit store',
            'description', 'audit events recorded before '
                           || to_char(horizon AT TIME ZONE 'UTC', fmt_time) || ' removed by retention',
            'detail', jsonb_build_array(
                jsonb_build_object('type', 'cutoff', 'valueString', to_char(p_cutoff AT TIME ZONE 'UTC', fmt_time)),
                jsonb_build_object('type', 'horizon', 'valueString', to_char(horizon AT TIME ZONE 'UTC', fmt_time)),
                jsonb_build_object('type', 'partitions', 'valueString', array_to_string(names, ' '))))));
    INSERT INTO aod.audit_event (event_key, fhir_id, fhir_version, recorded, patient_keys, resource, loaded_from)
    VALUES (sha256(convert_to('id' || E'\x1f' || 'aodreport' || E'\x1f' || eid, 'UTF8')), eid, 'R4', rec,
            '{}', res, 'aodreport retention');
    INSERT INTO aod.retention_log (horizon, cutoff, partitions, event_id)
    VALUES (horizon, p_cutoff, names, eid);
END
$$;

REVOKE EXECUTE ON FUNCTION aod.apply_retention(timestamptz, text, text, text, text) FROM PUBLIC;

-- ---------------------------------------------------- the roles
-- Where the site has made the roles of sql/roles.sql, the new tables get
-- the old tables' grants (the partitions themselves get none: rows go in
-- through the parent, where the integrity trigger sees them).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        GRANT SELECT ON aod.audit_event, aod.event_patient, aod.retention_log, aod.partition_info
            TO aod_reader;
        GRANT EXECUTE ON FUNCTION aod.record_self_audit(text, text[], text, text, text, date, date,
            timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb),
            aod.retention_horizon() TO aod_reader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader') THEN
        GRANT INSERT ON aod.audit_event, aod.event_patient TO aod_loader;
        GRANT SELECT (id, event_key) ON aod.audit_event TO aod_loader;
        GRANT EXECUTE ON FUNCTION aod.ensure_partitions(timestamptz[]) TO aod_loader;
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO aod_loader',
                       pg_get_serial_sequence('aod.audit_event', 'id'));
    END IF;
    -- the old tables are partitions now: written through the parent only
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader')
       AND to_regclass('aod.audit_event_legacy') IS NOT NULL THEN
        REVOKE ALL ON aod.audit_event_legacy, aod.event_patient_legacy FROM aod_loader;
        REVOKE SELECT (id, event_key) ON aod.audit_event_legacy FROM aod_loader;
    END IF;
END
$$;
