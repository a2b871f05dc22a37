# mmr.global_nextval (SPEC 3, docs/global_ids.md): three nodes insert at
# once, two sessions each, with DEFAULT mmr.global_nextval(...): every id is
# unique, no conflict is logged, each node's ids carry its node id and grow
# in every session.  An id is never given twice: not after a clean restart,
# not after kill -9, also when the last id is ahead of the clock (as after
# the clock went back).
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
	CREATE SEQUENCE ev_id;
	CREATE TABLE ev (id bigint PRIMARY KEY DEFAULT mmr.global_nextval('ev_id'),
	                 node text NOT NULL, run integer NOT NULL,
	                 at timestamptz NOT NULL DEFAULT clock_timestamp());
});
like(($n1->psql('postgres', q{SELECT mmr.global_nextval('ev_id')}))[2],
	qr/this database is not a member of an mmr group/, 'outside a group: a clear error');
$n1->safe_psql('postgres', q{SELECT mmr.group_create('n1', $$} . $n1->connstr('postgres') . q{$$)});
mmr_join_with_copy($n2, $n1);
mmr_join_with_copy($n3, $n2);
for my $node (@nodes)
{
	mmr_wait_until($node,
		"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
}

# Two sessions per node, all six at once.
my @runs;
for my $node (@nodes)
{
	my $name = $node->name;
	for my $run (1, 2)
	{
		push @runs, mmr_pgbench_start($node,
			"INSERT INTO ev (node, run) VALUES ('$name', $run);\n", 5);
	}
}
my $total = 0;
$total += mmr_pgbench_finish($_) for @runs;
cmp_ok($total, '>', 300, "six sessions inserted $total rows");
mmr_wait_caught_up($_) for @nodes;
mmr_wait_caught_up($_) for @nodes;

for my $node (@nodes)
{
	my $name = $node->name;
	is($node->safe_psql('postgres', 'SELECT count(*) || \'/\' || count(DISTINCT id) FROM ev'),
		"$total/$total", "$name has every row once, all ids distinct");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM mmr.conflict_log'),
		'0', "$name logged no conflict");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM mmr.replication_status WHERE state = 'error'}),
		'0', "$name applies without error");
}
is( $n1->safe_psql('postgres', q{
		SELECT count(*) FROM ev JOIN mmr.nodes n ON n.node_name = ev.node
		 WHERE (ev.id >> 12) & 1023 <> n.node_id}),
	'0', 'every id carries the node id of the node that took it');
is( $n1->safe_psql('postgres', q{
		SELECT count(*) FROM (SELECT id, lag(id) OVER (PARTITION BY node, run ORDER BY at) AS prev
		                        FROM ev) x
		 WHERE id <= prev}),
	'0', 'in every session ids grow');
is( $n1->safe_psql('postgres', q{
		SELECT count(*) FROM ev
		 WHERE (id >> 22) NOT BETWEEN
		       floor(extract(epoch FROM at - interval '5 seconds' - timestamptz '2025-01-01 00:00:00+00') * 1000)
		   AND ceil(extract(epoch FROM at + interval '5 seconds' - timestamptz '2025-01-01 00:00:00+00') * 1000)}),
	'0', 'the milliseconds of each id are those of its insert');
is( $n2->safe_psql('postgres', q{
		SELECT bool_and(id > prev) FROM (
		  SELECT id, lag(id) OVER (ORDER BY i) AS prev
		    FROM (SELECT i, mmr.global_nextval('ev_id') AS id FROM generate_series(1, 20000) i) g) x}),
	't', 'one statement: 20000 ids in a row grow (the counter spills into later milliseconds)');

# The last id an hour ahead of the clock, as after the clock went back an
# hour: ids count on from it.  Then restart and kill -9: the next id is
# still past every id given, although the clock would give smaller ones.
my $ahead = $n1->safe_psql('postgres', q{
	SELECT setval('ev_id', ((floor(extract(epoch FROM now() + interval '1 hour'
	                           - timestamptz '2025-01-01 00:00:00+00') * 1000)::bigint << 22)
	                        | (1 << 12)))});
my $a = $n1->safe_psql('postgres', q{SELECT mmr.global_nextval('ev_id')});
is($a, $ahead + 1, 'with the last id ahead of the clock, the next one counts on from it');
$n1->restart;
my $b = $n1->safe_psql('postgres', q{SELECT mmr.global_nextval('ev_id')});
cmp_ok($b, '>', $a, 'after a restart: a greater id');

$n1->safe_psql('postgres', q{INSERT INTO ev (node, run) VALUES ('n1', 3)});
my $c = $n1->safe_psql('postgres', q{SELECT mmr.global_nextval('ev_id')});
$n1->kill9;
mmr_wait_for_orphans($n1);
$n1->start;
my $d = $n1->safe_psql('postgres', q{SELECT mmr.global_nextval('ev_id')});
cmp_ok($d, '>', $c, 'after kill -9 right after an id was taken: a greater id');
is($n1->safe_psql('postgres', q{INSERT INTO ev (node, run) VALUES ('n1', 3) RETURNING id > } . $d),
	't', 'and rows inserted after the crash get greater ids still');
is($n1->safe_psql('postgres', q{SELECT count(*) FROM ev WHERE run = 3}), '2',
	'both rows of the crash test are there (no duplicate key)');

done_testing();
