# A 4-node full mesh built by joins with a data copy, each through a
# different member; mmr.part_node of a live node (by itself) and of a
# stopped node (from another member); rejoins under the same names
# (SPEC 3, 6).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my @nodes = map { mmr_node("n$_") } 1 .. 4;
my ($n1, $n2, $n3, $n4) = @nodes;

$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE t (id integer PRIMARY KEY, origin text);
	INSERT INTO t SELECT g, 'seed' FROM generate_series(1, 1000) g;
});
$n1->safe_psql('postgres',
	"SELECT mmr.group_create('n1', \$\$" . $n1->connstr('postgres') . "\$\$)");
mmr_join_with_copy($n2, $n1);
mmr_join_with_copy($n3, $n2);
mmr_join_with_copy($n4, $n3);

sub ready_everywhere
{
	my ($count, @where) = @_;
	for my $node (@where)
	{
		mmr_wait_until($node, "SELECT count(*) = $count FROM mmr.nodes WHERE status = 'ready'");
		mmr_wait_until($node,
			"SELECT count(*) = $count - 1 FROM mmr.replication_status WHERE state = 'streaming'");
	}
}

sub converged
{
	my ($what, @where) = @_;
	mmr_wait_caught_up($_) for @where;
	my $digest = mmr_table_digest($where[0], 't', 'id');
	is(mmr_table_digest($_, 't', 'id'), $digest, "$what: " . $_->name . ' identical to ' . $where[0]->name)
	  for @where[ 1 .. $#where ];
}

ready_everywhere(4, @nodes);
pass('mmr.nodes shows 4 ready nodes on every node');
my $id = 10000;
for my $node (@nodes)
{
	$id++;
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($id, '" . $node->name . "')");
}
for my $node (@nodes)
{
	mmr_wait_until($node, "SELECT count(*) = 4 FROM t WHERE id > 10000");
}
pass('writes on every node reach every node');
converged('4-node mesh', @nodes);

# n3 parts itself while live.
$n3->safe_psql('postgres', "SELECT mmr.part_node('n3')");
for my $node ($n1, $n2, $n4)
{
	mmr_wait_until($node, "SELECT status = 'parted' FROM mmr.nodes WHERE node_name = 'n3'");
	mmr_wait_until($node, 'SELECT count(*) = 2 FROM pg_replication_slots');
}
pass('n3 parted itself: parted everywhere, its slots gone');
is($n3->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'n3 dropped its own slots');

# n4 is stopped, and parted from n2.
$n4->stop;
$n2->safe_psql('postgres', "SELECT mmr.part_node('n4')");
for my $node ($n1, $n2)
{
	mmr_wait_until($node, "SELECT status = 'parted' FROM mmr.nodes WHERE node_name = 'n4'");
	mmr_wait_until($node, 'SELECT count(*) = 1 FROM pg_replication_slots');
}
pass('stopped n4 parted from n2: parted on n1 too, its slots gone');
$n1->safe_psql('postgres', "INSERT INTO t VALUES (20001, 'n1 after parts')");
$n2->safe_psql('postgres', "INSERT INTO t VALUES (20002, 'n2 after parts')");
mmr_wait_until($_, 'SELECT count(*) = 2 FROM t WHERE id > 20000') for ($n1, $n2);
pass('the rest keep replicating');

# n3 rejoins under its name, into its emptied database, through n1.
$n3->safe_psql('postgres', 'DROP TABLE t');
mmr_join_with_copy($n3, $n1);
# A fresh server joins under the name n4, through n3.
my $n4b = mmr_node('n4b');
$n4b->safe_psql('postgres', 'CREATE EXTENSION mmr');
$n4b->safe_psql('postgres',
	"SELECT mmr.group_join('n4', \$\$" . $n4b->connstr('postgres') . "\$\$, \$\$"
	  . $n3->connstr('postgres') . "\$\$)");
$n4b->safe_psql('postgres', "SELECT mmr.wait_for_join('150 s')");

my @live = ($n1, $n2, $n3, $n4b);
ready_everywhere(4, @live);
is($_->safe_psql('postgres', "SELECT string_agg(node_name || ':' || status, ',' ORDER BY node_name) FROM mmr.nodes"),
	'n1:ready,n2:ready,n3:ready,n4:ready', $_->name . ': the rejoined names are ready, the parted rows gone')
  for @live;
for my $node (@live)
{
	$id++;
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($id, 'again " . $node->name . "')");
}
mmr_wait_until($_, "SELECT count(*) = 4 FROM t WHERE origin LIKE 'again %'") for @live;
converged('after rejoins', @live);

done_testing();
