-- 008_batch_formats.sql: a report may record up to twelve files.
--
-- A batch row may ask for every format a single report writes (pdf, csv,
-- csv-summary, csv-completeness, html, xlsx, bundle-json, bundle-xml and the
-- four MHD submissions: doc/batch.md), and each report's self-audit lists
-- every file it wrote.  The self-audit function (aod.record_self_audit_003(),
-- as 007 last defined it) refused more than eight, so such a report failed
-- and was never published.  As 006 did for the format names, the function is
-- re-created from its own definition with the limit raised to twelve (the
-- number of formats): one definition stays the truth, and its owner, grants
-- and SECURITY DEFINER are kept, as CREATE OR REPLACE keeps them.
DO $$
DECLARE
    fn constant regprocedure := 'aod.record_self_audit_003(text, text[], text, text, text, date, date,
        timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb)';
    def text;
    patched text;
BEGIN
    def := pg_get_functiondef(fn);
    patched := replace(replace(def, 'jsonb_array_length(p_files) NOT BETWEEN 1 AND 8',
                                    'jsonb_array_length(p_files) NOT BETWEEN 1 AND 12'),
                       'give 1 to 8 files', 'give 1 to 12 files');
    IF patched = def THEN
        RAISE EXCEPTION '008_batch_formats: the file limit of aod.record_self_audit_003() was not found';
    END IF;
    EXECUTE patched;
END
$$;
