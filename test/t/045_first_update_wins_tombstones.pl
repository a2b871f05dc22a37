# first_update_wins converges for writes that are pairwise concurrent
# (docs/conflicts.md, "Convergence of the other resolvers"), which needs
# the key's tombstone to hold the delete that wins in the resolver's order,
# not the newest one.  Three nodes, every link paused: n1 deletes row 1,
# then n2 updates it, then n3 deletes it; n3 hears n1's delete before n2's
# update.  The earliest write, n1's delete, must win everywhere: had n3 kept
# its own newer tombstone, n2's update (earlier than it) would have
# brought the row back on n3 alone.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my @nodes = ct_three_node_group($MmrConflictTest::TABLE_T);
my ($n1, $n2, $n3) = @nodes;

ct_sql($n1, q{SELECT mmr.set_conflict_resolver('t', 'first_update_wins')});
ct_sql($n1, q{INSERT INTO t VALUES (1, NULL, 'orig')});
mmr_wait_caught_up($n1);
is(ct_sql($_, q{SELECT count(*) FROM t}), '1', $_->name . ' has the row') for ($n2, $n3);

my %peers = (n1 => [ 'n2', 'n3' ], n2 => [ 'n1', 'n3' ], n3 => [ 'n1', 'n2' ]);
my %by_name = (n1 => $n1, n2 => $n2, n3 => $n3);
my @marks = map { ct_last_conflict_id($_) } @nodes;
for my $node (@nodes)
{
	ct_pause_link($node, $_) for @{ $peers{ $node->name } };
}
ct_sql($n1, q{DELETE FROM t WHERE id = 1});
ct_sql($n2, q{UPDATE t SET v = 'n2' WHERE id = 1});
ct_sql($n3, q{DELETE FROM t WHERE id = 1});

# Each node hears its first peer (in name order) before its second.
for my $node (@nodes)
{
	my ($first, $second) = @{ $peers{ $node->name } };
	ct_resume_link($node, $first);
	ct_wait_applied($by_name{$first}, $node->name);
	ct_resume_link($node, $second);
}
mmr_wait_caught_up($_) for @nodes;

is(ct_sql($_, q{SELECT count(*) FROM t}), '0', $_->name . ': n1\'s earliest delete won')
  for @nodes;

my $key = 'key={"id": 1}';
is_deeply([ map { ct_conflicts_since($nodes[$_], $marks[$_], 't') } 0 .. 2 ], [
		"update_deleted skip first_update_wins n1<-n2 $key local= resolved=\n"
		  . "delete_missing skip first_update_wins n1<-n3 $key local= resolved=",
		"delete_origin_differs apply_remote first_update_wins n2<-n1 $key local=n2 resolved=\n"
		  . "delete_missing skip first_update_wins n1<-n3 $key local= resolved=",
		"delete_missing skip first_update_wins n3<-n1 $key local= resolved=\n"
		  . "update_deleted skip first_update_wins n1<-n2 $key local= resolved=" ],
	'each node logged its conflicts; on n3 the earlier delete replaced its own tombstone');

done_testing();
