-- 010_site_inputs.sql: what the site knows besides its audit events.
--
-- Three optional inputs the privacy office's copy reads (doc/privacy-office.md):
-- the staff roster, facts about patients, and care relationships.  Each has
-- tables of its own, never mixed with the audit events: the archive stays
-- what the systems recorded, and these say what the site believes today.
-- Each load replaces a table whole, in one transaction (`aodreport
-- load-roster`, `load-patient-facts`, `load-care`), so a report reads either
-- the old list or the new one, never half of each.

-- One row per (staff key, person): a person known by several keys (a
-- reference and a "system|value" identifier) has one row per key.
CREATE TABLE aod.roster (
    staff_key     text NOT NULL CHECK (staff_key <> ''),
    name          text,
    surname       text,
    address       text,
    department    text,
    start_date    date,
    end_date      date,
    -- the person's own patient keys (self-access)
    patient_keys  text[] NOT NULL DEFAULT '{}',
    source_line   bigint NOT NULL
);
CREATE INDEX roster_staff_key_idx ON aod.roster (staff_key);
COMMENT ON TABLE aod.roster IS
    'The site''s staff roster (aodreport load-roster), replaced whole by each load.';

CREATE TABLE aod.patient_fact (
    patient_key   text PRIMARY KEY CHECK (patient_key <> ''),
    surname       text,
    address       text,
    vip           boolean NOT NULL DEFAULT false,
    deceased      date,
    employee      boolean NOT NULL DEFAULT false,
    source_line   bigint NOT NULL
);
COMMENT ON TABLE aod.patient_fact IS
    'Facts about patients (aodreport load-patient-facts), replaced whole by each load.';

-- Care-team memberships and encounters: who had a reason to look, and when.
CREATE TABLE aod.care_relationship (
    patient_key   text NOT NULL CHECK (patient_key <> ''),
    staff_key     text NOT NULL CHECK (staff_key <> ''),
    from_date     date,
    to_date       date,
    source_line   bigint NOT NULL
);
CREATE INDEX care_relationship_patient_idx ON aod.care_relationship (patient_key);
COMMENT ON TABLE aod.care_relationship IS
    'Care relationships (aodreport load-care), replaced whole by each load.';

-- Which file each table came from, and when: one row per load, appended in
-- the load's transaction (the newest row of a kind describes the table).
CREATE TABLE aod.site_input (
    kind          text NOT NULL CHECK (kind IN ('roster', 'patient-facts', 'care')),
    loaded_from   text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    rows          bigint NOT NULL
);
COMMENT ON TABLE aod.site_input IS 'Every load of a site input, appended.';

-- The roles of sql/roles.sql, where the site has made them: the loader
-- replaces the lists (DELETE, then COPY), the reporting role reads them (also
-- through the default privileges).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_loader') THEN
        GRANT INSERT, DELETE ON aod.roster, aod.patient_fact, aod.care_relationship
            TO aod_loader;
        GRANT INSERT ON aod.site_input TO aod_loader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aod_reader') THEN
        GRANT SELECT ON aod.roster, aod.patient_fact, aod.care_relationship, aod.site_input
            TO aod_reader;
    END IF;
END
$$;
