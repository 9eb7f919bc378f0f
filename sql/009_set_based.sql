-- 009_set_based.sql: the batch's self-audit set-based, the integrity check
-- once per event.
--
-- A month's batch called aod.record_self_audit() once per report (issue 18,
-- doc/benchmarks.md): about 0.4 ms of the server's CPU each, PL/pgSQL
-- building the event field by field, more than the floor of reading the
-- month's rows.  aod.record_self_audits(runs jsonb) records a group of
-- report runs in one statement, each as aod.record_self_audit() would (the
-- same checks of the arguments, the same AuditEvent and norm, the same id),
-- with one recorded time for the group; its rows go through the integrity
-- trigger in one statement too.  The single report keeps
-- aod.record_self_audit().
--
-- The integrity trigger of event_patient (migrations 003, 005) ran
-- aod.norm_disagreement() for every new row, turning the event's whole
-- resource back into text for each: 41 % of the server's time in a load.
-- It now checks the rows of one event together (the same checks, order
-- and words), reading the resource's text once per event.
--
-- Nothing is rewritten; no table changes.

-- ---------------------------------------------------- fast paths
-- aod.norm_escape() for the usual string, without a PL/pgSQL call: plain
-- text is itself.  Anything to escape is handed to the PL/pgSQL original,
-- so the results are the same by construction.
CREATE FUNCTION aod.norm_escape_fast(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s IS NULL THEN ''
                WHEN s = '' THEN '\e'
                WHEN s !~ '[\x01-\x1f\x7f\\]' THEN s
                ELSE aod.norm_escape(s) END
$$;

-- ---------------------------------------------------- integrity, by events
-- aod.norm_disagreement() (as migration 007 left it: aod1, aod2, aod3) for
-- all the rows of one event that carry the same
-- norm (the loader writes one norm per event, whatever its patient keys):
-- the same checks, in the same order, with the resource turned into text
-- and the norm split once for all of them instead of once per row.  Returns
-- NULL when every row agrees, else the first key found wrong, a TAB and
-- why, in aod.norm_disagreement()'s words (a key that fails a check is
-- named for the first check any of the keys fails).
CREATE FUNCTION aod.norm_disagreement_keys(norm text, keys text[], recorded timestamptz,
                                           e aod.audit_event) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    token text := split_part(norm, E'\n', 1);
    f text[] := string_to_array(split_part(norm, E'\n', 2), E'\t');
    v2 boolean;
    idx integer := 18;
    k integer;
    nkeys integer;
    nkeys_seen text[] := '{}';
    key text;
    x text;
    needle text;
    doc text;
    rec_ms bigint := floor(extract(epoch FROM e.recorded) * 1000);
BEGIN
    IF token NOT IN ('aod1', 'aod2', 'aod3') OR f[1] IS DISTINCT FROM 'R' THEN
        RETURN keys[1] || E'\t' || 'norm is not a stored record';
    END IF;
    v2 := token IN ('aod2', 'aod3');
    IF recorded IS DISTINCT FROM e.recorded THEN
        RETURN keys[1] || E'\t' || 'recorded differs from the event''s';
    END IF;
    FOREACH key IN ARRAY keys LOOP
        IF NOT key = ANY (e.patient_keys) THEN
            RETURN key || E'\t' || 'patient_key is not one of the event''s patient keys';
        END IF;
    END LOOP;
    -- The key's identifying part (the id of a reference, the value of an
    -- identifier) must occur in the resource: the keys are the loader's
    -- reading of it, and must not name someone the event never mentions.
    doc := e.resource::text;
    FOREACH key IN ARRAY keys LOOP
        needle := CASE WHEN strpos(key, '|') > 0 THEN substr(key, strpos(key, '|') + 1)
                       ELSE regexp_replace(key, '^.*/', '') END;
        needle := to_json(needle)::text;
        IF needle = '""' OR strpos(doc, substr(needle, 2, length(needle) - 2)) = 0 THEN
            RETURN key || E'\t' || 'the resource does not mention patient_key';
        END IF;
    END LOOP;
    -- (a field without a backslash is itself, as aod.norm_field() says)
    x := f[2];
    IF (CASE WHEN x IS NULL OR (v2 AND x = '') THEN NULL
             WHEN v2 AND strpos(x, '\') = 0 THEN x ELSE aod.norm_field(x, v2) END) IS DISTINCT FROM e.fhir_id
       OR e.resource->>'id' IS DISTINCT FROM e.fhir_id THEN
        RETURN keys[1] || E'\t' || 'the id in norm or the resource differs from the event''s';
    END IF;
    IF f[4] IS DISTINCT FROM rec_ms::text
       OR floor(extract(epoch FROM (e.resource->>'recorded')::timestamptz) * 1000) <> rec_ms THEN
        RETURN keys[1] || E'\t' || 'the recorded time in norm or the resource differs from the event''s';
    END IF;
    x := f[7];
    IF (CASE WHEN x IS NULL OR (v2 AND x = '') THEN NULL
             WHEN v2 AND strpos(x, '\') = 0 THEN x ELSE aod.norm_field(x, v2) END)
       IS DISTINCT FROM e.resource->>'action' THEN
        RETURN keys[1] || E'\t' || 'the action in norm differs from the resource''s';
    END IF;
    -- four coding lists (type, subtype, purpose, source type), then counts
    FOR k IN 1 .. 4 LOOP
        idx := idx + 1 + 3 * f[idx]::integer;
    END LOOP;
    IF f[idx]::integer IS DISTINCT FROM coalesce(jsonb_array_length(e.resource->'agent'), 0) THEN
        RETURN keys[1] || E'\t' || 'the number of agents in norm differs from the resource''s';
    END IF;
    nkeys := f[idx + 2]::integer;
    IF idx + 2 + nkeys <> cardinality(f) THEN
        RETURN keys[1] || E'\t' || 'norm is not a stored record';
    END IF;
    FOR k IN 1 .. nkeys LOOP
        x := f[idx + 2 + k];
        nkeys_seen := nkeys_seen || (CASE WHEN x IS NULL OR (v2 AND x = '') THEN NULL
                                          WHEN v2 AND strpos(x, '\') = 0 THEN x
                                          ELSE aod.norm_field(x, v2) END);
    END LOOP;
    IF NOT (nkeys_seen @> e.patient_keys AND nkeys_seen <@ e.patient_keys) THEN
        RETURN keys[1] || E'\t' || 'the patient keys in norm differ from the event''s';
    END IF;
    RETURN NULL;
END
$$;

-- Once per INSERT or COPY statement into aod.event_patient, as since
-- migration 003: every new row must agree with its event.  Now once per
-- event (and norm) rather than once per row, the event found by its key.
CREATE OR REPLACE FUNCTION aod.event_patient_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT g.event_id, substring(g.why FROM '^(.*)\t[^\t]*$') AS patient_key,
           substring(g.why FROM '\t([^\t]*)$') AS why INTO bad
      FROM (SELECT n.event_id,
                   CASE WHEN e.ev IS NULL THEN n.keys[1] || E'\t' || 'no such event is stored'
                        ELSE aod.norm_disagreement_keys(n.norm, n.keys, n.recorded, e.ev) END AS why
              FROM (SELECT r.event_id, r.recorded, r.norm COLLATE "C" AS norm,
                           array_agg(r.patient_key) AS keys
                      FROM new_rows r GROUP BY r.event_id, r.recorded, r.norm COLLATE "C") n
              LEFT JOIN LATERAL (
                -- (a lookup by key per event, never a scan of the archive)
                SELECT a AS ev FROM aod.audit_event a
                 WHERE a.id = n.event_id AND a.recorded = n.recorded OFFSET 0) e ON true) g
     WHERE g.why IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aod.event_patient: the row for event % and patient key % disagrees with its stored event: %',
            bad.event_id, bad.patient_key, bad.why
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------- the self-audit, by groups
-- Records the report runs of p_runs (a JSON array, 1 to 1024 objects, each
-- with the arguments of aod.record_self_audit() as members of the same names
-- without "p_": retry_key, patient_keys (a text[] literal), kind, audience,
-- language, first_day, last_day, period_start, period_end, as_of, started,
-- operator_name, os_user, host, program (strings or null) and files (the
-- JSON text of the files' array)) in one statement, all or none.  Each run
-- is checked and recorded exactly as aod.record_self_audit() records it:
-- the same AuditEvent, norm, id and rows; the runs of one call share their
-- recorded time (they are committed together).  Returns a row per run, in
-- the order given: its event id and whether it is new (an exact retry, or
-- a run given twice, is stored once).
CREATE FUNCTION aod.record_self_audits(p_runs jsonb)
RETURNS TABLE (ord integer, event_id text, stored boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- (compiling the statement would cost more than running it)
SET jit = off AS $$
DECLARE
    who constant text := session_user;
    rec constant timestamptz := date_trunc('milliseconds', clock_timestamp());
    bad record;
    existing bytea[];
BEGIN
    IF jsonb_typeof(p_runs) IS DISTINCT FROM 'array' OR jsonb_array_length(p_runs) NOT BETWEEN 1 AND 1024 THEN
        RAISE EXCEPTION 'record_self_audits: give 1 to 1024 runs' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- the arguments, as aod.record_self_audit() checks them, in its order:
    -- the first run (in the order given) that breaks a rule is refused.
    -- (The formats and the number of files are those of
    -- aod.record_self_audit_003() as migrations 007 and 008 left it: a later
    -- migration that changes them there must change them here too.)
    SELECT a.o, v.why, v.file INTO bad
      FROM jsonb_array_elements(p_runs) WITH ORDINALITY AS a(r, o)
     CROSS JOIN LATERAL (SELECT (a.r->>'patient_keys')::text[] AS pkeys,
                                CASE WHEN jsonb_typeof(a.r) = 'object' THEN (a.r->>'files')::jsonb END AS files) x
     CROSS JOIN LATERAL (SELECT array_agg(k ORDER BY k) AS keys
                           FROM (SELECT DISTINCT k COLLATE "C" AS k FROM unnest(x.pkeys) k) s) ks
     CROSS JOIN LATERAL (
        SELECT CASE
            WHEN ks.keys IS NULL OR cardinality(ks.keys) > 64
                 OR EXISTS (SELECT 1 FROM unnest(ks.keys) k WHERE k IS NULL OR k = '' OR length(k) > 4096)
                THEN 'give 1 to 64 patient keys'
            WHEN a.r->>'kind' IS NULL OR a.r->>'kind' NOT IN ('disclosures', 'access', 'explain')
                 OR a.r->>'audience' IS NULL OR a.r->>'audience' NOT IN ('patient', 'privacy-office')
                 OR a.r->>'retry_key' IS NULL OR length(a.r->>'retry_key') > 200
                 OR a.r->>'first_day' IS NULL OR a.r->>'last_day' IS NULL
                 OR a.r->>'period_start' IS NULL OR a.r->>'period_end' IS NULL
                 OR a.r->>'as_of' IS NULL OR a.r->>'started' IS NULL
                 OR length(coalesce(a.r->>'operator_name', '')) > 200
                 OR length(coalesce(a.r->>'os_user', '')) > 200
                 OR length(coalesce(a.r->>'host', '')) > 300
                 OR length(coalesce(a.r->>'program', '')) > 100
                 OR length(coalesce(a.r->>'language', '')) > 35
                THEN 'bad arguments'
            WHEN jsonb_typeof(x.files) IS DISTINCT FROM 'array'
                 OR jsonb_array_length(x.files) NOT BETWEEN 1 AND 12
                THEN 'give 1 to 12 files'
            END AS why,
            (SELECT f FROM jsonb_array_elements(CASE WHEN jsonb_typeof(x.files) = 'array' THEN x.files END)
                           WITH ORDINALITY AS fs(f, fo)
              WHERE jsonb_typeof(f) IS DISTINCT FROM 'object'
                 OR f->>'format' IS NULL
                 OR f->>'format' NOT IN ('csv', 'pdf', 'html', 'xlsx', 'bundle-json', 'bundle-xml',
                                         'mhd', 'mhd-html', 'mhd-simplified', 'mhd-simplified-html',
                                         'verify-text', 'verify-json', 'csv-completeness')
                 OR length(coalesce(f->>'subject', '')) > 1000
                 OR (f ? 'subject' AND f->>'format' NOT IN ('verify-text', 'verify-json'))
                 OR coalesce(f->>'sha256', '') !~ '^[0-9a-f]{64}$'
                 OR coalesce(f->>'size', '') !~ '^[0-9]{1,15}$'
                 OR f->>'name' IS NULL OR f->>'name' = '' OR length(f->>'name') > 255
              ORDER BY fo LIMIT 1) AS file) v
     WHERE v.why IS NOT NULL OR v.file IS NOT NULL
     ORDER BY a.o
     LIMIT 1;
    IF FOUND THEN
        IF bad.why IS NOT NULL THEN
            RAISE EXCEPTION 'record_self_audit: % (run %)', bad.why, bad.o USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RAISE EXCEPTION 'record_self_audit: bad file % (run %)', bad.file, bad.o USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- the month it records in has its partitions (see aod.record_self_audit)
    IF to_regclass('aod.audit_event_' || to_char(rec AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL THEN
        PERFORM aod.ensure_partitions(ARRAY[rec]);
    END IF;
    -- as the loader does: one writer at a time, and an event stored once
    PERFORM pg_advisory_xact_lock(hashtext('aodreport load'));
    SELECT array_agg(e.event_key) INTO existing
      FROM aod.audit_event e
     WHERE e.event_key = ANY (ARRAY(
        SELECT sha256(convert_to('id' || E'\x1f' || 'aodreport' || E'\x1f' || 'aodreport-'
               || left(encode(sha256(convert_to('aodreport self-audit 2' || E'\n' || who || E'\n'
                                                || (r->>'retry_key'), 'UTF8')), 'hex'), 32), 'UTF8'))
          FROM jsonb_array_elements(p_runs) r));

    RETURN QUERY
    WITH runs AS MATERIALIZED (
        SELECT a.o::integer AS o,
               a.r->>'retry_key' AS retry_key,
               a.r->>'kind' AS kind,
               a.r->>'audience' AS audience,
               a.r->>'language' AS language,
               (a.r->>'first_day')::date AS first_day,
               (a.r->>'last_day')::date AS last_day,
               (a.r->>'period_start')::timestamptz AS period_start,
               (a.r->>'period_end')::timestamptz AS period_end,
               (a.r->>'as_of')::timestamptz AS as_of,
               least(date_trunc('milliseconds', (a.r->>'started')::timestamptz), rec) AS started,
               a.r->>'operator_name' AS operator_name,
               a.r->>'os_user' AS os_user,
               a.r->>'host' AS host,
               a.r->>'program' AS program,
               (a.r->>'files')::jsonb AS files,
               (SELECT array_agg(k ORDER BY k)
                  FROM (SELECT DISTINCT k COLLATE "C" AS k
                          FROM unnest((a.r->>'patient_keys')::text[]) k) s) AS keys
          FROM jsonb_array_elements(p_runs) WITH ORDINALITY AS a(r, o)
    ), named AS MATERIALIZED (
        SELECT r.*, i.eid,
               sha256(convert_to('id' || E'\x1f' || 'aodreport' || E'\x1f' || i.eid, 'UTF8')) AS ekey,
               coalesce(nullif(r.operator_name, ''), coalesce(nullif(r.os_user, ''), 'unknown'))
                   || ' (database user ' || who || ')' AS display,
               'database user ' || who || '; OS user ' || coalesce(nullif(r.os_user, ''), 'unknown')
                   || ' on ' || coalesce(nullif(r.host, ''), 'unknown') AS alt,
               CASE r.kind WHEN 'explain' THEN 'explain view of the audit records'
                           WHEN 'access' THEN 'access report'
                           ELSE 'accounting of disclosures' END
                   || ' (' || CASE r.audience WHEN 'privacy-office' THEN 'privacy office'
                                  ELSE 'patient' END || ' copy), '
                   || to_char(r.first_day, 'YYYY-MM-DD') || ' to '
                   || to_char(r.last_day, 'YYYY-MM-DD') || ', ' AS descr,
               floor(extract(epoch FROM rec) * 1000)::bigint AS rec_ms,
               floor(extract(epoch FROM r.started) * 1000)::bigint AS start_ms
          FROM runs r
         CROSS JOIN LATERAL (SELECT 'aodreport-' || left(encode(sha256(convert_to(
                    'aodreport self-audit 2' || E'\n' || who || E'\n' || r.retry_key, 'UTF8')), 'hex'), 32)
                    AS eid) i
    ), built AS MATERIALIZED (
        SELECT n.o, n.eid, n.ekey, n.keys,
               -- the first of the runs with this id is the one stored
               n.o = min(n.o) OVER (PARTITION BY n.ekey) AND NOT (n.ekey = ANY (coalesce(existing, '{}')))
                   AS fresh,
               jsonb_build_object(
                'resourceType', 'AuditEvent',
                'id', n.eid,
                'type', jsonb_build_object('system', 'http://dicom.nema.org/resources/ontology/DCM', 'code', '110106', 'display', 'Export'),
                'subtype', jsonb_build_array(jsonb_build_object('system', 'urn:aodreport:audit-subtype', 'code', 'aodreport-report', 'display', 'aodreport report run')),
                'action', 'R',
                'period', jsonb_build_object('start', to_char(n.started AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                             'end', to_char(rec AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                'recorded', to_char(rec AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'outcome', '0',
                'purposeOfEvent', jsonb_build_array(jsonb_build_object('coding', jsonb_build_array(
                    jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/v3-ActReason', 'code', 'HCOMPL', 'display', 'health compliance')))),
                'agent', jsonb_build_array(
                    jsonb_build_object(
                        'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', 'code', 'IRCP', 'display', 'information recipient'))),
                        'who', jsonb_build_object('display', n.display),
                        'altId', n.alt,
                        'requestor', true),
                    jsonb_build_object(
                        'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://dicom.nema.org/resources/ontology/DCM', 'code', '110153', 'display', 'Source Role ID'))),
                        'who', jsonb_build_object('type', 'Device', 'display', coalesce(nullif(n.program, ''), 'aodreport')),
                        'requestor', false)),
                'source', jsonb_build_object(
                    'observer', jsonb_build_object('display', 'aodreport'),
                    'type', jsonb_build_array(jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/security-source-type', 'code', '4', 'display', 'Application Server'))),
                'entity', ent.entities) AS res,
               'aod2' || E'\n' || concat_ws(E'\t', 'R', aod.norm_escape_fast(n.eid), '4', n.rec_ms::text,
                   CASE WHEN n.start_ms = n.rec_ms THEN '=' ELSE n.start_ms::text END, '=', 'R', '0', '', '', '', '',
                   '', '', '', '', 'aodreport',
                   '1', 'http://dicom.nema.org/resources/ontology/DCM', '110106', 'Export',
                   '1', 'urn:aodreport:audit-subtype', 'aodreport-report', 'aodreport report run',
                   '1', 'http://terminology.hl7.org/CodeSystem/v3-ActReason', 'HCOMPL', 'health compliance',
                   '1', 'http://terminology.hl7.org/CodeSystem/security-source-type', '4', 'Application Server',
                   '2', ent.n::text, cardinality(n.keys)::text,
                   (SELECT string_agg(aod.norm_escape_fast(k), E'\t' ORDER BY k COLLATE "C") FROM unnest(n.keys) k))
               || E'\n'
               || concat_ws(E'\t', 'A', '', '', '', '', aod.norm_escape_fast(n.display), '', aod.norm_escape_fast(n.alt),
                            '1', 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', 'IRCP', 'information recipient',
                            '0', '1', '', '', '0', '0') || E'\n'
               || concat_ws(E'\t', 'A', '', 'Device', '', '', aod.norm_escape_fast(coalesce(nullif(n.program, ''), 'aodreport')),
                            '', '', '1', 'http://dicom.nema.org/resources/ontology/DCM', '110153', 'Source Role ID',
                            '0', '0', '', '', '0', '0') || E'\n'
               || ent.norm AS norm
          FROM named n
         CROSS JOIN LATERAL (
            -- the entities: each patient key, then each file, then each
            -- person asked about (verify), as aod.record_self_audit() makes them
            SELECT jsonb_agg(e.j ORDER BY e.g, e.i) AS entities,
                   string_agg(e.line, '' ORDER BY e.g, e.i) AS norm,
                   count(*) AS n
              FROM (
                SELECT 1 AS g, u.i, jsonb_build_object(
                           'what', CASE WHEN strpos(u.key, '|') > 0
                                        THEN jsonb_strip_nulls(jsonb_build_object('identifier', jsonb_build_object(
                                                 'system', nullif(split_part(u.key, '|', 1), ''),
                                                 'value', substr(u.key, strpos(u.key, '|') + 1))))
                                        ELSE jsonb_build_object('reference', u.key) END,
                           'type', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/audit-entity-type', 'code', '1', 'display', 'Person'),
                           'role', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/object-role', 'code', '1', 'display', 'Patient')) AS j,
                       CASE WHEN strpos(u.key, '|') > 0
                            THEN concat_ws(E'\t', 'E', '', '',
                                     aod.norm_escape_fast(nullif(split_part(u.key, '|', 1), '')),
                                     aod.norm_escape_fast(substr(u.key, strpos(u.key, '|') + 1)), '',
                                     'http://terminology.hl7.org/CodeSystem/audit-entity-type', '1', 'Person',
                                     'http://terminology.hl7.org/CodeSystem/object-role', '1', 'Patient', '', '', '0', '0')
                            ELSE concat_ws(E'\t', 'E', aod.norm_escape_fast(u.key),
                                     aod.norm_escape_fast(CASE WHEN strpos(u.key, '/') > 0 THEN split_part(u.key, '/', 1) END),
                                     '', '', '', 'http://terminology.hl7.org/CodeSystem/audit-entity-type', '1', 'Person',
                                     'http://terminology.hl7.org/CodeSystem/object-role', '1', 'Patient', '', '', '0', '0')
                       END || E'\n' AS line
                  FROM unnest(n.keys) WITH ORDINALITY AS u(key, i)
                UNION ALL
                SELECT 2, fs.i, jsonb_build_object(
                           'type', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/audit-entity-type', 'code', '2', 'display', 'System Object'),
                           'role', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/object-role', 'code', '3', 'display', 'Report'),
                           'name', fs.f->>'name', 'description', n.descr || (fs.f->>'format'),
                           'detail', jsonb_build_array(
                               jsonb_build_object('type', 'sha256', 'valueString', fs.f->>'sha256'),
                               jsonb_build_object('type', 'size', 'valueString', ((fs.f->>'size')::bigint)::text),
                               jsonb_build_object('type', 'format', 'valueString', fs.f->>'format'),
                               jsonb_build_object('type', 'file', 'valueString', fs.f->>'name'),
                               jsonb_build_object('type', 'kind', 'valueString', n.kind),
                               jsonb_build_object('type', 'audience', 'valueString', n.audience),
                               jsonb_build_object('type', 'language', 'valueString', coalesce(n.language, '')),
                               jsonb_build_object('type', 'period-start', 'valueString', to_char(n.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                               jsonb_build_object('type', 'period-end', 'valueString', to_char(n.period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                               jsonb_build_object('type', 'as-of', 'valueString', to_char(n.as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))),
                       concat_ws(E'\t', 'E', '', '', '', '', '',
                           'http://terminology.hl7.org/CodeSystem/audit-entity-type', '2', 'System Object',
                           'http://terminology.hl7.org/CodeSystem/object-role', '3', 'Report',
                           aod.norm_escape_fast(fs.f->>'name'), aod.norm_escape_fast(n.descr || (fs.f->>'format')), '0', '0') || E'\n'
                  FROM jsonb_array_elements(n.files) WITH ORDINALITY AS fs(f, i)
                UNION ALL
                SELECT 3, row_number() OVER (ORDER BY s.subject), jsonb_build_object(
                           'type', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/audit-entity-type', 'code', '1', 'display', 'Person'),
                           'role', jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/object-role', 'code', '6', 'display', 'User'),
                           'name', s.subject,
                           'description', 'the person asked about (aodreport verify)'),
                       concat_ws(E'\t', 'E', '', '', '', '', '',
                           'http://terminology.hl7.org/CodeSystem/audit-entity-type', '1', 'Person',
                           'http://terminology.hl7.org/CodeSystem/object-role', '6', 'User',
                           aod.norm_escape_fast(s.subject), aod.norm_escape_fast('the person asked about (aodreport verify)'),
                           '0', '0') || E'\n'
                  FROM (SELECT DISTINCT value->>'subject' AS subject FROM jsonb_array_elements(n.files)
                         WHERE nullif(value->>'subject', '') IS NOT NULL) s
              ) e) ent
    ), ins AS (
        INSERT INTO aod.audit_event (event_key, fhir_id, fhir_version, recorded, patient_keys, resource, loaded_from)
        SELECT b.ekey, b.eid, 'R4', rec, b.keys, b.res, 'aodreport self-audit'
          FROM built b WHERE b.fresh
        RETURNING id, event_key
    ), ep AS (
        INSERT INTO aod.event_patient (patient_key, recorded, norm, other_keys, event_id)
        SELECT k, rec, b.norm,
               nullif(array(SELECT o FROM unnest(b.keys) o WHERE o <> k ORDER BY o COLLATE "C"), '{}'),
               i.id
          FROM ins i
          JOIN built b ON b.ekey = i.event_key AND b.fresh
         CROSS JOIN LATERAL unnest(b.keys) k
        RETURNING 1
    )
    SELECT b.o, b.eid, b.fresh FROM built b ORDER BY b.o;
END
$$;

REVOKE EXECUTE ON FUNCTION aod.record_self_audits(jsonb) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        GRANT EXECUTE ON FUNCTION aod.record_self_audits(jsonb) TO aod_reader;
    END IF;
END
$$;
