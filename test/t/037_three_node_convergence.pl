# Convergence on real clusters (SPEC 5): three nodes, one pgbench client
# on each writing at the same time into a small key space (upserts,
# updates, deletes of 20 keys), so that concurrent writes of one key on
# several nodes are the rule.  After each round the writes stop, every node
# catches up, and all three must hold the same rows under the default
# resolver (last_update_wins), with apply never stuck in error.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my @nodes = map { mmr_node("n$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;

$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE kv (k integer PRIMARY KEY, v integer NOT NULL, node text NOT NULL);
	INSERT INTO kv SELECT g, 0, 'n1' FROM generate_series(1, 20) g;
	SELECT mmr.group_create('n1', $$} . $n1->connstr('postgres') . q{$$);
});
mmr_join_with_copy($n2, $n1);
mmr_join_with_copy($n3, $n2);
for my $node (@nodes)
{
	mmr_wait_until($node,
		"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
}

# Each transaction: an upsert, an update and a delete of random keys.
sub script
{
	my ($name) = @_;
	return qq{
\\set a random(1, 20)
\\set b random(1, 20)
\\set c random(1, 20)
BEGIN;
INSERT INTO kv VALUES (:a, :a, '$name') ON CONFLICT (k) DO UPDATE SET v = kv.v + 1, node = '$name';
UPDATE kv SET v = v + 10, node = '$name' WHERE k = :b;
DELETE FROM kv WHERE k = :c AND v % 7 = 0;
COMMIT;
};
}

my $conflicts = 0;
for my $round (1 .. 3)
{
	my @runs = map { mmr_pgbench_start($_, script($_->name), 6) } @nodes;
	my @txns = map { mmr_pgbench_finish($_) } @runs;
	cmp_ok($_, '>', 50, "round $round: a client wrote ($_ transactions)") for @txns;

	mmr_wait_caught_up($_) for @nodes;
	# A second pass: changes applied during the first wait are confirmed too.
	mmr_wait_caught_up($_) for @nodes;

	my $d1 = mmr_table_digest($n1, 'kv', 'k');
	is(mmr_table_digest($_, 'kv', 'k'), $d1, "round $round: " . $_->name . ' has the same rows as n1')
	  for ($n2, $n3);
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres',
				"SELECT count(*) FROM mmr.replication_status WHERE state = 'error'"),
			'0', "round $round: " . $node->name . ' applies without error');
	}
}
$conflicts += $_->safe_psql('postgres', 'SELECT count(*) FROM mmr.conflict_log') for @nodes;
cmp_ok($conflicts, '>', 0, "the rounds made real conflicts ($conflicts logged on the three nodes)");

done_testing();
