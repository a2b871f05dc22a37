# Crash safety (SPEC 7): while a stream of 20,000 single-row transactions
# replicates, kill -9 the receiving node, the sending node, or only the
# receiver's apply worker (SIGKILL: crash restart of the node; SIGTERM: the
# worker alone).  Afterwards the receiver holds exactly the rows that
# committed on the origin: none lost, none applied twice.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $ROWS = 20000;          # transactions per scenario
my $KILL_AFTER = 2000;     # rows the receiver must have before the kill

my $node_a = mmr_node('A');
my $node_b = mmr_node('B');

# Each scenario k writes ids k*1e6+1 .. from its own sequence on its origin
# node, so no two scenarios (and no two nodes) ever write the same key: any
# conflict would mean a transaction was applied twice.
for my $node ($node_a, $node_b)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE t (id integer PRIMARY KEY, v text);
		CREATE SEQUENCE seq1 START 1000001;
		CREATE SEQUENCE seq2 START 2000001;
		CREATE SEQUENCE seq3 START 3000001;
		CREATE SEQUENCE seq4 START 4000001;
		CREATE SEQUENCE seq5 START 5000001;
	});
}
mmr_two_node_group($node_a, $node_b);

sub range_of
{
	my ($k) = @_;
	return ($k * 1000000 + 1, $k * 1000000 + 999999);
}

# start_load(ORIGIN, K): pgbench in the background, $ROWS transactions of
# one INSERT each.  Returns the IPC::Run handle and refs to its output.
sub start_load
{
	my ($node, $k) = @_;
	my $script = $node->basedir . "/load$k.sql";
	open my $fh, '>', $script or die "could not write $script: $!";
	print $fh "INSERT INTO t (id, v) SELECT n, 's$k-' || n || '-' || md5(random()::text) "
	  . "FROM nextval('seq$k') AS n;\n";
	close $fh;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '1', '-t', $ROWS, '-f', $script,
			$node->connstr('postgres')
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($h, \$out, \$err);
}

# finish_load(HANDLE): waits for pgbench; returns its exit status.
sub finish_load
{
	my ($h) = @_;
	eval { $h->finish; };
	if ($@)
	{
		$h->kill_kill;
		die "pgbench did not finish: $@";
	}
	return $h->result(0);
}

# Counts and digest of scenario K's rows (and of the whole table).
sub digest
{
	my ($node, $k) = @_;
	my ($lo, $hi) = defined $k ? range_of($k) : (0, 2147483647);
	return $node->safe_psql('postgres', qq{
		SELECT count(*), count(DISTINCT id), coalesce(min(id), 0), coalesce(max(id), 0),
		       coalesce(md5(string_agg(id::text || ':' || v, ',' ORDER BY id)), '')
		  FROM t WHERE id BETWEEN $lo AND $hi});
}

sub count_rows
{
	my ($node, $k) = @_;
	my ($lo, $hi) = range_of($k);
	return $node->safe_psql('postgres', "SELECT count(*) FROM t WHERE id BETWEEN $lo AND $hi");
}

sub apply_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mmr apply'");
}

# check_converged(ORIGIN, RECEIVER, K, NAME): the receiver has exactly the
# origin's rows, and nobody logged a conflict (a transaction applied twice
# would be an insert_exists conflict: keys never collide in this test).
sub check_converged
{
	my ($origin, $receiver, $k, $name) = @_;
	my ($lo) = range_of($k);
	my $want = digest($origin, $k);
	my ($count, $distinct, $min, $max) = split /\|/, $want;
	cmp_ok($count, '>', 0, "$name: origin has rows");
	is($distinct, $count, "$name: origin ids are distinct");
	is(digest($receiver, $k), $want,
		"$name: receiver has exactly the origin's rows (count|distinct|min|max|md5)");
	is( $receiver->safe_psql('postgres', qq{
			SELECT count(*) FROM generate_series($min, $max) g
			 WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = g)}),
		$origin->safe_psql('postgres', qq{
			SELECT count(*) FROM generate_series($min, $max) g
			 WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = g)}),
		"$name: receiver misses no id the origin has");
	is(digest($receiver), digest($origin), "$name: whole table identical on both nodes");
	for my $node ($origin, $receiver)
	{
		is($node->safe_psql('postgres', 'SELECT count(*) FROM mmr.conflict_history'),
			'0', "$name: no conflict logged on " . $node->name . " (nothing applied twice)");
	}
	for my $node ($origin, $receiver)
	{
		mmr_wait_until($node,
			"SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'");
	}
	pass("$name: both directions streaming again");
	return;
}

###
### a) kill -9 of the receiving node's postmaster (A writes, B receives)
###
{
	my $name = 'receiver postmaster kill -9';
	my ($lo, $hi) = range_of(1);
	my ($h, $out, $err) = start_load($node_a, 1);
	mmr_wait_until($node_b,
		"SELECT count(*) >= $KILL_AFTER FROM t WHERE id BETWEEN $lo AND $hi");
	$node_b->kill9;
	my $origin_at_kill = count_rows($node_a, 1);
	cmp_ok($origin_at_kill, '<', $ROWS, "$name: load still running when B was killed");

	mmr_wait_for_orphans($node_b);
	$node_b->start;
	is(finish_load($h), 0, "$name: load on A completed")
	  or diag("pgbench stdout:\n$$out\nstderr:\n$$err");
	is(count_rows($node_a, 1), $ROWS, "$name: all $ROWS transactions committed on A");
	mmr_wait_caught_up($node_a);
	check_converged($node_a, $node_b, 1, $name);
}

###
### b) kill -9 of the sending node's postmaster (B writes, A receives); the
###    load client fails with it.
###
{
	my $name = 'sender postmaster kill -9';
	my ($lo, $hi) = range_of(2);
	my ($h, $out, $err) = start_load($node_b, 2);
	mmr_wait_until($node_a,
		"SELECT count(*) >= $KILL_AFTER FROM t WHERE id BETWEEN $lo AND $hi");
	$node_b->kill9;
	isnt(finish_load($h), 0, "$name: the load client failed with its server");

	mmr_wait_for_orphans($node_b);
	$node_b->start;
	my $committed = count_rows($node_b, 2);
	cmp_ok($committed, '<', $ROWS, "$name: B was killed mid-stream ($committed committed)");
	cmp_ok($committed, '>=', $KILL_AFTER, "$name: B kept what A had already received");
	# pgbench counts the transactions whose COMMIT the server acknowledged.
	if ($$out =~ m{number of transactions actually processed: (\d+)/})
	{
		cmp_ok($committed, '>=', $1,
			"$name: every acknowledged commit survived the crash on B");
	}
	mmr_wait_caught_up($node_b);
	check_converged($node_b, $node_a, 2, $name);
}

###
### c1) SIGKILL of the receiver's apply worker (A writes, B receives): the
###     postmaster of B restarts all its backends (crash recovery).
###
{
	my $name = 'apply worker SIGKILL';
	my ($lo, $hi) = range_of(3);
	my $log_offset = -s $node_b->logfile;
	my ($h, $out, $err) = start_load($node_a, 3);
	mmr_wait_until($node_b,
		"SELECT count(*) >= $KILL_AFTER FROM t WHERE id BETWEEN $lo AND $hi");
	my $pid = apply_pid($node_b);
	like($pid, qr/^\d+$/, "$name: one apply worker on B");
	ok(kill('KILL', $pid), "$name: sent SIGKILL to B's apply worker $pid");
	my $origin_at_kill = count_rows($node_a, 3);
	cmp_ok($origin_at_kill, '<', $ROWS, "$name: load still running at the kill");

	# poll_query_until retries while B is in crash recovery.
	mmr_wait_until($node_b,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mmr apply' AND pid <> $pid");
	ok($node_b->log_contains(qr/terminated by signal 9/, $log_offset),
		"$name: B went through crash recovery");
	is(finish_load($h), 0, "$name: load on A completed")
	  or diag("pgbench stdout:\n$$out\nstderr:\n$$err");
	mmr_wait_caught_up($node_a);
	check_converged($node_a, $node_b, 3, $name);
}

###
### c2) SIGTERM of the receiver's apply worker alone (B writes, A receives):
###     the manager restarts it, no crash recovery.
###
{
	my $name = 'apply worker SIGTERM';
	my ($lo, $hi) = range_of(4);
	my $log_offset = -s $node_a->logfile;
	my ($h, $out, $err) = start_load($node_b, 4);
	mmr_wait_until($node_a,
		"SELECT count(*) >= $KILL_AFTER FROM t WHERE id BETWEEN $lo AND $hi");
	my $pid = apply_pid($node_a);
	like($pid, qr/^\d+$/, "$name: one apply worker on A");
	ok(kill('TERM', $pid), "$name: sent SIGTERM to A's apply worker $pid");
	my $origin_at_kill = count_rows($node_b, 4);
	cmp_ok($origin_at_kill, '<', $ROWS, "$name: load still running at the kill");

	mmr_wait_until($node_a,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mmr apply' AND pid <> $pid");
	ok(!$node_a->log_contains(qr/terminating any other active server processes/, $log_offset),
		"$name: no crash recovery on A");
	is(finish_load($h), 0, "$name: load on B completed")
	  or diag("pgbench stdout:\n$$out\nstderr:\n$$err");
	mmr_wait_caught_up($node_b);
	check_converged($node_b, $node_a, 4, $name);
}

###
### c3) SIGTERM of the receiver's manager (A writes, B receives): the
###     supervisor starts a new manager, which stops the apply worker the old
###     one left running and starts its own: exactly one worker, streaming.
###
{
	my $name = 'manager SIGTERM';
	my ($lo, $hi) = range_of(5);
	my $log_offset = -s $node_b->logfile;
	my ($h, $out, $err) = start_load($node_a, 5);
	mmr_wait_until($node_b,
		"SELECT count(*) >= $KILL_AFTER FROM t WHERE id BETWEEN $lo AND $hi");
	my $manager = $node_b->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mmr manager'");
	like($manager, qr/^\d+$/, "$name: one manager on B");
	my $old_apply = apply_pid($node_b);
	ok(kill('TERM', $manager), "$name: sent SIGTERM to B's manager $manager");

	mmr_wait_until($node_b,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mmr manager' AND pid <> $manager");
	mmr_wait_until($node_b,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mmr apply' AND pid <> $old_apply");
	is(finish_load($h), 0, "$name: load on A completed")
	  or diag("pgbench stdout:\n$$out\nstderr:\n$$err");
	mmr_wait_caught_up($node_a);
	check_converged($node_a, $node_b, 5, $name);
	is($node_b->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mmr apply'"),
		'1', "$name: one apply worker on B");
	ok($node_b->poll_query_until('postgres',
		"SELECT state = 'streaming' FROM mmr.replication_status"), "$name: B streams from A");
	ok(!$node_b->log_contains(qr/is already active for PID/, $log_offset),
		"$name: no worker met the orphan's busy origin");
}

$node_a->stop;
$node_b->stop;

done_testing();
