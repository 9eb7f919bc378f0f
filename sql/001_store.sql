-- 001_store.sql: the audit store, first version.
--
-- aod.audit_event keeps every AuditEvent whole (the archive and the source of
-- truth).  aod.event_patient is what reports read: one narrow row per
-- (patient key, event), ordered by its primary key exactly as a report wants
-- it, carrying the compact pre-extracted form of the event (`norm`, written by
-- the loader from the same parse that validated the JSON), so that a report
-- never parses jsonb or JSON.  doc/store.md explains the choices.

CREATE TABLE aod.audit_event (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- sha256 of ('id' observer id) when the event has an id, else of its
    -- canonical JSON text (computed by the loader; doc/store.md, "Loading"):
    -- what makes loading idempotent.
    event_key     bytea NOT NULL,
    fhir_id       text,
    fhir_version  text NOT NULL CHECK (fhir_version IN ('R4', 'R5', 'R6', 'unknown')),
    recorded      timestamptz NOT NULL,
    -- every key the event refers to its patient by: 'Patient/x' or 'system|value'
    patient_keys  text[] NOT NULL DEFAULT '{}',
    loaded_from   text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    resource      jsonb NOT NULL,
    CONSTRAINT audit_event_key_unique UNIQUE (event_key)
);

COMMENT ON TABLE aod.audit_event IS
    'Every loaded FHIR AuditEvent, whole; one row per distinct event.';

-- Events that name no patient (logins, system jobs) are kept and countable.
CREATE INDEX audit_event_no_patient_idx ON aod.audit_event (recorded)
    WHERE patient_keys = '{}';

CREATE TABLE aod.event_patient (
    patient_key   text NOT NULL,
    recorded      timestamptz NOT NULL,
    event_id      bigint NOT NULL REFERENCES aod.audit_event (id) ON DELETE CASCADE,
    norm_version  smallint NOT NULL DEFAULT 1,
    norm          text NOT NULL,
    PRIMARY KEY (patient_key, recorded, event_id)
) WITH (fillfactor = 100);

COMMENT ON TABLE aod.event_patient IS
    'Report index: one row per patient key and event, in report order, with the event pre-extracted.';

CREATE INDEX event_patient_event_idx ON aod.event_patient (event_id);

-- Monthly runs ask "which patients had activity in this month".
CREATE INDEX event_patient_recorded_idx ON aod.event_patient USING brin (recorded);

-- lz4 compresses the archived documents several times faster than the
-- default pglz, which is most of the cost of loading; servers built without
-- lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE aod.audit_event ALTER COLUMN resource SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; documents are compressed with pglz';
END
$$;
