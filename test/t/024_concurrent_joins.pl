# Two nodes join at once through two different members (issue 7): they
# pick the same node id from their join nodes' views, and each claims it on
# every member (mmr.claim_node_id).  The first at the common member gets
# on; the other is refused with a clear error, and its retry, once the
# first is ready, joins with another id.  All four end ready everywhere
# with ids 1 to 4, and writes on each reach all.  Then two more servers
# join at once under one name: one gets it, the other is refused (its claim
# is not taken for a retry of the first), and joins under another name.
# A join refused at a later member first withdraws the claims it took.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my ($n1, $n2, $n3, $n4, $n5, $n6) = map { mmr_node("n$_") } 1 .. 6;
my @nodes = ($n1, $n2, $n3, $n4);

# A group of two, n1 and n2, with a table.
$n1->safe_psql('postgres',
	"CREATE EXTENSION mmr; CREATE TABLE t (id integer PRIMARY KEY, origin text); "
	  . "SELECT mmr.group_create('n1', \$\$" . $n1->connstr('postgres') . "\$\$)");
mmr_join_with_copy($n2, $n1);
mmr_wait_until($n1, "SELECT count(*) = 2 FROM mmr.nodes WHERE status = 'ready'");
$n3->safe_psql('postgres', 'CREATE EXTENSION mmr');
$n4->safe_psql('postgres', 'CREATE EXTENSION mmr');

# A join refused at its second member withdraws the claim it took at the
# first, so that it holds no other join off (a claim of a join in
# progress, "ghost", is planted on n2).
$n2->safe_psql('postgres',
	"INSERT INTO mmr.node_id_claim (node_id, node_name, joiner) VALUES (9, 'ghost', '0:0')");
my ($rc, $out, $err) = $n3->psql('postgres',
	"SELECT mmr.group_join('n3', \$\$" . $n3->connstr('postgres') . "\$\$, \$\$"
	  . $n1->connstr('postgres') . "\$\$)");
like($err, qr/ERROR:  node "ghost" is joining the group.*seen on "n2"/s,
	'a join in progress on the second member refuses the join');
is($n1->safe_psql('postgres', "SELECT count(*) FROM mmr.node_id_claim WHERE node_name = 'n3'"),
	'0', 'and its claim on the first member is withdrawn');
$n2->safe_psql('postgres', "DELETE FROM mmr.node_id_claim WHERE node_name = 'ghost'");

# Hold the claims on n1, the first member every join consults, so that the
# joins given have read their join node's group (and picked the same id)
# before either claims; then let them go and sort them into won and lost.
sub start_join
{
	my ($node, $via, $name) = @_;
	my ($out, $err) = ('', '');
	my $sql = "SELECT mmr.group_join('$name', \$\$" . $node->connstr('postgres')
	  . "\$\$, \$\$" . $via->connstr('postgres') . "\$\$)";
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return { node => $node, handle => $h, err => \$err };
}

sub joins_at_once
{
	my @wanted = @_;
	my ($hold_in, $hold_out, $hold_err) = ('', '', '');
	my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	my $holder = IPC::Run::start(
		[ 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', $n1->connstr('postgres') ],
		'<', \$hold_in, '>', \$hold_out, '2>', \$hold_err, $timer);
	$hold_in = "BEGIN;\nLOCK TABLE mmr.node_id_claim IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n";
	$holder->pump until $hold_out =~ /locked/ || $timer->is_expired;
	like($hold_out, qr/locked/, "n1's claims are held");

	my @joins = map { start_join(@$_) } @wanted;
	mmr_wait_until($n1,
		"SELECT count(*) = 2 FROM pg_locks WHERE relation = 'mmr.node_id_claim'::regclass AND NOT granted");
	pass('both joins wait for their claim on n1');
	$hold_in .= "COMMIT;\n";
	$holder->finish;

	my (@won, @lost);
	for my $j (@joins)
	{
		$j->{handle}->finish;
		if ($j->{handle}->result == 0) { push @won, $j } else { push @lost, $j }
	}
	is(scalar(@won), 1, 'one of the two joins went on');
	is(scalar(@lost), 1, 'the other was refused');
	return ($won[0], $lost[0]);
}

my ($won, $lost) = joins_at_once([ $n3, $n1, 'n3' ], [ $n4, $n2, 'n4' ]);
my ($winner, $loser) = ($won->{node}, $lost->{node});
my $winner_name = $winner->name;
like(${ $lost->{err} }, qr/ERROR:  node "$winner_name" is joining the group/,
	'the refusal names the join in progress');
like(${ $lost->{err} }, qr/HINT:  Retry once it is ready/, 'and says what to do');
is($loser->safe_psql('postgres', 'SELECT count(*) FROM mmr.local_node'), '0',
	'the refused node is not in a group');

$winner->safe_psql('postgres', "SELECT mmr.wait_for_join('150 s')");
mmr_wait_until($_, "SELECT count(*) = 3 FROM mmr.nodes WHERE status = 'ready'") for ($n1, $n2, $winner);

# The retry, through the same member as before, now knows the winner.
my $via = $loser == $n3 ? $n1 : $n2;
$loser->safe_psql('postgres',
	"SELECT mmr.group_join('" . $loser->name . "', \$\$" . $loser->connstr('postgres')
	  . "\$\$, \$\$" . $via->connstr('postgres') . "\$\$)");
$loser->safe_psql('postgres', "SELECT mmr.wait_for_join('150 s')");
pass('the refused join succeeds on retry');

for my $node (@nodes)
{
	mmr_wait_until($node, "SELECT count(*) = 4 FROM mmr.nodes WHERE status = 'ready'");
	mmr_wait_until($node, "SELECT count(*) = 3 FROM mmr.replication_status WHERE state = 'streaming'");
	is($node->safe_psql('postgres', "SELECT string_agg(node_id::text, ',' ORDER BY node_id) FROM mmr.nodes"),
		'1,2,3,4', $node->name . ': four nodes with different ids');
}
is($winner->safe_psql('postgres', 'SELECT node_id FROM mmr.nodes WHERE is_local'), '3',
	'the first join got id 3');
is($loser->safe_psql('postgres', 'SELECT node_id FROM mmr.nodes WHERE is_local'), '4',
	'the retried join got id 4');

my $id = 10000;
for my $node (@nodes)
{
	$id++;
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($id, '" . $node->name . "')");
}
mmr_wait_until($_, "SELECT count(*) = 4 FROM t WHERE id > 10000") for @nodes;
pass('writes on every node reach every node');

# Two more servers join at once under the same name, through different
# members: the second claim of "x" comes from another database, so it is
# a join in progress, not a retry, and is refused.
$_->safe_psql('postgres', 'CREATE EXTENSION mmr') for ($n5, $n6);
($won, $lost) = joins_at_once([ $n5, $n1, 'x' ], [ $n6, $n2, 'x' ]);
like(${ $lost->{err} }, qr/ERROR:  node "x" is joining the group/,
	'a second join under one name is refused');
is($lost->{node}->safe_psql('postgres', 'SELECT count(*) FROM mmr.local_node'), '0',
	'the refused node is not in a group');
$won->{node}->safe_psql('postgres', "SELECT mmr.wait_for_join('150 s')");
$lost->{node}->safe_psql('postgres',
	"SELECT mmr.group_join('y', \$\$" . $lost->{node}->connstr('postgres')
	  . "\$\$, \$\$" . $n1->connstr('postgres') . "\$\$)");
$lost->{node}->safe_psql('postgres', "SELECT mmr.wait_for_join('150 s')");
for my $node (@nodes, $n5, $n6)
{
	mmr_wait_until($node, "SELECT count(*) = 6 FROM mmr.nodes WHERE status = 'ready'");
	is($node->safe_psql('postgres', "SELECT string_agg(node_name || ':' || node_id, ',' ORDER BY node_id) FROM mmr.nodes"),
		'n1:1,n2:2,' . $winner->name . ':3,' . $loser->name . ':4,x:5,y:6',
		$node->name . ': one node "x" and one "y", with their own ids');
}
$won->{node}->safe_psql('postgres', "INSERT INTO t VALUES (20001, 'x')");
mmr_wait_until($_, "SELECT count(*) = 1 FROM t WHERE id = 20001") for (@nodes, $lost->{node});
pass('writes of "x" reach every node');

done_testing();
