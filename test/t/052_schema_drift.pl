# Schemas that differ for a while (no global DDL lock): a column dropped on
# n1 while n2, which has not applied the drop yet, keeps inserting rows that
# carry it; a column that exists on one side only, with a default; a NOT
# NULL column without a default that the peer does not send; a table that
# does not exist here.  Apply is never wedged by the first two (each
# difference is logged once, not per row); the last two stop apply with a
# clear last_error until fixed, and it resumes.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');

for my $node ($n1, $n2)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE drift (id bigserial PRIMARY KEY, a text NOT NULL, c text);
		CREATE TABLE strict_t (id integer PRIMARY KEY);
	});
}
mmr_two_node_group($n1, $n2);

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q); }

sub streams_cleanly
{
	my ($node) = @_;
	return sql($node, q{SELECT state || ':' || coalesce(last_error, 'none') FROM mmr.replication_status});
}

sub log_count
{
	my ($node, $re) = @_;
	my @hits = slurp_file($node->logfile) =~ /$re/g;
	return scalar @hits;
}

# n2 does not apply n1's changes for now: the drop reaches it later.
sql($n2, 'SELECT mmr.apply_pause()');
my $bench = mmr_pgbench_start($n2, "INSERT INTO drift (a, c) VALUES ('from n2', 'carried');\n", 4);
mmr_wait_until($n2, 'SELECT count(*) >= 20 FROM drift');
sql($n1, q{SELECT mmr.replicate_ddl('ALTER TABLE drift DROP COLUMN c')});
my $at_drop = sql($n2, 'SELECT max(id) FROM drift');
mmr_pgbench_finish($bench);
my $total = sql($n2, 'SELECT count(*) FROM drift');
cmp_ok(sql($n2, 'SELECT max(id) FROM drift'), '>', $at_drop,
	'n2 went on inserting rows with the column after n1 dropped it');

mmr_wait_caught_up($n2);
is(sql($n1, 'SELECT count(*) FROM drift'), $total, 'n1 applied every row of n2, column or not');
is(streams_cleanly($n1), 'streaming:none', 'apply on n1 never stopped');
is(log_count($n1, qr/peer "n2" sends column "c" of table "public.drift", which does not exist on this node/),
	1, 'the ignored column is logged once, not per row');

sql($n2, 'SELECT mmr.apply_resume()');
mmr_wait_caught_up($n1);
is( sql($n2, q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'drift'::regclass AND attname = 'c' AND NOT attisdropped}),
	'0', 'n2 dropped the column once it applied the DDL');
is(mmr_table_digest($n2, 'drift', 'id'), mmr_table_digest($n1, 'drift', 'id'),
	'both nodes converge');

# A column added on n1 only, with a default: n2's new rows get the default
# on n1, n2's updates keep n1's value; n2 ignores the column n1 sends.
sql($n1, 'ALTER TABLE drift ADD COLUMN d integer NOT NULL DEFAULT 5');
sql($n1, "INSERT INTO drift (id, a, d) VALUES (1000000000, 'from n1', 7)");
sql($n2, "INSERT INTO drift (id, a) VALUES (1000000001, 'from n2 without d')");
sql($n2, "UPDATE drift SET a = 'updated on n2' WHERE id = 1000000000");
mmr_wait_caught_up($n1);
mmr_wait_caught_up($n2);
is( sql($n1, 'SELECT id, a, d FROM drift WHERE id >= 1000000000 ORDER BY id'),
	"1000000000|updated on n2|7\n1000000001|from n2 without d|5",
	'on n1 the unsent column keeps its value on UPDATE and gets its default on INSERT');
is(sql($n2, 'SELECT a FROM drift WHERE id = 1000000000'), 'updated on n2',
	'n2 applied the row n1 sent with its extra column');
is(streams_cleanly($_), 'streaming:none', 'apply on ' . $_->name . ' never stopped') for ($n1, $n2);
is(log_count($n1, qr/peer "n2" does not send column "d" of table "public.drift"/), 1,
	'the missing column is logged once on n1');

# A NOT NULL column without a default, on n1 only: n2's rows cannot be
# stored there; apply says so and resumes once the column has a default.
sql($n1, 'ALTER TABLE strict_t ADD COLUMN req integer NOT NULL');
sql($n2, 'INSERT INTO strict_t VALUES (1)');
mmr_wait_until($n1,
	q{SELECT state = 'error' AND last_error LIKE 'null value in column "req" of relation "strict_t" violates not-null constraint%' FROM mmr.replication_status});
is(log_count($n1, qr/WARNING:  peer "n2" does not send column "req" of table "public.strict_t", which is NOT NULL without a default on this node/),
	1, 'the NOT NULL column the peer does not send is warned about once');
sql($n1, 'ALTER TABLE strict_t ALTER COLUMN req SET DEFAULT 0');
mmr_wait_until($n1, 'SELECT count(*) = 1 FROM strict_t WHERE req = 0');
mmr_wait_until($n1, q{SELECT state = 'streaming' FROM mmr.replication_status});

# A table that does not exist here stops apply with a clear error.
sql($n2, 'CREATE TABLE only_n2 (id integer PRIMARY KEY)');
sql($n2, 'INSERT INTO only_n2 VALUES (1)');
mmr_wait_until($n1,
	q{SELECT state = 'error' AND last_error LIKE 'table "public.only_n2" does not exist on this node%' FROM mmr.replication_status});
sql($n1, 'CREATE TABLE only_n2 (id integer PRIMARY KEY)');
mmr_wait_until($n1, 'SELECT count(*) = 1 FROM only_n2');
mmr_wait_until($n1, q{SELECT state = 'streaming' FROM mmr.replication_status});
pass('apply resumed once the table exists');

done_testing();
