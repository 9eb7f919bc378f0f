-- 007_observer_days.sql: what the store can say about its own completeness.
--
-- A report must say how complete it is (issue 16, point 5): which systems'
-- logs the store holds and since when, the horizon before which nothing can
-- be shown, and the days on which a system that logs every day logged
-- nothing at all.  Counting that from aod.audit_event would read every
-- document; instead the loader keeps one small row per source system
-- (source.observer, as the loader keys it) and UTC day, with how many
-- records it stored for that day.  A report reads at most a few thousand of
-- these rows (doc/store.md, "Completeness").
CREATE TABLE aod.observer_day (
    observer  text NOT NULL,
    day       date NOT NULL,
    records   bigint NOT NULL CHECK (records > 0),
    -- source.observer.display as last loaded, for the statement's words
    display   text,
    PRIMARY KEY (observer, day)
) WITH (fillfactor = 90);

COMMENT ON TABLE aod.observer_day IS
    'Records stored per source system (observer) and UTC day: the completeness statement''s source.';

-- The days the store has anything, for gaps and the horizon.
CREATE INDEX observer_day_day_idx ON aod.observer_day (day);

-- Events stored before this migration: counted once, from the documents.
-- The observer is keyed as the loader keys it (its reference, else
-- "system|value", else its display); a reference is made relative as the
-- loader does (the last "Type/id" of an absolute URL, no _history).
INSERT INTO aod.observer_day (observer, day, records, display)
SELECT o.observer, (a.recorded AT TIME ZONE 'UTC')::date, count(*),
       max(a.resource #>> '{source,observer,display}')
FROM aod.audit_event a
CROSS JOIN LATERAL (
    SELECT COALESCE(
        NULLIF(regexp_replace(btrim(a.resource #>> '{source,observer,reference}'),
                              '^(?:.*/)?([A-Za-z]+/[^/]+?)(?:/_history/.*)?$', '\1'), ''),
        CASE WHEN a.resource #>> '{source,observer,identifier,value}' IS NOT NULL
             THEN COALESCE(a.resource #>> '{source,observer,identifier,system}', '') || '|' ||
                  (a.resource #>> '{source,observer,identifier,value}') END,
        a.resource #>> '{source,observer,display}',
        '') AS observer
) o
WHERE a.loaded_from <> 'aodreport self-audit'
GROUP BY 1, 2;

-- A report must not scan aod.observer_day (73,000 rows for ten years of
-- twenty systems; 1.5 s for the gaps of a six-year period measured on the
-- bench store with 57 systems): two smaller tables are kept beside it, one
-- row per source with its span, and one row per run of silent days between
-- a source's first and last day.  Both change only when a (source, day) is
-- stored for the first time (aod.observer_days_add below).
CREATE TABLE aod.observer_span (
    observer  text PRIMARY KEY,
    display   text,
    first_day date NOT NULL,
    last_day  date NOT NULL,
    days      integer NOT NULL CHECK (days > 0)
);

CREATE TABLE aod.observer_gap (
    observer  text NOT NULL,
    from_day  date NOT NULL,
    to_day    date NOT NULL CHECK (to_day >= from_day),
    PRIMARY KEY (observer, from_day)
);

CREATE INDEX observer_gap_to_idx ON aod.observer_gap (to_day);

INSERT INTO aod.observer_span (observer, display, first_day, last_day, days)
SELECT observer, max(display), min(day), max(day), count(*) FROM aod.observer_day GROUP BY observer;

INSERT INTO aod.observer_gap (observer, from_day, to_day)
SELECT observer, prev + 1, day - 1
FROM (SELECT observer, day, lag(day) OVER (PARTITION BY observer ORDER BY day) AS prev
      FROM aod.observer_day) d
WHERE day > prev + 1;

-- What the loader calls at commit: adds the load's records per source and
-- day (arrays of the same length; days since 1970-01-01) and, for each day
-- a source logs on for the first time, moves its span or closes the silent
-- run it falls in.  SECURITY DEFINER: the loader may add counts, nothing
-- else.
CREATE FUNCTION aod.observer_days_add(p_observer text[], p_day int[], p_records bigint[],
                                      p_display text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    sp aod.observer_span;
    g aod.observer_gap;
BEGIN
    FOR r IN
        INSERT INTO aod.observer_day AS o (observer, day, records, display)
        SELECT t.o, DATE '1970-01-01' + t.d, t.n, t.s
          FROM unnest(p_observer, p_day, p_records, p_display) AS t (o, d, n, s)
         ORDER BY t.o, t.d -- in order, most new days only move a span's end
        ON CONFLICT (observer, day) DO UPDATE SET records = o.records + EXCLUDED.records,
            display = COALESCE(EXCLUDED.display, o.display)
        RETURNING o.observer, o.day, o.display, (o.xmax = 0) AS fresh
    LOOP
        IF NOT r.fresh THEN
            CONTINUE;
        END IF;
        SELECT * INTO sp FROM aod.observer_span WHERE observer = r.observer FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO aod.observer_span VALUES (r.observer, r.display, r.day, r.day, 1);
            CONTINUE;
        END IF;
        IF r.day > sp.last_day THEN
            IF r.day > sp.last_day + 1 THEN
                INSERT INTO aod.observer_gap VALUES (r.observer, sp.last_day + 1, r.day - 1);
            END IF;
            sp.last_day := r.day;
        ELSIF r.day < sp.first_day THEN
            IF r.day < sp.first_day - 1 THEN
                INSERT INTO aod.observer_gap VALUES (r.observer, r.day + 1, sp.first_day - 1);
            END IF;
            sp.first_day := r.day;
        ELSE
            -- a silent day inside the span, now logged: split its run
            SELECT * INTO g FROM aod.observer_gap
             WHERE observer = r.observer AND from_day <= r.day
             ORDER BY from_day DESC LIMIT 1;
            IF FOUND AND g.to_day >= r.day THEN
                DELETE FROM aod.observer_gap WHERE observer = g.observer AND from_day = g.from_day;
                IF g.from_day < r.day THEN
                    INSERT INTO aod.observer_gap VALUES (g.observer, g.from_day, r.day - 1);
                END IF;
                IF r.day < g.to_day THEN
                    INSERT INTO aod.observer_gap VALUES (g.observer, r.day + 1, g.to_day);
                END IF;
            END IF;
        END IF;
        UPDATE aod.observer_span
           SET first_day = sp.first_day, last_day = sp.last_day, days = sp.days + 1,
               display = COALESCE(r.display, sp.display)
         WHERE observer = r.observer;
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION aod.observer_days_add(text[], int[], bigint[], text[]) FROM PUBLIC;

-- -------------------------------------------------- the stored form aod3
-- A record with an R5 encounter or basedOn is stored as aod3 (src/model/
-- recio.h: aod2 and a context line after the entities); the check of every
-- new aod.event_patient row (migration 005's) reads its R line as aod2's.
CREATE OR REPLACE FUNCTION aod.norm_disagreement(norm text, patient_key text, recorded timestamptz,
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
    IF token NOT IN ('aod1', 'aod2', 'aod3') OR f[1] IS DISTINCT FROM 'R' THEN
        RETURN 'norm is not a stored record';
    END IF;
    v2 := token IN ('aod2', 'aod3');
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

-- ------------------------------------------------------ the self-audit
-- The body of the self-audit (migration 003's, which migration 005 renamed
-- aod.record_self_audit_003 and calls from aod.record_self_audit after
-- making the month's partitions, and 006 gave the MHD formats) with two
-- changes, same arguments:
--  * a report's CSV completeness file (format csv-completeness) is a file
--    of the run like the others;
--  * verify's answer file may carry "subject": the person the question was
--    about, recorded as an entity (object-role 6 User) of the event, so that
--    the privacy office can audit who asked about whom;
-- The runs themselves are not counted in aod.observer_day: the report's own
-- runs are no source of accesses, and a report must not describe its store
-- differently because it was run before.
CREATE OR REPLACE FUNCTION aod.record_self_audit_003(
    p_retry_key text,
    p_patient_keys text[],
    p_kind text,
    p_audience text,
    p_language text,
    p_first_day date,
    p_last_day date,
    p_period_start timestamptz,
    p_period_end timestamptz,
    p_as_of timestamptz,
    p_started timestamptz,
    p_operator_name text,
    p_os_user text,
    p_host text,
    p_program text,
    p_files jsonb,
    OUT event_id text,
    OUT stored boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dcm constant text := 'http://dicom.nema.org/resources/ontology/DCM';
    orole constant text := 'http://terminology.hl7.org/CodeSystem/object-role';
    etype constant text := 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
    ptype constant text := 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
    reason constant text := 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
    stype constant text := 'http://terminology.hl7.org/CodeSystem/security-source-type';
    subsys constant text := 'urn:aodreport:audit-subtype';
    who text := session_user;
    rec timestamptz := date_trunc('milliseconds', clock_timestamp());
    started timestamptz;
    keys text[];
    key text;
    display text;
    alt text;
    words text;
    fmt_time constant text := 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';
    entities jsonb := '[]';
    ent_norm text := '';
    f jsonb;
    res jsonb;
    norm_head text;
    norm_tail text;
    ekey bytea;
    new_id bigint;
    rec_ms bigint;
    start_ms bigint;
    n_files integer;
    subject text;
    n_subjects integer := 0;
BEGIN
    -- the arguments, as strictly as the C side makes them
    SELECT array_agg(k ORDER BY k) INTO keys
      FROM (SELECT DISTINCT k COLLATE "C" AS k FROM unnest(p_patient_keys) k) s;
    IF keys IS NULL OR cardinality(keys) > 64 OR EXISTS (SELECT 1 FROM unnest(keys) k WHERE k IS NULL OR k = '' OR length(k) > 4096) THEN
        RAISE EXCEPTION 'record_self_audit: give 1 to 64 patient keys' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('disclosures', 'access', 'explain')
       OR p_audience IS NULL OR p_audience NOT IN ('patient', 'privacy-office')
       OR p_retry_key IS NULL OR length(p_retry_key) > 200
       OR p_first_day IS NULL OR p_last_day IS NULL OR p_period_start IS NULL
       OR p_period_end IS NULL OR p_as_of IS NULL OR p_started IS NULL
       OR length(coalesce(p_operator_name, '')) > 200 OR length(coalesce(p_os_user, '')) > 200
       OR length(coalesce(p_host, '')) > 300 OR length(coalesce(p_program, '')) > 100
       OR length(coalesce(p_language, '')) > 35 THEN
        RAISE EXCEPTION 'record_self_audit: bad arguments' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(p_files) IS DISTINCT FROM 'array' OR jsonb_array_length(p_files) NOT BETWEEN 1 AND 8 THEN
        RAISE EXCEPTION 'record_self_audit: give 1 to 8 files' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR f IN SELECT value FROM jsonb_array_elements(p_files) LOOP
        IF jsonb_typeof(f) IS DISTINCT FROM 'object'
           OR f->>'format' IS NULL
           OR f->>'format' NOT IN ('csv', 'pdf', 'html', 'xlsx', 'bundle-json', 'bundle-xml',
                                   'mhd', 'mhd-html', 'mhd-simplified', 'mhd-simplified-html',
                                   'verify-text', 'verify-json', 'csv-completeness')
           OR length(coalesce(f->>'subject', '')) > 1000
           OR (f ? 'subject' AND f->>'format' NOT IN ('verify-text', 'verify-json'))
           OR coalesce(f->>'sha256', '') !~ '^[0-9a-f]{64}$'
           OR coalesce(f->>'size', '') !~ '^[0-9]{1,15}$'
           OR f->>'name' IS NULL OR f->>'name' = '' OR length(f->>'name') > 255 THEN
            RAISE EXCEPTION 'record_self_audit: bad file %', f USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;

    started := least(date_trunc('milliseconds', p_started), rec);
    event_id := 'aodreport-' || left(encode(sha256(convert_to(
        'aodreport self-audit 2' || E'\n' || who || E'\n' || p_retry_key, 'UTF8')), 'hex'), 32);
    ekey := sha256(convert_to('id' || E'\x1f' || 'aodreport' || E'\x1f' || event_id, 'UTF8'));
    display := coalesce(nullif(p_operator_name, ''), coalesce(nullif(p_os_user, ''), 'unknown'))
               || ' (database user ' || who || ')';
    alt := 'database user ' || who || '; OS user ' || coalesce(nullif(p_os_user, ''), 'unknown')
           || ' on ' || coalesce(nullif(p_host, ''), 'unknown');
    words := CASE p_kind WHEN 'explain' THEN 'explain view of the audit records'
                         WHEN 'access' THEN 'access report'
                         ELSE 'accounting of disclosures' END;

    -- the entities: each patient key, then each file
    FOREACH key IN ARRAY keys LOOP
        IF strpos(key, '|') > 0 THEN
            entities := entities || jsonb_build_array(jsonb_build_object(
                'what', jsonb_strip_nulls(jsonb_build_object('identifier', jsonb_build_object(
                    'system', nullif(split_part(key, '|', 1), ''),
                    'value', substr(key, strpos(key, '|') + 1)))),
                'type', jsonb_build_object('system', etype, 'code', '1', 'display', 'Person'),
                'role', jsonb_build_object('system', orole, 'code', '1', 'display', 'Patient')));
            ent_norm := ent_norm || concat_ws(E'\t', 'E', '', '',
                aod.norm_escape(nullif(split_part(key, '|', 1), '')),
                aod.norm_escape(substr(key, strpos(key, '|') + 1)), '',
                etype, '1', 'Person', orole, '1', 'Patient', '', '', '0', '0') || E'\n';
        ELSE
            entities := entities || jsonb_build_array(jsonb_build_object(
                'what', jsonb_build_object('reference', key),
                'type', jsonb_build_object('system', etype, 'code', '1', 'display', 'Person'),
                'role', jsonb_build_object('system', orole, 'code', '1', 'display', 'Patient')));
            ent_norm := ent_norm || concat_ws(E'\t', 'E', aod.norm_escape(key),
                aod.norm_escape(CASE WHEN strpos(key, '/') > 0 THEN split_part(key, '/', 1) END),
                '', '', '', etype, '1', 'Person', orole, '1', 'Patient', '', '', '0', '0') || E'\n';
        END IF;
    END LOOP;
    FOR f IN SELECT value FROM jsonb_array_elements(p_files) LOOP
        DECLARE
            descr text := words || ' (' || CASE p_audience WHEN 'privacy-office' THEN 'privacy office'
                          ELSE 'patient' END || ' copy), ' || to_char(p_first_day, 'YYYY-MM-DD')
                          || ' to ' || to_char(p_last_day, 'YYYY-MM-DD') || ', ' || (f->>'format');
        BEGIN
            entities := entities || jsonb_build_array(jsonb_build_object(
                'type', jsonb_build_object('system', etype, 'code', '2', 'display', 'System Object'),
                'role', jsonb_build_object('system', orole, 'code', '3', 'display', 'Report'),
                'name', f->>'name', 'description', descr,
                'detail', jsonb_build_array(
                    jsonb_build_object('type', 'sha256', 'valueString', f->>'sha256'),
                    jsonb_build_object('type', 'size', 'valueString', ((f->>'size')::bigint)::text),
                    jsonb_build_object('type', 'format', 'valueString', f->>'format'),
                    jsonb_build_object('type', 'file', 'valueString', f->>'name'),
                    jsonb_build_object('type', 'kind', 'valueString', p_kind),
                    jsonb_build_object('type', 'audience', 'valueString', p_audience),
                    jsonb_build_object('type', 'language', 'valueString', coalesce(p_language, '')),
                    jsonb_build_object('type', 'period-start', 'valueString', to_char(p_period_start AT TIME ZONE 'UTC', fmt_time)),
                    jsonb_build_object('type', 'period-end', 'valueString', to_char(p_period_end AT TIME ZONE 'UTC', fmt_time)),
                    jsonb_build_object('type', 'as-of', 'valueString', to_char(p_as_of AT TIME ZONE 'UTC', fmt_time)))));
            ent_norm := ent_norm || concat_ws(E'\t', 'E', '', '', '', '', '',
                etype, '2', 'System Object', orole, '3', 'Report',
                aod.norm_escape(f->>'name'), aod.norm_escape(descr), '0', '0') || E'\n';
        END;
    END LOOP;
    n_files := jsonb_array_length(p_files);
    -- verify's question: the person asked about, once, so that the privacy
    -- office can audit who asked about whom (object-role 6 User)
    FOR subject IN SELECT DISTINCT value->>'subject' FROM jsonb_array_elements(p_files)
                    WHERE nullif(value->>'subject', '') IS NOT NULL ORDER BY 1 LOOP
        entities := entities || jsonb_build_array(jsonb_build_object(
            'type', jsonb_build_object('system', etype, 'code', '1', 'display', 'Person'),
            'role', jsonb_build_object('system', orole, 'code', '6', 'display', 'User'),
            'name', subject,
            'description', 'the person asked about (aodreport verify)'));
        ent_norm := ent_norm || concat_ws(E'\t', 'E', '', '', '', '', '',
            etype, '1', 'Person', orole, '6', 'User',
            aod.norm_escape(subject), aod.norm_escape('the person asked about (aodreport verify)'),
            '0', '0') || E'\n';
        n_subjects := n_subjects + 1;
    END LOOP;

    res := jsonb_build_object(
        'resourceType', 'AuditEvent',
        'id', event_id,
        'type', jsonb_build_object('system', dcm, 'code', '110106', 'display', 'Export'),
        'subtype', jsonb_build_array(jsonb_build_object('system', subsys, 'code', 'aodreport-report', 'display', 'aodreport report run')),
        'action', 'R',
        'period', jsonb_build_object('start', to_char(started AT TIME ZONE 'UTC', fmt_time), 'end', to_char(rec AT TIME ZONE 'UTC', fmt_time)),
        'recorded', to_char(rec AT TIME ZONE 'UTC', fmt_time),
        'outcome', '0',
        'purposeOfEvent', jsonb_build_array(jsonb_build_object('coding', jsonb_build_array(
            jsonb_build_object('system', reason, 'code', 'HCOMPL', 'display', 'health compliance')))),
        'agent', jsonb_build_array(
            jsonb_build_object(
                'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', ptype, 'code', 'IRCP', 'display', 'information recipient'))),
                'who', jsonb_build_object('display', display),
                'altId', alt,
                'requestor', true),
            jsonb_build_object(
                'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', dcm, 'code', '110153', 'display', 'Source Role ID'))),
                'who', jsonb_build_object('type', 'Device', 'display', coalesce(nullif(p_program, ''), 'aodreport')),
                'requestor', false)),
        'source', jsonb_build_object(
            'observer', jsonb_build_object('display', 'aodreport'),
            'type', jsonb_build_array(jsonb_build_object('system', stype, 'code', '4', 'display', 'Application Server'))),
        'entity', entities);

    rec_ms := floor(extract(epoch FROM rec) * 1000);
    start_ms := floor(extract(epoch FROM started) * 1000);
    norm_head := 'aod2' || E'\n' || concat_ws(E'\t', 'R', aod.norm_escape(event_id), '4', rec_ms::text,
        CASE WHEN start_ms = rec_ms THEN '=' ELSE start_ms::text END, '=', 'R', '0', '', '', '', '',
        '', '', '', '', 'aodreport',
        '1', dcm, '110106', 'Export',
        '1', subsys, 'aodreport-report', 'aodreport report run',
        '1', reason, 'HCOMPL', 'health compliance',
        '1', stype, '4', 'Application Server',
        '2', (cardinality(keys) + n_files + n_subjects)::text, cardinality(keys)::text,
        (SELECT string_agg(aod.norm_escape(k), E'\t' ORDER BY k COLLATE "C") FROM unnest(keys) k)) || E'\n';
    norm_tail := concat_ws(E'\t', 'A', '', '', '', '', aod.norm_escape(display), '', aod.norm_escape(alt),
                           '1', ptype, 'IRCP', 'information recipient', '0', '1', '', '', '0', '0') || E'\n'
              || concat_ws(E'\t', 'A', '', 'Device', '', '', aod.norm_escape(coalesce(nullif(p_program, ''), 'aodreport')),
                           '', '', '1', dcm, '110153', 'Source Role ID', '0', '0', '', '', '0', '0') || E'\n'
              || ent_norm;

    -- as the loader does: one writer at a time, and an event stored once
    PERFORM pg_advisory_xact_lock(hashtext('aodreport load'));
    IF EXISTS (SELECT 1 FROM aod.audit_event WHERE event_key = ekey) THEN
        stored := false;
        RETURN;
    END IF;
    INSERT INTO aod.audit_event (event_key, fhir_id, fhir_version, recorded, patient_keys, resource, loaded_from)
    VALUES (ekey, event_id, 'R4', rec, keys, res, 'aodreport self-audit')
    RETURNING id INTO new_id;
    INSERT INTO aod.event_patient (patient_key, recorded, norm, other_keys, event_id)
    SELECT k, rec, norm_head || norm_tail,
           nullif(array(SELECT o FROM unnest(keys) o WHERE o <> k ORDER BY o COLLATE "C"), '{}'),
           new_id
      FROM unnest(keys) k;
    stored := true;
END
$$;


DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader') THEN
        GRANT EXECUTE ON FUNCTION aod.observer_days_add(text[], int[], bigint[], text[])
            TO aod_loader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        GRANT SELECT ON aod.observer_day, aod.observer_span, aod.observer_gap TO aod_reader;
    END IF;
END
$$;
