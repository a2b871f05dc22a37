# Two nodes replicate each other's writes: every type both ways, TOAST,
# TRUNCATE, atomic transactions, nothing looping back, and the views.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $a = mmr_node('a');
my $b = mmr_node('b');

my $schema = q{
	CREATE TYPE mood AS ENUM ('sad', 'happy');
	CREATE TABLE types (
		id integer PRIMARY KEY, t text, n numeric(12,3), j jsonb, b bytea,
		a integer[], ts timestamptz, f float8, bo boolean, m mood,
		big text, u uuid, iv interval, d date);
	CREATE TABLE pair_left (id integer PRIMARY KEY);
	CREATE TABLE pair_right (id integer PRIMARY KEY);
	CREATE TABLE no_pk (v text);
	CREATE TABLE local_only (id integer PRIMARY KEY);
};
$a->safe_psql('postgres', $schema);
$b->safe_psql('postgres', $schema);
for my $node ($a, $b)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION mmr');
	$node->safe_psql('postgres', "SELECT mmr.set_table_replicated('local_only', false)");
}

mmr_two_node_group($a, $b);

is( $a->safe_psql('postgres', 'SELECT node_name, status, is_local FROM mmr.nodes'),
	"a|ready|t\nb|ready|f", 'node list on a');
is( $b->safe_psql('postgres', 'SELECT node_name, status, is_local FROM mmr.nodes'),
	"a|ready|f\nb|ready|t", 'node list on b');
is($b->safe_psql('postgres', 'SELECT mmr.local_node_name()'), 'b', 'local node name on b');

# The same contents on both nodes, as one comparable string.
sub contents
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) || ':' || count(*) FROM $table t");
}

sub rows_of
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# Writes on a, in every type, arrive on b; and the reverse.
my $insert_values = q{
	(%d, 'O''Reilly "q" ✓ \ ünï', 12345.678, '{"k": [1, "two", null]}', '\x00ff10',
	 '{1,2,NULL}', '2024-02-29 12:34:56.789+00', -1.5e300, true, 'happy',
	 repeat('x', 300000), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 2 hours', '2024-01-31'),
	(%d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)};
$a->safe_psql('postgres', 'INSERT INTO types VALUES ' . sprintf($insert_values, 1, 2));
$b->safe_psql('postgres', 'INSERT INTO types VALUES ' . sprintf($insert_values, 3, 4));
mmr_wait_caught_up($a);
mmr_wait_caught_up($b);
is(contents($b, 'types'), contents($a, 'types'), 'inserts of every type replicate both ways');
is(rows_of($a, 'SELECT count(*) FROM types'), '4', 'a has all four rows');

# Updates, an update leaving the TOASTed column unchanged, deletes.
$a->safe_psql('postgres', q{UPDATE types SET t = 'changed on a', n = 0 WHERE id = 1});
$b->safe_psql('postgres', q{UPDATE types SET bo = false WHERE id = 3});
$b->safe_psql('postgres', q{DELETE FROM types WHERE id = 2});
$a->safe_psql('postgres', q{UPDATE types SET id = 40 WHERE id = 4});
mmr_wait_caught_up($a);
mmr_wait_caught_up($b);
is(contents($b, 'types'), contents($a, 'types'), 'updates, deletes and a key change replicate');
is( rows_of($b, q{SELECT length(big), t FROM types WHERE id = 1}),
	'300000|changed on a', 'unchanged TOASTed value kept on the receiver');
is(rows_of($a, 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM types'),
	'1,3,40', 'the expected rows remain');

# A multi-statement transaction arrives whole: b never sees half of it.
$a->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO pair_left SELECT generate_series(1, 5000);
	INSERT INTO pair_right SELECT generate_series(1, 5000);
	COMMIT;});
my $torn = 0;
my $seen_full = 0;
for my $try (1 .. 2000)
{
	my ($l, $r) = split /\|/, rows_of($b,
		'SELECT (SELECT count(*) FROM pair_left), (SELECT count(*) FROM pair_right)');
	$torn++ unless ($l == 0 && $r == 0) || ($l == 5000 && $r == 5000);
	if ($l == 5000 && $r == 5000) { $seen_full = 1; last; }
}
mmr_wait_until($b, 'SELECT count(*) = 5000 FROM pair_right');
is($torn, 0, 'no partial transaction was ever visible');

# TRUNCATE replicates.
$b->safe_psql('postgres', 'TRUNCATE pair_left, pair_right');
mmr_wait_caught_up($b);
is(rows_of($a, 'SELECT count(*) FROM pair_left') . rows_of($a, 'SELECT count(*) FROM pair_right'),
	'00', 'truncate replicated');

# A table without a key: inserts replicate.
$a->safe_psql('postgres', q{INSERT INTO no_pk VALUES ('keyless')});
mmr_wait_caught_up($a);
is(rows_of($b, 'SELECT v FROM no_pk'), 'keyless', 'insert into a table without a key replicates');

# An excluded table stays local.
$a->safe_psql('postgres', 'INSERT INTO local_only VALUES (1)');
mmr_wait_caught_up($a);
is(rows_of($b, 'SELECT count(*) FROM local_only'), '0', 'excluded table is not replicated');

# Nothing loops back: a's rows come back from b neither as changes nor twice.
my $applied_before = rows_of($a, 'SELECT applied_changes FROM mmr.replication_status');
$a->safe_psql('postgres', 'INSERT INTO pair_left SELECT generate_series(100, 199)');
mmr_wait_caught_up($a);
mmr_wait_caught_up($b);
is(rows_of($a, 'SELECT applied_changes FROM mmr.replication_status'),
	$applied_before, 'a applied nothing of its own writes back from b');
is(rows_of($b, 'SELECT count(*) FROM pair_left'), '100', 'b has a\'s rows once');

# The status view shows real values.
my $status = rows_of($b, q{
	SELECT peer_name, state, worker_pid > 0, received_lsn IS NOT NULL,
	       applied_lsn IS NOT NULL, applied_transactions > 0, applied_changes > 0,
	       conflicts, last_error IS NULL
	  FROM mmr.replication_status});
is($status, 'a|streaming|t|t|t|t|t|0|t', 'replication_status on b');

done_testing();
