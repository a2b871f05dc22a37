# The built-in resolvers keep_local, apply_remote and error, set per table
# with mmr.set_conflict_resolver (replicated).  error stops apply from the
# peer (state error, the conflict in last_error and logged once however
# often apply retries), loses nothing, and apply goes on once the resolver
# is changed.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my ($a, $b) = ct_group(q{
	CREATE TABLE r_keep (id integer PRIMARY KEY, v text);
	CREATE TABLE r_remote (id integer PRIMARY KEY, v text);
	CREATE TABLE r_err (id integer PRIMARY KEY, v text);
	CREATE TABLE r_after (id integer PRIMARY KEY, v text);
});

# Set on a, the settings reach b.
ct_sql($a, q{SELECT mmr.set_conflict_resolver('r_keep', 'keep_local')});
ct_sql($a, q{SELECT mmr.set_conflict_resolver('r_remote', 'apply_remote')});
ct_sql($a, q{SELECT mmr.set_conflict_resolver('r_err', 'error')});
mmr_wait_caught_up($a);
is( ct_sql($b, q{SELECT string_agg(relation_name || '=' || resolver, ' ' ORDER BY relation_name)
                 FROM mmr.conflict_resolver}),
	'r_err=error r_keep=keep_local r_remote=apply_remote', 'resolver settings replicated to b');

sub v_of
{
	my ($node, $table) = @_;
	return ct_sql($node, "SELECT string_agg(v, ',' ORDER BY id) FROM $table");
}

# keep_local: each node keeps its own row, whatever the times say.
my ($la, $lb) = ct_round($a, $b, 'r_keep',
	q{INSERT INTO r_keep VALUES (1, 'a')}, q{INSERT INTO r_keep VALUES (1, 'b')});
is(v_of($a, 'r_keep') . ' ' . v_of($b, 'r_keep'), 'a b', 'keep_local: each node kept its row');
is($la, 'insert_exists keep_local keep_local a<-b key={"id": 1} local=a resolved=a',
	'keep_local logged on a');
is($lb, 'insert_exists keep_local keep_local b<-a key={"id": 1} local=b resolved=b',
	'keep_local logged on b');

# apply_remote: each node takes the other's row.
($la, $lb) = ct_round($a, $b, 'r_remote',
	q{INSERT INTO r_remote VALUES (1, 'a')}, q{INSERT INTO r_remote VALUES (1, 'b')});
is(v_of($a, 'r_remote') . ' ' . v_of($b, 'r_remote'), 'b a', 'apply_remote: each node took the other\'s row');
is($la, 'insert_exists apply_remote apply_remote a<-b key={"id": 1} local=a resolved=b',
	'apply_remote logged on a');
is($lb, 'insert_exists apply_remote apply_remote b<-a key={"id": 1} local=b resolved=a',
	'apply_remote logged on b');

# error: both nodes stop applying from the other at the conflict.  What
# each wrote after it (r_after) waits, it is not lost.
my ($ca, $cb) = (ct_last_conflict_id($a), ct_last_conflict_id($b));
ct_pause_both($a, $b);
ct_sql($a, q{INSERT INTO r_err VALUES (1, 'a')});
ct_sql($a, q{INSERT INTO r_after VALUES (1, 'after a')});
ct_sql($b, q{INSERT INTO r_err VALUES (1, 'b')});
ct_sql($b, q{INSERT INTO r_after VALUES (2, 'after b')});
ct_sql($_, 'SELECT mmr.apply_resume()') for ($a, $b);

for my $node ($a, $b)
{
	mmr_wait_until($node, q{SELECT state = 'error' FROM mmr.replication_status});
	like(ct_status($node),
		qr/^error conflict insert_exists on table "public\.r_err" is resolved as error/,
		'error resolver: apply on ' . $node->name . ' stopped with the conflict in last_error');

	# Apply retries; wait for one more failure, then count the log rows.
	my $first = ct_sql($node, q{SELECT last_error_at FROM mmr.replication_status});
	mmr_wait_until($node,
		"SELECT last_error_at > '$first' FROM mmr.replication_status");
}
is(ct_conflicts_since($a, $ca, 'r_err'), 'insert_exists error error a<-b key={"id": 1} local=a resolved=',
	'the error resolution is logged once on a, however often apply retried');
is(ct_conflicts_since($b, $cb, 'r_err'), 'insert_exists error error b<-a key={"id": 1} local=b resolved=',
	'and once on b');
is(v_of($a, 'r_after') . ' ' . v_of($b, 'r_after'), 'after a after b',
	'nothing after the conflict was applied');

# The resolver is changed on each node (apply from the other is stopped, so
# the setting cannot arrive by replication first): apply goes on.
ct_sql($_, q{SELECT mmr.set_conflict_resolver('r_err', 'last_update_wins')}) for ($a, $b);
for my $node ($a, $b)
{
	mmr_wait_until($node, q{SELECT state = 'streaming' FROM mmr.replication_status});
}
mmr_wait_caught_up($_) for ($a, $b);
is(v_of($a, 'r_err') . ' ' . v_of($b, 'r_err'), 'b b', 'after the change both converge on the later row');
is(v_of($a, 'r_after') . ' ' . v_of($b, 'r_after'), 'after a,after b after a,after b',
	'and what waited behind the conflict arrived: nothing lost');
is( ct_conflicts_since($a, $ca, 'r_err'),
	"insert_exists error error a<-b key={\"id\": 1} local=a resolved=\n"
	  . 'insert_exists apply_remote last_update_wins a<-b key={"id": 1} local=a resolved=b',
	'a logged the resolution that let apply go on');
is( ct_sql($a, q{SELECT resolver FROM mmr.conflict_resolver WHERE relation_name = 'r_err'}) . ' '
	  . ct_sql($b, q{SELECT resolver FROM mmr.conflict_resolver WHERE relation_name = 'r_err'}),
	'last_update_wins last_update_wins', 'the concurrent resolver settings converged too');

done_testing();
