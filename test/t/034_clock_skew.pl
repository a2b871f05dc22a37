# Clock skew (SPEC 3 mmr.max_clock_skew / mmr.clock_skew_action,
# docs/conflicts.md): node a's sessions run 10 s ahead of node b
# (libfaketime), so a's commits carry times 10 s ahead of b's clock.
# (libfaketime fakes the backends of a postmaster started under it, not
# reliably its background workers, so the clock that is shifted is the one
# of the node that writes, not of the node that applies.)
#
# warn (the default): a causal chain a -> b -> a converges and logs no
# conflict, although b's commit times are earlier than a's (causality comes
# from the horizons, not the clocks); b warns about the skew.
# wait: b waits until its clock has passed a's commit time before applying,
# so b's next write commits later than a's.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my $faketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
-e $faketime or die "$faketime is missing (scripts/setup.sh installs libfaketime)";

my ($a, $b) = ct_group($MmrConflictTest::TABLE_T);

# a's sessions 10 s ahead: its postmaster runs under libfaketime.  The
# monotonic clock stays real.
{
	local $ENV{LD_PRELOAD} = $faketime;
	local $ENV{FAKETIME} = '+10s';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	$a->restart;
}
for my $node ($a, $b)
{
	mmr_wait_until($node,
		"SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'");
}
my $a_now = ct_sql($a, 'SELECT extract(epoch FROM clock_timestamp())');
my $b_now = ct_sql($b, 'SELECT extract(epoch FROM clock_timestamp())');
cmp_ok($a_now - $b_now, '>', 8, sprintf("a's sessions run %.1f s ahead of b", $a_now - $b_now));

my $commit_ts = 'SELECT pg_xact_commit_timestamp(xmin) FROM t WHERE id = 1';

# --- warn: a causal chain converges without conflicts ---------------------------
# Waits look at the rows, not at wait_slot_confirm_lsn: the walsender of a
# faked node is slow to confirm (its timers see the shifted clock).
ct_sql($a, "INSERT INTO t VALUES (1, 'x', 'a1')");
mmr_wait_until($b, "SELECT v = 'a1' FROM t WHERE id = 1");
my $a1_ts = ct_sql($a, $commit_ts);
ct_sql($b, "UPDATE t SET v = 'b1' WHERE id = 1");
mmr_wait_until($a, "SELECT v = 'b1' FROM t WHERE id = 1");
is(ct_sql($b, "SELECT pg_xact_commit_timestamp(xmin) < '$a1_ts' FROM t WHERE id = 1"),
	't', "warn: b's update, made after seeing a's insert, has an earlier commit time")
  or diag("a's insert committed at $a1_ts, b's update at " . ct_sql($b, $commit_ts));
ct_sql($a, "UPDATE t SET v = 'a2' WHERE id = 1");
mmr_wait_until($b, "SELECT v = 'a2' FROM t WHERE id = 1");
is(ct_rows($a), '1,x,a2', 'warn: a has the last write of the chain');
is(ct_rows($b), '1,x,a2', 'warn: b has the last write of the chain');
is(ct_sql($_, 'SELECT count(*) FROM mmr.conflict_log'), '0',
	$_->name . ': the causal chain logged no conflict') for ($a, $b);
ok($b->log_contains(qr/WARNING:  commit time of peer "a" is \d+\.\d+ s ahead of the local clock/),
	'b warned about the skew');

# --- wait: apply waits until b's clock passed a's commit time -------------------
ct_sql($b, "ALTER SYSTEM SET mmr.clock_skew_action = 'wait'");
ct_sql($b, 'SELECT pg_reload_conf()');
mmr_wait_until($b, "SELECT current_setting('mmr.clock_skew_action') = 'wait'");
ct_sql($a, "UPDATE t SET v = 'a3' WHERE id = 1");
my $a3_ts = ct_sql($a, $commit_ts);
mmr_wait_until($b, "SELECT v = 'a3' FROM t WHERE id = 1");
ct_sql($b, "UPDATE t SET v = 'b3' WHERE id = 1");
is(ct_sql($b, "SELECT pg_xact_commit_timestamp(xmin) > '$a3_ts' FROM t WHERE id = 1"),
	't', "wait: b's update after applying a's commits later than it");
mmr_wait_until($a, "SELECT v = 'b3' FROM t WHERE id = 1");
is(ct_rows($a), '1,x,b3', 'wait: a has b\'s later write');
is(ct_rows($b), '1,x,b3', 'wait: b has its own write');
is(ct_sql($_, 'SELECT count(*) FROM mmr.conflict_log'), '0',
	$_->name . ': still no conflict logged') for ($a, $b);

done_testing();
