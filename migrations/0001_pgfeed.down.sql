-- Removes change capture from every tracked table, then pgfeed's schema.
DROP EVENT TRIGGER IF EXISTS pgfeed_drop;
DROP EVENT TRIGGER IF EXISTS pgfeed_before_drop;
DROP EVENT TRIGGER IF EXISTS pgfeed_alter;
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT rel FROM pgfeed.tables LOOP
        PERFORM pgfeed.untrack(t);
    END LOOP;
END
$$;
DROP SCHEMA pgfeed CASCADE;
