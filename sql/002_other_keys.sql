-- 002_other_keys.sql: every report row names the event's other patient keys.
--
-- A person known under several keys (Patient/123, an MRN, an SSN) is read
-- with one range scan per key, and an event that names two of the keys has a
-- row under each.  With the other keys on the row, the scan of a later key
-- can leave out, on the server, the events an earlier key's scan returns
-- anyway, instead of sending them for the program to skip (doc/store.md,
-- "Several keys").
--
-- NULL means "no other key" for rows the loader writes from this version on,
-- and "not known" for rows written before it; either way such a row is sent,
-- and the program still skips an event it has already seen.  Nothing is
-- rewritten here: on a large store that would be a long migration, and it
-- only makes reports of such rows faster.  doc/store.md shows how to fill the
-- column in for older rows, in steps, if one wants to.
ALTER TABLE aod.event_patient ADD COLUMN other_keys text[];

COMMENT ON COLUMN aod.event_patient.other_keys IS
    'The event''s patient keys other than patient_key; NULL when it has none (or, for rows loaded before migration 002, when not known).';
