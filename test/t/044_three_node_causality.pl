# The three-node causality cases of SPEC 5 on real clusters, made
# deterministic by pausing single links (mmr.apply_pause(peer_name)): a
# change that reaches n3 before the change it depends on, because it came
# from n2 while n3's link from n1 was paused; and UPDATE against DELETE
# between n1 and n2, seen by n3 in both orders.  Every case ends with the
# same rows on all three nodes and the conflict log rows that SPEC 5 and
# docs/conflicts.md prescribe, on each node.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my @nodes = ct_three_node_group($MmrConflictTest::TABLE_T);
my ($n1, $n2, $n3) = @nodes;

# The last conflict id of every node, and what each logged since.
sub marks { return map { ct_last_conflict_id($_) } @nodes }

sub logs_since
{
	my @marks = @_;
	return map { ct_conflicts_since($nodes[$_], $marks[$_], 't') } 0 .. 2;
}

# Every node's changes applied everywhere, and the rows alike.
sub settle_and_compare
{
	my ($what) = @_;
	mmr_wait_caught_up($_) for @nodes;
	my $rows = ct_rows($n1);
	is(ct_rows($_), $rows, "$what: " . $_->name . ' has the rows of n1') for ($n2, $n3);
	return $rows;
}

sub key { my ($id) = @_; return qq(key={"id": $id}) }

# n3 pauses its link from n1; n1 inserts row ID; n2 applies it and runs
# N2_SQL, which n1 and n3 apply.
sub n2_follows_n1_unseen_by_n3
{
	my ($id, $n2_sql) = @_;
	ct_pause_link($n3, 'n1');
	ct_sql($n1, "INSERT INTO t VALUES ($id, NULL, 'n1')");
	ct_wait_applied($n1, 'n2');
	ct_sql($n2, $n2_sql);
	ct_wait_applied($n2, 'n1', 'n3');
	return;
}

# Then n3 resumes its link from n1: the rows must be ROWS everywhere, n1
# and n2 must have logged nothing (a causal chain), n3 N3_LOG.
sub n3_resumes
{
	my ($what, $marks, $rows, $n3_log, $msg) = @_;
	ct_resume_link($n3, 'n1');
	is(settle_and_compare($what), $rows, "$what $msg");
	is_deeply([ logs_since(@$marks) ], [ '', '', $n3_log ],
		"$what the conflict logs: none on n1 and n2, on n3 as SPEC 5 prescribes");
	return;
}

# "peer:streaming peer:streaming" for a node's two peers.
sub streaming_from_peers
{
	my ($node) = @_;
	return join(' ', map { "$_:streaming" } grep { $_ ne $node->name } qw(n1 n2 n3));
}

### Pausing one link.

ct_pause_link($n3, 'n1');
is(ct_link_states($n3), 'n1:paused n2:streaming', 'n3 pauses its link from n1 only');
is(ct_link_states($_), streaming_from_peers($_), $_->name . ' still streams from both peers')
  for ($n1, $n2);

for my $bad ('nobody', 'n3')
{
	my ($ret, $out, $err) = $n3->psql('postgres', "SELECT mmr.apply_pause('$bad')");
	like($err, qr/ERROR:  node "$bad" is not a peer of this node/,
		"apply_pause('$bad') is refused on n3");
	($ret, $out, $err) = $n3->psql('postgres', "SELECT mmr.apply_resume('$bad')");
	like($err, qr/ERROR:  node "$bad" is not a peer of this node/,
		"apply_resume('$bad') is refused on n3");
}
is(ct_link_states($n3), 'n1:paused n2:streaming', 'the refused calls changed nothing');

# The pause lives in the manager's shared slot: a restarted apply worker
# comes back paused.
my $old_pid = ct_sql($n3, q{SELECT worker_pid FROM mmr.replication_status WHERE peer_name = 'n1'});
ct_sql($n3, "SELECT pg_terminate_backend($old_pid)");
mmr_wait_until($n3, qq{SELECT state = 'paused' AND worker_pid <> $old_pid
	FROM mmr.replication_status WHERE peer_name = 'n1'});
pass('the restarted apply worker from n1 is paused again');


### a) n1 inserts, n2 updates after applying it; n3 gets the UPDATE first.

my @m = marks();
n2_follows_n1_unseen_by_n3(1, q{UPDATE t SET v = 'n2' WHERE id = 1});
is(ct_sql($n3, 'SELECT v FROM t WHERE id = 1'), 'n2', 'a) n3 stored the early UPDATE as an insert');
n3_resumes('a)', \@m, '1,,n2',
	"update_missing apply_remote last_update_wins <-n2 @{[key(1)]} local= resolved=n2\n"
	  . "insert_exists keep_local last_update_wins n2<-n1 @{[key(1)]} local=n2 resolved=n2",
	'the late INSERT did not overwrite the newer row');

### b) the same with a DELETE: the late INSERT must not resurrect the row.

@m = marks();
n2_follows_n1_unseen_by_n3(2, q{DELETE FROM t WHERE id = 2});
n3_resumes('b)', \@m, '1,,n2',
	"delete_missing skip last_update_wins <-n2 @{[key(2)]} local= resolved=\n"
	  . "insert_deleted skip last_update_wins n2<-n1 @{[key(2)]} local= resolved=",
	'row 2 is gone everywhere (no resurrection)');

### c) a late old INSERT after n3's own DELETE of the row.

@m = marks();
n2_follows_n1_unseen_by_n3(3, q{UPDATE t SET v = 'n2' WHERE id = 3});
ct_sql($n3, q{DELETE FROM t WHERE id = 3});
ct_wait_applied($n3, 'n1', 'n2');
n3_resumes('c)', \@m, '1,,n2',
	"update_missing apply_remote last_update_wins <-n2 @{[key(3)]} local= resolved=n2\n"
	  . "insert_deleted skip last_update_wins n3<-n1 @{[key(3)]} local= resolved=",
	'row 3 stays deleted everywhere');

### d) n1 UPDATEs while n2 DELETEs (neither has seen the other); n3 sees
### them in both orders, with either one later.

my $id = 10;
for my $later ('delete', 'update')
{
	for my $n3_first ('n1', 'n2')
	{
		my $what = "d) $later later, n3 sees $n3_first first";
		my $second = $n3_first eq 'n1' ? 'n2' : 'n1';

		ct_sql($n1, "INSERT INTO t VALUES ($id, NULL, 'orig')");
		mmr_wait_caught_up($n1);
		@m = marks();
		ct_pause_link($n1, 'n2');
		ct_pause_link($n2, 'n1');
		ct_pause_link($n3, $second);
		my @writes = ([ $n1, "UPDATE t SET v = 'n1' WHERE id = $id" ],
			[ $n2, "DELETE FROM t WHERE id = $id" ]);
		@writes = reverse @writes if $later eq 'update';
		ct_sql($_->[0], $_->[1]) for @writes;
		ct_wait_applied($n3_first eq 'n1' ? $n1 : $n2, 'n3');
		ct_resume_link($n3, $second);
		ct_wait_applied($second eq 'n1' ? $n1 : $n2, 'n3');
		ct_resume_link($n1, 'n2');
		ct_resume_link($n2, 'n1');

		my $rows = settle_and_compare($what);
		my ($on_n1, $on_n2) = $later eq 'delete' ?
		  ("delete_origin_differs apply_remote last_update_wins n1<-n2 @{[key($id)]} local=n1 resolved=",
			"update_deleted skip last_update_wins n2<-n1 @{[key($id)]} local= resolved=") :
		  ("delete_origin_differs keep_local last_update_wins n1<-n2 @{[key($id)]} local=n1 resolved=n1",
			"update_deleted apply_remote last_update_wins n2<-n1 @{[key($id)]} local= resolved=n1");
		is(ct_sql($n1, "SELECT count(*) FROM t WHERE id = $id"), $later eq 'delete' ? '0' : '1',
			"$what: the later change decided the row");
		# n3 meets the conflict the node whose change it saw first met.
		is_deeply([ logs_since(@m) ], [ $on_n1, $on_n2, $n3_first eq 'n1' ? $on_n1 : $on_n2 ],
			"$what: the conflict log of each node");
		$id++;
	}
}

### All-peers pause: the zero-argument calls behave as before.

ct_pause_link($n3, 'n2');
ct_sql($n3, 'SELECT mmr.apply_pause()');
mmr_wait_until($n3, q{SELECT bool_and(state = 'paused') FROM mmr.replication_status});
my ($ret, $out, $err) = $n3->psql('postgres', q{SELECT mmr.apply_resume('n1')});
like($err, qr/ERROR:  cannot resume peer "n1" alone while apply is paused for every peer/,
	'one peer cannot be resumed out of a pause of every peer');
ct_sql($n3, 'SELECT mmr.apply_resume()');
mmr_wait_until($n3, q{SELECT bool_and(state = 'streaming') FROM mmr.replication_status});
pass('apply_resume() resumed every peer, also the one paused alone');
is(settle_and_compare('in the end'), '1,,n2 12,,n1 13,,n1', 'the rows every case left');
is(ct_link_states($_), streaming_from_peers($_), $_->name . ' streams from both peers in the end')
  for @nodes;

done_testing();
