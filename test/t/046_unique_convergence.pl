# Concurrent writes of one value into a secondary UNIQUE key (not the
# replica identity), on two and three real nodes, in the interleavings that
# the simulator's unique_skip mode found diverging under SPEC 5's skip rule,
# made deterministic with per-link pauses (docs/conflicts.md, "Unique keys
# other than the replica identity").  Apply claims values against unique
# value registers: every node ends with the rows of a replay of the writes
# in commit time order, and logs the claims that were conflicts.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

### Two nodes.

my ($a, $b) = ct_group($MmrConflictTest::TABLE_T);

# 1. The smallest case: a moves row 1 onto u = w1, b inserts row 2 with
# w1 later.  Replayed in commit time order, row 2 takes w1 from row 1,
# which disappears.
ct_sql($a, q{INSERT INTO t VALUES (1, NULL, 'orig')});
mmr_wait_caught_up($a);
my ($la, $lb) = ct_round($a, $b, 't', q{UPDATE t SET u = 'w1', v = 'a' WHERE id = 1},
	q{INSERT INTO t VALUES (2, 'w1', 'b')});
is(ct_rows($a), '2,w1,b', 'case 1: a deleted row 1, which held w1 before row 2');
is($la, 'insert_exists apply_remote last_update_wins a<-b key={"u": "w1"} local=a resolved=b',
	'case 1: a logged insert_exists on u, apply_remote');
is($lb, 'update_exists keep_local last_update_wins b<-a key={"u": "w1"} local=b resolved=b',
	'case 1: b logged update_exists on u, keep_local');
is(ct_rows($b), ct_rows($a), 'case 1: b deleted row 1 too: both nodes alike');

# 2. A value released before an older claim of it arrives: a moves row 3
# onto w2; b inserts row 4 with w2 later, then releases it.  In commit
# time order row 4 took w2 from row 3, so row 3 is gone; b must remember
# who held w2 last (a register) when a's older update arrives.
ct_sql($a, q{INSERT INTO t VALUES (3, NULL, 'orig')});
mmr_wait_caught_up($a);
($la, $lb) = ct_round($a, $b, 't', q{UPDATE t SET u = 'w2', v = 'a' WHERE id = 3},
	q{INSERT INTO t VALUES (4, 'w2', 'b'); UPDATE t SET u = NULL, v = 'b2' WHERE id = 4});
is(ct_sql($a, 'SELECT format($$%s,%s,%s$$, id, u, v) FROM t WHERE id IN (3, 4) ORDER BY id'),
	'4,,b2', 'case 2: a deleted row 3, then applied the release');
is($la, 'insert_exists apply_remote last_update_wins a<-b key={"u": "w2"} local=a resolved=b',
	'case 2: a logged insert_exists on u, apply_remote');
is(ct_rows($b), ct_rows($a), 'case 2: both nodes alike');
is($lb, 'update_exists keep_local last_update_wins b<-a key={"u": "w2"} local= resolved=',
	'case 2: b logged update_exists against the register of w2, keep_local');
is(ct_status($_), 'streaming -', 'apply on ' . $_->name . ' streams without error') for ($a, $b);
$_->stop for ($a, $b);

### Three nodes.

my @nodes = ct_three_node_group($MmrConflictTest::TABLE_T);
my ($n1, $n2, $n3) = @nodes;
my @marks = map { ct_last_conflict_id($_) } @nodes;

# 3. n3 inserts row 5 with w3; n1 inserts row 6 with w3 later; n2 applies
# n1's insert and releases w3.  In commit time order row 6 took w3 from
# row 5, then let it go: only row 6 stays, without a value.  Then the
# links resume one at a time: n2 hears of row 5 after its release; n3
# hears of n2's update of row 6 (an update_missing, stored as an insert)
# before n1's insert of it; n1 hears of row 5 before n2's release.
ct_pause_link($n1, $_) for qw(n2 n3);
ct_pause_link($n2, 'n3');
ct_pause_link($n3, $_) for qw(n1 n2);
ct_sql($n3, q{INSERT INTO t VALUES (5, 'w3', 'n3')});
ct_sql($n1, q{INSERT INTO t VALUES (6, 'w3', 'n1')});
ct_wait_applied($n1, 'n2');
ct_sql($n2, q{UPDATE t SET u = NULL, v = 'n2' WHERE id = 6});

ct_resume_link($n2, 'n3');
ct_wait_applied($n3, 'n2');
ct_resume_link($n3, 'n2');
ct_wait_applied($n2, 'n3');
ct_resume_link($n3, 'n1');
ct_wait_applied($n1, 'n3');
ct_resume_link($n1, 'n3');
ct_wait_applied($n3, 'n1');
ct_resume_link($n1, 'n2');
mmr_wait_caught_up($_) for @nodes;

my @logs = map { ct_conflicts_since($nodes[$_], $marks[$_], 't') } 0 .. 2;
is(ct_rows($n1), '6,,n2', 'case 3: n1 skipped row 5 (row 6 held w3), then applied the release');
is($logs[0], 'insert_exists keep_local last_update_wins n1<-n3 key={"u": "w3"} local=n1 resolved=n1',
	'case 3: n1 logged insert_exists on u, keep_local');
my $n3_key_log = 'update_missing apply_remote last_update_wins <-n2 key={"id": 6} local= resolved=n2' . "\n"
  . 'insert_exists keep_local last_update_wins n2<-n1 key={"id": 6} local=n2 resolved=n2';
is(ct_rows($_), ct_rows($n1), 'case 3: ' . $_->name . ' has the rows of n1') for ($n2, $n3);
is($logs[1], 'insert_exists keep_local last_update_wins n1<-n3 key={"u": "w3"} local= resolved=',
	'case 3: n2 logged insert_exists against the register of w3 (n1\'s insert), keep_local');
is($logs[2],
	$n3_key_log . "\n"
	  . 'insert_exists apply_remote last_update_wins n3<-n1 key={"u": "w3"} local=n3 resolved=',
	'case 3: n3 logged its key\'s keep_local, then n1\'s insert claiming w3 from row 5');
for my $node (@nodes)
{
	is(ct_sql($node, q{SELECT count(*) FROM mmr.replication_status WHERE state = 'streaming' AND last_error IS NULL}),
		'2', $node->name . ' streams from both peers without error');
}

done_testing();
