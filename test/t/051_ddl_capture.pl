# mmr.ddl_replication = on: DDL run on any node of a three-node mesh is
# captured and replicated to both others exactly once (a loop would make
# the second copy fail); a new table replicates at once, both ways.
# Temporary objects stay local, and so does everything with the default
# (off); statements that cannot replicate safely are refused.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my @nodes = map { mmr_node("n$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;

$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE excluded (id integer PRIMARY KEY);
	SELECT mmr.group_create('n1', $$} . $n1->connstr('postgres') . q{$$);
});
mmr_join_with_copy($n2, $n1);
mmr_join_with_copy($n3, $n1);
for my $node (@nodes)
{
	$node->safe_psql('postgres', q{
		CREATE ROLE reader;
		SELECT mmr.set_table_replicated('excluded', false);
	});
	mmr_wait_until($node,
		"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
}

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q); }

# SQL run on NODE with capture on.
sub ddl { my ($node, $q) = @_; return sql($node, "SET mmr.ddl_replication = on;\n$q"); }

# Runs SQL with capture on and returns its stderr (errors, notices).
sub ddl_stderr
{
	my ($node, $q) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "SET mmr.ddl_replication = on;\n$q");
	return $err;
}

sub caught_up { mmr_wait_caught_up($_) for @nodes; }

# CREATE TABLE on n2 appears on n1 and n3; its rows replicate every way.
ddl($n2, q{
	CREATE TABLE fresh (id integer PRIMARY KEY, v text);
	INSERT INTO fresh VALUES (1, 'from n2, same session');
});
caught_up();
for my $node ($n1, $n3)
{
	is(sql($node, 'SELECT v FROM fresh'), 'from n2, same session',
		'CREATE TABLE on n2 and its first row reach ' . $node->name);
	is( sql($node, q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'fresh'::regclass AND tgname = 'mmr_tombstone'}),
		'1', 'the new table got its tombstone trigger on ' . $node->name);
}
sql($n1, "INSERT INTO fresh VALUES (2, 'from n1')");
sql($n3, "INSERT INTO fresh VALUES (3, 'from n3')");
caught_up();
is(sql($_, 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM fresh'), '1,2,3',
	'rows of the new table replicate both ways to ' . $_->name) for @nodes;

# ALTER TABLE ADD/DROP COLUMN, CREATE INDEX, CREATE FUNCTION, GRANT, and a
# multi-statement query string (each statement travels with its own text).
ddl($n3, 'ALTER TABLE fresh ADD COLUMN extra integer DEFAULT 0');
ddl($n1, 'ALTER TABLE fresh DROP COLUMN v');
ddl($n2, 'CREATE INDEX fresh_extra ON fresh (extra)');
ddl($n2, q{CREATE FUNCTION twice(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'});
ddl($n1, 'GRANT SELECT ON fresh TO reader');
$n3->psql('postgres', '', extra_params => [ '-c',
	'SET mmr.ddl_replication = on; CREATE SCHEMA extra_schema; '
	  . 'CREATE SEQUENCE extra_schema.seq; '
	  . 'CREATE VIEW extra_schema.doubled AS SELECT id, twice(id) AS d FROM fresh; '
	  . q{CREATE TYPE extra_schema.mood AS ENUM ('sad', 'happy')} ]);
caught_up();
for my $node (@nodes)
{
	my $name = $node->name;
	is( sql($node, q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'fresh'::regclass AND attnum > 0 AND NOT attisdropped}),
		'id,extra', "ADD COLUMN and DROP COLUMN replicated to $name");
	is(sql($node, q{SELECT count(*) FROM pg_indexes WHERE indexname = 'fresh_extra'}), '1',
		"CREATE INDEX replicated to $name");
	is(sql($node, 'SELECT twice(21)'), '42', "CREATE FUNCTION replicated to $name");
	is(sql($node, q{SELECT has_table_privilege('reader', 'fresh', 'SELECT')}), 't',
		"GRANT replicated to $name");
	is( sql($node, q{SELECT nextval('extra_schema.seq'), (SELECT sum(d) FROM extra_schema.doubled), 'happy'::extra_schema.mood}),
		'1|12|happy', "schema, sequence, view and type of one query string replicated to $name");
}
sql($n1, 'INSERT INTO fresh VALUES (4, 40)');
caught_up();
is(sql($n2, 'SELECT extra FROM fresh WHERE id = 4'), '40', 'the added column replicates rows');

# A temporary table stays local; with the default (off) a table stays local.
like(ddl_stderr($n2, q{CREATE TEMP TABLE scratch (id integer); INSERT INTO scratch VALUES (1)}),
	qr/^$/, 'a temporary table is created without a word');
sql($n2, 'CREATE TABLE local_only (id integer PRIMARY KEY)');
ddl($n2, 'CREATE TABLE marker (id integer PRIMARY KEY)');
caught_up();
for my $node ($n1, $n3)
{
	is( sql($node, q{SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('scratch', 'local_only', 'marker')}),
		'marker', 'neither the temporary table nor the table created with capture off reached ' . $node->name);
}

# Refused, with the reason and a hint; nothing of them runs.
like(ddl_stderr($n2, 'CREATE INDEX CONCURRENTLY fresh_id2 ON fresh (id)'),
	qr/CREATE INDEX CONCURRENTLY cannot be replicated.*HINT:  Run it without CONCURRENTLY/s,
	'CREATE INDEX CONCURRENTLY is refused');
like(ddl_stderr($n2, 'CREATE TABLE copied AS SELECT * FROM fresh'),
	qr/CREATE TABLE AS cannot be replicated.*HINT:  Create the table first/s,
	'CREATE TABLE AS is refused');
like(ddl_stderr($n2, 'ALTER TABLE excluded ADD COLUMN c integer'),
	qr/cannot replicate ALTER TABLE on table public.excluded, which is not replicated/,
	'DDL on an excluded table is refused');
like(ddl_stderr($n2, q{COMMENT ON COLUMN excluded.id IS 'local'}),
	qr/cannot replicate COMMENT on table public.excluded, which is not replicated/,
	'DDL on a column of an excluded table is refused');
like(ddl_stderr($n2, q{DO $$ BEGIN EXECUTE 'CREATE TABLE in_do (id integer)'; END $$}),
	qr/cannot replicate CREATE TABLE run inside a DO block or procedure/,
	'DDL inside a DO block is refused');
like(ddl_stderr($n2, q{CREATE TEMP TABLE scratch2 (id integer); DROP TABLE marker, scratch2}),
	qr/cannot replicate DROP TABLE on both temporary and permanent objects/,
	'a statement on temporary and permanent tables together is refused');
is(sql($n2, q{SELECT to_regclass('marker') IS NOT NULL}), 't', 'and the table is still there');
like(ddl_stderr($n2, 'CREATE ROLE local_role'),
	qr/NOTICE:  CREATE ROLE is not replicated: it runs on this node only/,
	'CREATE ROLE runs locally with a NOTICE');
is( sql($n2, q{SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('fresh_id2', 'copied', 'in_do')}),
	'', 'no refused statement ran');

# One query string mixing a replicable statement with a refused one: the
# refusal aborts the whole implicit transaction, nothing is half-done.
my ($rc, $out, $err) = $n2->psql('postgres', '', extra_params => [ '-c',
	'SET mmr.ddl_replication = on; CREATE TABLE mixed (id integer PRIMARY KEY); '
	  . 'CREATE INDEX CONCURRENTLY mixed_id ON mixed (id)' ]);
like($err, qr/CREATE INDEX CONCURRENTLY cannot be replicated/, 'a mixed query string is refused');
is(sql($n2, q{SELECT to_regclass('mixed') IS NULL}), 't', 'and none of it ran');

# The setting works per database too (apply workers connect to the
# database with it and still capture nothing: no loop below).
sql($n1, 'ALTER DATABASE postgres SET mmr.ddl_replication = on');
sql($n1, 'CREATE TABLE by_database_setting (id integer PRIMARY KEY)');
like(ddl_stderr($n1, 'ALTER DATABASE postgres RESET mmr.ddl_replication'),
	qr/NOTICE:  ALTER DATABASE is not replicated/, 'ALTER DATABASE stays local');
caught_up();
is(sql($_, q{SELECT to_regclass('by_database_setting') IS NOT NULL}), 't',
	'a table created under the database setting reached ' . $_->name) for ($n2, $n3);

# DROP TABLE replicates.
ddl($n3, 'DROP TABLE fresh CASCADE');
caught_up();
is(sql($_, q{SELECT to_regclass('fresh') IS NULL}), 't', 'DROP TABLE replicated to ' . $_->name)
  for @nodes;

# Nothing looped: every stream is healthy, none ever failed.
for my $node (@nodes)
{
	is( sql($node, q{SELECT string_agg(state || ':' || coalesce(last_error, 'none'), ',') FROM mmr.replication_status}),
		'streaming:none,streaming:none', 'every stream into ' . $node->name . ' streams without an error');
}

done_testing();
