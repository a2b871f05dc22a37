# A node that was down catches up (state catching_up, then streaming);
# mmr.apply_pause / mmr.apply_resume hold and release a peer's changes;
# nothing loops back to its origin; mmr.part_node removes a node (SPEC 3,
# 4, 7).
use strict;
use warnings;

use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $node_a = mmr_node('A');
my $node_b = mmr_node('B');
for my $node ($node_a, $node_b)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE t (id integer PRIMARY KEY, v text);
		CREATE SEQUENCE seq;
	});
}
mmr_two_node_group($node_a, $node_b);

my $b_id = $node_b->safe_psql('postgres',
	"SELECT node_id FROM mmr.nodes WHERE node_name = 'B'");
my $a_dboid = $node_a->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
# The slot on A that B consumes, and A's origin for B's changes.
my $a_for_b = "mmr_${a_dboid}_n$b_id";

sub table_digest
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT count(*) || '|' || coalesce(md5(string_agg(id::text || ':' || v, ',' ORDER BY id)), '')
		  FROM t});
}

sub status_of
{
	my ($node, $peer, $columns) = @_;
	return $node->safe_psql('postgres',
		"SELECT $columns FROM mmr.replication_status WHERE peer_name = '$peer'");
}

sub pgbench_file
{
	my ($node, $name, $body) = @_;
	my $file = $node->basedir . "/$name.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $body;
	close $fh;
	return $file;
}

###
### a) B is down while A writes; B catches up when it returns.
###
$node_a->safe_psql('postgres',
	"INSERT INTO t SELECT nextval('seq'), 'before' FROM generate_series(1, 10)");
mmr_wait_caught_up($node_a);
is(table_digest($node_b), table_digest($node_a), 'B has A\'s rows before going down');

$node_b->stop;

# A backlog of many small transactions: inserts, single-row updates and
# deletes, and two bulk statements.
my $ins = pgbench_file($node_a, 'ins',
	"INSERT INTO t SELECT n, 'row ' || n || ' ' || md5(random()::text) FROM nextval('seq') n;\n");
my $upd = pgbench_file($node_a, 'upd',
	"\\set id random(1, 5010)\nUPDATE t SET v = v || ' upd' WHERE id = :id;\n");
my $del = pgbench_file($node_a, 'del',
	"\\set id random(1, 5010)\nDELETE FROM t WHERE id = :id;\n");
$node_a->command_ok([ 'pgbench', '-n', '-c', '1', '-t', '30000', '-f', $ins, 'postgres' ],
	'30,000 inserts on A while B is down');
$node_a->command_ok([ 'pgbench', '-n', '-c', '1', '-t', '2000', '-f', $upd, 'postgres' ],
	'2,000 updates on A while B is down');
$node_a->command_ok([ 'pgbench', '-n', '-c', '1', '-t', '500', '-f', $del, 'postgres' ],
	'500 deletes on A while B is down');
$node_a->safe_psql('postgres', q{
	UPDATE t SET v = upper(v) WHERE id % 10 = 0;
	DELETE FROM t WHERE id % 7 = 0;
});
my $want = table_digest($node_a);
my ($want_count, $want_md5) = split /\|/, $want;
cmp_ok($want_count, '>', 3000, "A holds $want_count rows");

# Record B's view of peer A from the moment B accepts connections: one
# sample every 10 ms until B is streaming with A's exact rows (A is idle
# now, so "B's rows equal A's" means "the backlog is applied").
#
# Whether 'catching_up' itself gets sampled is racy: B's apply worker may
# start before our first connection, and ~32,500 small transactions apply
# in well under a second.  So we assert:
#  - the end state is 'streaming' with A's exact rows;
#  - a catch-up was observed: state 'catching_up' was sampled, OR B was
#    sampled behind A while applied_transactions still grew.  (Not "while
#    lag_bytes > 0": lag_bytes counts from the peer's flush position when
#    the worker connected and from its keepalives, not from its live WAL
#    end, so a sample can read 0 during a catch-up; it is only reported.)
#  - B never says 'streaming' while it still lacks part of the backlog
#    (sampled rows differ from A's).  Not racy: the worker applies in
#    order in one process, so once it has received the backlog present at
#    connect time and switched to 'streaming', every earlier transaction
#    is committed, and A writes nothing meanwhile.
my $sampler = qq{
	CREATE TEMP TABLE samples (i int, at timestamptz, state text, applied bigint,
	                           lag_bytes bigint, nrows bigint, same boolean);
	DO \$\$
	DECLARE
		i int := 0;
		st text; applied bigint; lagb bigint; digest text; n bigint;
		deadline timestamptz := clock_timestamp() + interval '150 s';
	BEGIN
		LOOP
			SELECT s.state, s.applied_transactions, s.lag_bytes INTO st, applied, lagb
			  FROM mmr.replication_status s WHERE s.peer_name = 'A';
			SELECT count(*), count(*) || '|' || coalesce(md5(string_agg(id::text || ':' || v, ',' ORDER BY id)), '')
			  INTO n, digest FROM t;
			INSERT INTO samples VALUES (i, clock_timestamp(), st, applied, lagb, n, digest = '$want');
			EXIT WHEN (st = 'streaming' AND digest = '$want') OR clock_timestamp() > deadline;
			i := i + 1;
			PERFORM pg_sleep(0.01);  -- poll interval of the sampler
		END LOOP;
	END \$\$;
	SELECT (SELECT string_agg(coalesce(state, '(none)'), ',' ORDER BY i)
	          FROM (SELECT i, state, lag(state) OVER (ORDER BY i) AS prev FROM samples) s
	         WHERE i = 0 OR prev IS DISTINCT FROM state),
	       (SELECT state FROM samples ORDER BY i DESC LIMIT 1),
	       (SELECT same FROM samples ORDER BY i DESC LIMIT 1),
	       bool_or(state = 'catching_up'),
	       bool_or(NOT same AND applied < (SELECT max(applied) FROM samples)),
	       bool_or(lag_bytes > 0),
	       count(*),
	       bool_or(NOT same),
	       coalesce((SELECT string_agg(format('sample %s: state %s, %s of $want_count rows, applied_transactions %s, lag_bytes %s',
	                                          i, state, nrows, applied, lag_bytes), '; ' ORDER BY i)
	                   FROM (SELECT * FROM samples WHERE state = 'streaming' AND NOT same ORDER BY i LIMIT 3) x), ''),
	       (SELECT applied FROM samples ORDER BY i LIMIT 1)
	  FROM samples;
};
$node_b->start;
my ($sample_out, $sample_err) = ('', '');
IPC::Run::run(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node_b->connstr('postgres'), '-f', '-' ],
	'<', \$sampler, '>', \$sample_out, '2>', \$sample_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default))
  or diag("sampler failed: $sample_err");
chomp $sample_out;
my ($sequence, $last_state, $last_same, $saw_catching_up, $saw_behind_applying,
	$saw_lag_bytes, $nsamples, $saw_behind, $streaming_behind, $first_applied) = split /\|/, $sample_out;
note "B's states for peer A after restart: $sequence ($nsamples samples; "
  . "catching_up seen: $saw_catching_up; behind A while applying seen: $saw_behind_applying; "
  . "lag_bytes > 0 seen: $saw_lag_bytes)";
is($last_state, 'streaming', 'B ends streaming from A after the catch-up');
is($last_same, 't', 'B caught up with A\'s exact rows');
# (catching_up ends with the COMMIT that reaches the peer's WAL end at
# connect, so a fast catch-up can be over before the first sample: then the
# first sample shows the restarted worker's applied backlog: at least the 5,000
# inserts.)
ok($saw_catching_up eq 't' || $saw_behind_applying eq 't' || ($first_applied // 0) >= 5000,
	'the catch-up was observed (state catching_up, B behind A while applying, or the backlog applied since the restart)')
  or diag("states: $sequence");
is($streaming_behind, '',
	'B never reported streaming while it still lacked the backlog (else catching_up)')
  or diag("states: $sequence");
mmr_wait_caught_up($node_a);
is(table_digest($node_b), $want, 'B has exactly A\'s rows after the catch-up');

###
### b) apply_pause holds A's changes on B; apply_resume releases them.
###
$node_b->safe_psql('postgres', 'SELECT mmr.apply_pause()');
mmr_wait_until($node_b,
	"SELECT state = 'paused' FROM mmr.replication_status WHERE peer_name = 'A'");
pass('B\'s apply from A is paused');

$node_a->safe_psql('postgres',
	"INSERT INTO t SELECT g, 'paused' FROM generate_series(100001, 100100) g");
my $write_lsn = $node_a->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# The walsender has sent the rows to B (they wait unread in B's socket) ...
mmr_wait_until($node_a, qq{
	SELECT r.sent_lsn >= '$write_lsn'
	  FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid
	 WHERE s.slot_name = '$a_for_b'});
# ... and B's worker has answered since: it is alive and still holding them.
my $sent_at = $node_a->safe_psql('postgres', 'SELECT now()');
mmr_wait_until($node_a, qq{
	SELECT r.reply_time > '$sent_at'
	  FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid
	 WHERE s.slot_name = '$a_for_b'});
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id > 100000'),
	'0', 'paused: A\'s new rows are not applied on B');
is(status_of($node_b, 'A', 'state'), 'paused', 'paused: state stays paused');
is( $node_a->safe_psql('postgres',
		"SELECT confirmed_flush_lsn < '$write_lsn' FROM pg_replication_slots WHERE slot_name = '$a_for_b'"),
	't', 'paused: A\'s slot for B did not confirm past the write');

$node_b->safe_psql('postgres', 'SELECT mmr.apply_resume()');
mmr_wait_until($node_b, 'SELECT count(*) = 100 FROM t WHERE id > 100000');
pass('resumed: the held rows arrive on B');
mmr_wait_until($node_b,
	"SELECT state = 'streaming' FROM mmr.replication_status WHERE peer_name = 'A'");
pass('resumed: state is streaming again');
mmr_wait_caught_up($node_a);
is(table_digest($node_b), table_digest($node_a), 'resumed: B has exactly A\'s rows');
is( $node_a->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$write_lsn' FROM pg_replication_slots WHERE slot_name = '$a_for_b'"),
	't', 'resumed: A\'s slot for B confirmed the write');

###
### Nothing loops back: a row goes A -> B, and B's stream to A (caught up
### past B's apply of it) does not bring it back to A; the same the other
### way round.
###
for my $dir ([ $node_a, $node_b, 200001 ], [ $node_b, $node_a, 200002 ])
{
	my ($origin, $peer, $id) = @$dir;
	my ($oname, $pname) = ($origin->name, $peer->name);
	my $changes_before = status_of($origin, $pname, 'applied_changes');
	$origin->safe_psql('postgres', "INSERT INTO t VALUES ($id, 'loop test')");
	mmr_wait_caught_up($origin);    # the peer applied it
	mmr_wait_caught_up($peer);      # the origin confirmed all of the peer's WAL since
	is($peer->safe_psql('postgres', "SELECT count(*) FROM t WHERE id = $id"),
		'1', "no loop: the row written on $oname reached $pname");
	is($origin->safe_psql('postgres', "SELECT count(*) FROM t WHERE id = $id"),
		'1', "no loop: the row exists once on $oname");
	is(status_of($origin, $pname, 'applied_changes'), $changes_before,
		"no loop: $oname applied no change from $pname for it");
}
for my $node ($node_a, $node_b)
{
	is($node->safe_psql('postgres', 'SELECT count(*) FROM mmr.conflict_history'),
		'0', 'no conflict logged on ' . $node->name);
}

###
### c) mmr.part_node('B') on A.
###
my $b_walsender_pid = $node_a->safe_psql('postgres',
	"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$a_for_b'");
like($b_walsender_pid, qr/^\d+$/, 'before the part, a walsender on A serves B');
my $a_log_offset = -s $node_a->logfile;
my $b_log_offset = -s $node_b->logfile;
$node_a->safe_psql('postgres', "SELECT mmr.part_node('B')");
is($node_a->safe_psql('postgres',
		"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$a_for_b'"),
	'0', "part: A's slot $a_for_b is dropped");
is($node_a->safe_psql('postgres',
		"SELECT count(*) FROM pg_replication_origin WHERE roname = '$a_for_b'"),
	'0', "part: A's origin $a_for_b is dropped");
is($node_a->safe_psql('postgres', "SELECT status FROM mmr.nodes WHERE node_name = 'B'"),
	'parted', 'part: mmr.nodes on A shows B parted');
is($node_a->safe_psql('postgres', "SELECT status FROM mmr.nodes WHERE node_name = 'A'"),
	'ready', 'part: A stays ready');
is($node_a->safe_psql('postgres', 'SELECT count(*) FROM mmr.replication_status'),
	'0', 'part: mmr.replication_status on A has no row for B');
is($node_a->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mmr apply'"),
	'0', 'part: A runs no apply worker for B');

# B was not told (A dropped the slot B reads): its apply worker from A
# loses the stream and comes back to A after its backoff.  Wait until such
# a retry (a new session of B's apply worker on A, after the part) has had
# its outcome: it started streaming (START_REPLICATION), or its session
# ended (A refused, or B's worker saw it was parted and stopped).  Or B
# learned otherwise and no longer lists A as a peer.  Only then is "A's
# writes no longer reach B" meaningful.
{
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		my $log = slurp_file($node_a->logfile, $a_log_offset);
		my %retry_pids;
		$retry_pids{$1} = 1 while $log =~ /\[(\d+)\] mmr apply \S+ LOG:  statement: /g;
		delete $retry_pids{$_} for grep { $_ eq $b_walsender_pid } keys %retry_pids;
		if (%retry_pids)
		{
			last if $log =~ /LOG:  received replication command: START_REPLICATION/;
			my $pids = join(',', keys %retry_pids);
			last if $node_a->safe_psql('postgres',
				"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid IN ($pids)") eq 't';
		}
		last if $node_b->safe_psql('postgres',
			"SELECT count(*) = 0 FROM mmr.replication_status WHERE peer_name = 'A'") eq 't';
		die 'timed out waiting for B\'s apply worker to retry A after the part' if time > $deadline;
		usleep(100_000);
	}
}
is($node_a->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'mmr%'"),
	'0', 'part: B\'s retry did not re-create a slot for B on A');
mmr_wait_until($node_a, 'SELECT count(*) = 0 FROM pg_stat_replication');
pass('part: no walsender on A serves B');

my $b_rows = $node_b->safe_psql('postgres', 'SELECT count(*) FROM t');
$node_a->safe_psql('postgres', "INSERT INTO t VALUES (300001, 'after part')");
is($node_a->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'mmr%'"),
	'0', 'part: A has no mmr slot through which the write could reach B');

# B's own view stays sane: it answers, knows its nodes, and reports its
# peer A (if at all) with a state of the documented set.
is($node_b->safe_psql('postgres', 'SELECT mmr.local_node_name()'), 'B',
	'part: B still knows its own name');
like($node_b->safe_psql('postgres',
		"SELECT string_agg(node_name || ':' || status, ',' ORDER BY node_name) FROM mmr.nodes"),
	qr/^A:(joining|ready|parting|parted),B:(joining|ready|parting|parted)$/,
	'part: mmr.nodes on B lists A and B with valid statuses');
like($node_b->safe_psql('postgres',
		"SELECT coalesce(string_agg(peer_name || ':' || state, ','), '') FROM mmr.replication_status"),
	qr/^(|A:(connecting|catching_up|streaming|paused|error|stopped))$/,
	'part: mmr.replication_status on B has at most a row for A, in a valid state');
is($node_b->safe_psql('postgres', "SELECT count(*) FROM t WHERE id = 300001"),
	'0', 'part: A\'s write after the part did not reach B');
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM t'), $b_rows,
	'part: B\'s table is unchanged');
ok(!$node_b->log_contains(qr/PANIC|terminated by signal|server process .* was terminated/, $b_log_offset),
	'part: no crash on B');

$node_a->stop;
$node_b->stop;

done_testing();
