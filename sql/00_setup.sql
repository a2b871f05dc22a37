-- Setup shared by the decoding tests: the extension, and a function that
-- shows a slot's changes as jsonb without the values that differ from run
-- to run (LSNs, xids, times, oids: relations are shown by name, and the
-- oids of types created by the tests are left out).
CREATE EXTENSION mmr;

CREATE FUNCTION decoded(slot name, VARIADIC options text[] DEFAULT '{binary,off}')
RETURNS SETOF jsonb LANGUAGE sql AS $$
  SELECT CASE m->>'type'
           WHEN 'begin' THEN jsonb_build_object('type', 'begin', 'origin', m->'origin')
           WHEN 'commit' THEN jsonb_build_object('type', 'commit')
           WHEN 'message' THEN m
           WHEN 'relation' THEN (m - 'relid' - 'columns') || jsonb_build_object(
               'table', (m->>'relid')::oid::regclass::text,
               'columns', (SELECT jsonb_agg(CASE WHEN (col->>'type_oid')::oid >= 16384
                                                 THEN col - 'type_oid' ELSE col END
                                            ORDER BY i)
                             FROM jsonb_array_elements(m->'columns') WITH ORDINALITY AS e(col, i)))
           WHEN 'truncate' THEN (m - 'relids') || jsonb_build_object('tables',
               (SELECT jsonb_agg(r::oid::regclass::text ORDER BY r::oid::regclass::text)
                  FROM jsonb_array_elements_text(m->'relids') r))
           ELSE (m - 'relid') || jsonb_build_object('table', (m->>'relid')::oid::regclass::text)
         END
    FROM pg_logical_slot_get_binary_changes(slot, NULL, NULL, VARIADIC options)
         WITH ORDINALITY AS c(lsn, xid, data, n),
         LATERAL mmr.decode_message(c.data) WITH ORDINALITY AS d(m, k)
   ORDER BY c.n, d.k
$$;
