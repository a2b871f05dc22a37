-- An UPDATE that leaves a 1 MB TOASTed column unchanged does not re-send it.
SELECT 'init' FROM pg_create_logical_replication_slot('regress_toast', 'mmr');

CREATE TABLE toasted (id integer PRIMARY KEY, big text, small integer);
ALTER TABLE toasted ALTER COLUMN big SET STORAGE EXTERNAL;  -- no compression
INSERT INTO toasted VALUES (1, repeat('0123456789abcdef', 65536), 1);
UPDATE toasted SET small = 2 WHERE id = 1;
UPDATE toasted SET big = 'short now' WHERE id = 1;

-- Show the kind and size of each value instead of the megabyte itself.
SELECT m->>'type' AS type,
       (SELECT jsonb_agg(CASE jsonb_typeof(v)
                           WHEN 'string' THEN to_jsonb(length(v #>> '{}'))
                           ELSE v END ORDER BY i)
          FROM jsonb_array_elements(m->'new') WITH ORDINALITY AS e(v, i)) AS new_values
  FROM decoded('regress_toast') m
 WHERE m->>'type' IN ('insert', 'update');

SELECT pg_drop_replication_slot('regress_toast');
DROP TABLE toasted;
