-- 003_least_privilege.sql: what the roles of sql/roles.sql need from the store.
--
-- 1. A report records its own run through aod.record_self_audit(), a
--    SECURITY DEFINER function that builds the AuditEvent (and its stored
--    form, `norm`) from its arguments and takes the operator's database
--    identity from session_user: the reporting role needs no INSERT at all,
--    so it can neither forge an event in a patient's trail nor record a run
--    under another operator's name.
-- 2. Every row written into aod.event_patient is checked, once per
--    statement, against the event it points to: its patient key must be one
--    of the event's, its time the event's, and its `norm` must agree with the
--    stored resource on the key fields (id, recorded, action, number of
--    agents, patient keys), and the resource must mention the row's patient.  A loader (or anyone else with INSERT) cannot make
--    a report show a line that the archived resource does not back.  Rows
--    are never updated (no role but the owner may), so a row checked on the
--    way in stays right.  doc/store.md, "Integrity", says what this covers.
--
-- Nothing here grants anything to a role: roles are the site's (sql/roles.sql).

-- ------------------------------------------------------- the stored form
-- The aod2 dictionary of src/recio.c, frozen with the token: entry n is
-- element n + 1.
CREATE FUNCTION aod.norm_dict(n integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (ARRAY[
    '110100', '110101', '110102', '110103', '110104', '110105', '110106', '110107', '110108',
    '110109', '110110', '110111', '110112', '110113', '110114', '110122', '110123', '110150',
    '110151', '110152', '110153', '110154', '110155', '159541003', '429577009',
    'AllergyIntolerance', 'Application', 'Application Activity', 'Application Launcher',
    'Application Server', 'Audit Log Used', 'AuditEvent', 'Begin Transferring DICOM Instances',
    'Binary', 'Bundle', 'CAREMGT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'CarePlan', 'Claim',
    'Composition', 'Condition', 'Consent', 'Coverage', 'DELAU', 'DICOM Instances Accessed',
    'DICOM Instances Transferred', 'DICOM Study Deleted', 'Data Destination', 'Data Interface',
    'Data Repository', 'Database Server', 'Destination Media', 'Destination Role ID', 'Device',
    'DiagnosticReport', 'Disclose', 'DocumentReference', 'Domain Resource', 'ELIGVER', 'ERTREAT',
    'ETREAT', 'Emergency Treatment', 'Encounter', 'Endpoint', 'ExplanationOfBenefit', 'Export',
    'FAMRQT', 'Group', 'HACCRED', 'HCOMPL', 'HDIRECT', 'HIV/AIDS information sensitivity',
    'HLEGAL', 'HMARKT', 'HOPERAT', 'HPAYMT', 'HQUALIMP', 'HRESCH', 'HSYSADMIN', 'ImagingStudy',
    'Immunization', 'Import', 'Location', 'Login', 'Logout', 'MASKED', 'Major failure',
    'MedicationAdministration', 'MedicationRequest', 'Minor failure', 'Network Device',
    'Network Entry', 'Network Router', 'Observation', 'Order Record', 'Organization', 'Other',
    'PATADMIN', 'PATRQT', 'PATSFTY', 'PSEUDED', 'PUBHLTH', 'PWATRNY', 'Patient', 'Patient Record',
    'Person', 'Practitioner', 'PractitionerRole', 'Procedure', 'Procedure Record', 'Provenance',
    'Query', 'QuestionnaireResponse', 'RECORDMGT', 'RESTful Operation', 'RelatedPerson', 'Report',
    'Resource', 'Restful Operation', 'Schedule', 'Security Alert', 'Security Resource',
    'Security Server', 'Security User Entity', 'Security User Group', 'Serious failure',
    'ServiceRequest', 'Source Media', 'Source Role ID', 'Success', 'System Object', 'TREAT',
    'User Authentication', 'User Device', 'Web Server', 'XrequestId', 'access', 'alert', 'author',
    'author (originator)', 'authserver', 'batch', 'care management', 'claim attachment',
    'coverage authorization', 'coverage under policy or program', 'create', 'critical',
    'custodian', 'datacollector', 'dataprocessor', 'datasubject', 'debug', 'delete',
    'delete after use', 'directory', 'disclose', 'eligibility verification', 'emergency',
    'emergency room treatment', 'error', 'family requested', 'health accreditation',
    'health compliance', 'health quality improvement', 'health system administration',
    'healthcare marketing', 'healthcare operations', 'healthcare payment', 'healthcare research',
    'history', 'history-instance', 'history-type', 'http://dicom.nema.org/resources/ontology/DCM',
    'http://hl7.org/fhir/audit-entity-type', 'http://hl7.org/fhir/audit-event-type',
    'http://hl7.org/fhir/fhir-types', 'http://hl7.org/fhir/iso-21089-lifecycle',
    'http://hl7.org/fhir/issue-severity', 'http://hl7.org/fhir/object-lifecycle-events',
    'http://hl7.org/fhir/object-role', 'http://hl7.org/fhir/resource-types',
    'http://hl7.org/fhir/restful-interaction', 'http://hl7.org/fhir/security-source-type',
    'http://hl7.org/fhir/sid/us-npi', 'http://hl7.org/fhir/sid/us-ssn', 'http://loinc.org',
    'http://snomed.info/sct', 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
    'http://terminology.hl7.org/CodeSystem/audit-event-outcome',
    'http://terminology.hl7.org/CodeSystem/audit-event-type',
    'http://terminology.hl7.org/CodeSystem/extra-security-role-type',
    'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle',
    'http://terminology.hl7.org/CodeSystem/object-role',
    'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
    'http://terminology.hl7.org/CodeSystem/security-source-type',
    'http://terminology.hl7.org/CodeSystem/v2-0203',
    'http://terminology.hl7.org/CodeSystem/v3-ActCode',
    'http://terminology.hl7.org/CodeSystem/v3-ActReason',
    'http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw',
    'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
    'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
    'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
    'http://terminology.hl7.org/CodeSystem/v3-RoleClass',
    'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
    'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
    'https://profiles.ihe.net/ITI/MHD/CodeSystem/BasicAuditEntityType', 'humanuser', 'informant',
    'information recipient', 'informational', 'legal', 'masked', 'normal', 'notice', 'operation',
    'originate', 'patch', 'patient administration', 'patient requested', 'patient safety',
    'performer', 'power of attorney', 'pseudonymized', 'psychiatry information sensitivity',
    'public health', 'receive', 'records management', 'responsible party', 'restricted', 'search',
    'search-type', 'sexually transmitted disease information sensitivity',
    'substance abuse information sensitivity', 'transaction', 'transmit', 'treatment', 'update',
    'urn:ietf:rfc:3986', 'urn:ihe:event-type-code', 'urn:oid:2.16.840.1.113883.4.1',
    'urn:oid:2.16.840.1.113883.4.6', 'very restricted', 'vread', 'warning'
])[n + 1] $$;

-- One field of the stored form, decoded (src/recio.h, "THE FORMAT").  v2:
-- aod2 text (NULL is an empty field, "" is \e, \~hh a dictionary entry);
-- else aod1 (NULL is \N).  Returns the text, or NULL for NULL; an escape it
-- does not know raises an error, as the C decoder refuses it.
CREATE FUNCTION aod.norm_field(f text, v2 boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    out text := '';
    i integer := 1;
    c text;
    n integer;
BEGIN
    IF f IS NULL THEN
        RETURN NULL;
    END IF;
    IF v2 THEN
        IF f = '' THEN RETURN NULL; END IF;
        IF f = '\e' THEN RETURN ''; END IF;
        IF f ~ '^\\~[0-9a-f]{2}$' THEN
            RETURN aod.norm_dict(('x' || lpad(substr(f, 3, 2), 8, '0'))::bit(32)::integer);
        END IF;
    ELSIF f = '\N' THEN
        RETURN NULL;
    END IF;
    IF strpos(f, '\') = 0 THEN
        RETURN f;
    END IF;
    n := length(f);
    WHILE i <= n LOOP
        c := substr(f, i, 1);
        IF c <> '\' THEN
            out := out || c;
            i := i + 1;
            CONTINUE;
        END IF;
        c := substr(f, i + 1, 1);
        IF c = '\' THEN out := out || '\';
        ELSIF c = 't' THEN out := out || E'\t';
        ELSIF c = 'n' THEN out := out || E'\n';
        ELSIF c = 'r' THEN out := out || E'\r';
        ELSIF c = 'x' AND substr(f, i + 2, 2) ~ '^[0-9a-fA-F]{2}$' THEN
            out := out || chr(('x' || lpad(substr(f, i + 2, 2), 8, '0'))::bit(32)::integer);
            i := i + 2;
        ELSE
            RAISE EXCEPTION 'stored form: unknown escape \% ', c;
        END IF;
        i := i + 2;
    END LOOP;
    RETURN out;
END
$$;

-- A string as an aod2 field: NULL is an empty field, "" is \e; backslash,
-- TAB, LF and CR are escaped, other control characters written as \xHH.
-- Dictionary strings are written out in full, which the decoder accepts.
CREATE FUNCTION aod.norm_escape(s text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    out text := '';
    c text;
    i integer;
BEGIN
    IF s IS NULL THEN RETURN ''; END IF;
    IF s = '' THEN RETURN '\e'; END IF;
    s := replace(replace(replace(replace(s, '\', '\\'), E'\t', '\t'), E'\n', '\n'), E'\r', '\r');
    IF s !~ '[\x01-\x1f\x7f]' THEN
        RETURN s;
    END IF;
    FOR i IN 1 .. length(s) LOOP
        c := substr(s, i, 1);
        IF c ~ '[\x01-\x1f\x7f]' THEN
            out := out || '\x' || lpad(to_hex(ascii(c)), 2, '0');
        ELSE
            out := out || c;
        END IF;
    END LOOP;
    RETURN out;
END
$$;

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

-- Once per INSERT or COPY statement into aod.event_patient: every new row
-- must agree with its event.  SECURITY DEFINER because the loader may not
-- read the tables it checks against.
CREATE FUNCTION aod.event_patient_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT * INTO bad
      FROM (SELECT n.event_id, n.patient_key,
                   aod.norm_disagreement(n.norm, n.patient_key, n.recorded, e) AS why
              FROM new_rows n JOIN aod.audit_event e ON e.id = n.event_id) s
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

-- ------------------------------------------------------ the self-audit
-- Records one report run (src/selfaudit.h describes the event) and returns
-- its id and whether it is new.  The operator is session_user: what the
-- caller passes as p_operator_name is shown beside it, never instead of it.
-- The id hashes session_user with p_retry_key (the client's key of this run:
-- the report's parameters, outputs and process), so only an exact retry by
-- the same login is stored once.
CREATE FUNCTION aod.record_self_audit(
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
           OR f->>'format' IS NULL
           OR f->>'format' NOT IN ('csv', 'pdf', 'html', 'xlsx', 'bundle-json', 'bundle-xml',
                                   'verify-text', 'verify-json')
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

REVOKE EXECUTE ON FUNCTION aod.record_self_audit(text, text[], text, text, text, date, date,
    timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION aod.event_patient_check() FROM PUBLIC;
