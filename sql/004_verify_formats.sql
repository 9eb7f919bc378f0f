-- 004_verify_formats.sql: `aodreport verify` is recorded like every report.
--
-- A verify run is the access report's pipeline read for one person, and its
-- answer goes to the privacy office as plain text or JSON.  It is recorded
-- through aod.record_self_audit() as an access report (privacy office copy)
-- whose output format is `verify-text` or `verify-json`, so the trail says
-- that the question was asked, by whom, about which patient and period, and
-- the checksum of the answer given.  The function is the one of
-- 003_least_privilege.sql with those two formats added; its owner, SECURITY
-- DEFINER and the EXECUTE grants the site gave stay as they were.

CREATE OR REPLACE FUNCTION aod.record_self_audit(
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
           OR f->>'format' IS NULL OR f->>'format' NOT IN ('csv', 'pdf', 'bundle-json', 'bundle-xml', 'verify-text', 'verify-json')
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
        '2', (cardinality(keys) + n_files)::text, cardinality(keys)::text,
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
