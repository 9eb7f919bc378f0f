-- 006_mhd_formats.sql: the MHD submissions are formats a report may record.
--
-- The self-audit function of 003 (since 005 aod.record_self_audit_003(),
-- behind a wrapper that makes the month's partitions) accepts only the file
-- formats it knows, so a
-- report written as an IHE MHD submission (--format mhd, mhd-html,
-- mhd-simplified, mhd-simplified-html; doc/bundle.md, "Portal delivery")
-- would be refused and never published.  The function is re-created from
-- its own definition with the four names added to that list: one definition
-- stays the truth, and its owner, grants and SECURITY DEFINER are kept, as
-- CREATE OR REPLACE keeps them.
DO $$
DECLARE
    fn constant regprocedure := 'aod.record_self_audit_003(text, text[], text, text, text, date, date,
        timestamptz, timestamptz, timestamptz, timestamptz, text, text, text, text, jsonb)';
    def text;
    patched text;
BEGIN
    def := pg_get_functiondef(fn);
    patched := replace(def, '''bundle-json'', ''bundle-xml'',',
        '''bundle-json'', ''bundle-xml'', ''mhd'', ''mhd-html'', ''mhd-simplified'', ''mhd-simplified-html'',');
    IF patched = def THEN
        RAISE EXCEPTION '006_mhd_formats: the format list of aod.record_self_audit_003() was not found';
    END IF;
    EXECUTE patched;
END
$$;
