-- 004_search_outcomes.sql: what a search response said besides its events.
--
-- An AuditEvent search response (a searchset Bundle, e.g. a CH:ATC ITI-81
-- answer) may carry OperationOutcome entries (search.mode = outcome): a
-- community that did not answer, a result cut short.  They are no events,
-- but a report built from that response is only as complete as they say, so
-- the loader keeps each issue's message here with the patient keys of the
-- events that came with it, and every report for one of those keys says so
-- in its completeness statement (doc/store.md, "Search outcomes").
CREATE TABLE aod.search_outcome (
    loaded_from   text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    -- the patient keys of the events the same response carried
    patient_keys  text[] NOT NULL,
    severity      text,
    code          text,
    message       text NOT NULL
);

COMMENT ON TABLE aod.search_outcome IS
    'OperationOutcome issues of loaded search responses, by the patient keys of their events.';

CREATE INDEX search_outcome_keys_idx ON aod.search_outcome USING gin (patient_keys);

-- The roles of sql/roles.sql, where the site has made them: the loader adds
-- outcomes (the reporting role reads them through the default privileges).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader') THEN
        GRANT INSERT ON aod.search_outcome TO aod_loader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        GRANT SELECT ON aod.search_outcome TO aod_reader;
    END IF;
END
$$;
