# MmrTest.pm: helpers shared by mmr's TAP tests.
#
# Nodes are PostgreSQL::Test::Cluster servers with the settings mmr needs
# (scripts/server_conf.sh, passed by scripts/test.sh as MMR_SERVER_CONF).
package MmrTest;

use strict;
use warnings;

use Cwd qw(realpath);
use Exporter 'import';
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;

our @EXPORT = qw(mmr_wait_for_orphans mmr_node mmr_two_node_group mmr_wait_until mmr_wait_caught_up
  mmr_join_with_copy mmr_start_join mmr_table_digest mmr_pgbench_start mmr_pgbench_finish);

# The postgresql.conf lines every mmr node needs, as a list of lines.
sub server_conf_lines
{
	my $file = $ENV{MMR_SERVER_CONF}
	  or die "MMR_SERVER_CONF is not set (run the tests through scripts/test.sh)";
	return split /\n/, slurp_file($file);
}

# mmr_node(NAME, preload => 1): a new, started node with mmr's settings;
# preload => 0 leaves mmr out of shared_preload_libraries.
sub mmr_node
{
	my ($name, %opts) = @_;
	my $preload = exists $opts{preload} ? $opts{preload} : 1;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(allows_streaming => 'logical');
	my @lines = server_conf_lines();
	@lines = grep { !/^shared_preload_libraries/ } @lines unless $preload;
	# As in production: a crashed backend makes the postmaster reinitialize
	# (PostgreSQL::Test::Cluster turns this off).
	push @lines, 'restart_after_crash = on';
	$node->append_conf('postgresql.conf', join("\n", @lines) . "\n");
	$node->start;
	return $node;
}

# mmr_two_node_group(A, B, DB): CREATE EXTENSION on both, group_create on A,
# group_join on B (without data copy), and waits for the join to finish.
sub mmr_two_node_group
{
	my ($a, $b, $db) = @_;
	$db //= 'postgres';
	for my $node ($a, $b)
	{
		$node->safe_psql($db, 'CREATE EXTENSION IF NOT EXISTS mmr');
	}
	my $a_dsn = $a->connstr($db);
	my $b_dsn = $b->connstr($db);
	$a->safe_psql($db, "SELECT mmr.group_create('" . $a->name . "', \$\$$a_dsn\$\$)");
	$b->safe_psql($db,
		    "SELECT mmr.group_join('" . $b->name . "', \$\$$b_dsn\$\$, "
		  . "\$\$$a_dsn\$\$, synchronize_data => false)");
	$b->safe_psql($db, "SELECT mmr.wait_for_join('60 s')");
	mmr_wait_until($a, "SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'", $db);
	mmr_wait_until($b, "SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'", $db);
	return;
}

# mmr_wait_until(NODE, QUERY, DB): polls QUERY until it returns 't'; dies
# with the last answer after the default timeout.
sub mmr_wait_until
{
	my ($node, $query, $db) = @_;
	$db //= 'postgres';
	$node->poll_query_until($db, $query)
	  or die "timed out waiting on " . $node->name . " for: $query";
	return;
}

# mmr_wait_caught_up(FROM, DB): waits until every peer of FROM confirmed
# FROM's changes up to now (mmr.wait_slot_confirm_lsn).
sub mmr_wait_caught_up
{
	my ($from, $db) = @_;
	$db //= 'postgres';
	$from->safe_psql($db, "SET statement_timeout = '180s'; SELECT mmr.wait_slot_confirm_lsn()");
	return;
}

# mmr_start_join(NODE, VIA, DB): CREATE EXTENSION on NODE and group_join
# through VIA with the data copy (the default); returns at once.
sub mmr_start_join
{
	my ($node, $via, $db) = @_;
	$db //= 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION IF NOT EXISTS mmr');
	my $dsn = $node->connstr($db);
	my $via_dsn = $via->connstr($db);
	$node->safe_psql($db,
		"SELECT mmr.group_join('" . $node->name . "', \$\$$dsn\$\$, \$\$$via_dsn\$\$)");
	return;
}

# mmr_join_with_copy(NODE, VIA, DB): mmr_start_join, then waits until the
# join is done.
sub mmr_join_with_copy
{
	my ($node, $via, $db) = @_;
	$db //= 'postgres';
	mmr_start_join($node, $via, $db);
	$node->safe_psql($db, "SELECT mmr.wait_for_join('150 s')");
	return;
}

# mmr_table_digest(NODE, TABLE, ORDER_BY, DB): "count|md5" of the table's
# rows in ORDER_BY order.
sub mmr_table_digest
{
	my ($node, $table, $order, $db) = @_;
	$db //= 'postgres';
	return $node->safe_psql($db,
		"SELECT count(*) || '|' || coalesce(md5(string_agg(x::text, ',' ORDER BY $order)), '') "
		  . "FROM $table x");
}

# mmr_pgbench_start(NODE, SCRIPT_BODY, SECONDS, DB): runs a pgbench client
# with that script against NODE for SECONDS in the background.
sub mmr_pgbench_start
{
	my ($node, $body, $seconds, $db) = @_;
	$db //= 'postgres';
	my $file = $node->basedir . '/bench_' . int(rand(1e9)) . '.sql';
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $body;
	close $fh;
	my ($out, $err) = ('', '');
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	my $h = IPC::Run::start([ 'pgbench', '-n', '-c', '1', '-T', $seconds, '-f', $file, $db ],
		'>', \$out, '2>', \$err);
	return { handle => $h, out => \$out, err => \$err };
}

# mmr_pgbench_finish(RUN): waits for it; returns the number of
# transactions it processed (dies if pgbench failed).
sub mmr_pgbench_finish
{
	my ($run) = @_;
	$run->{handle}->finish;
	my $out = ${ $run->{out} };
	die "pgbench failed: " . ${ $run->{err} } if $run->{handle}->result != 0;
	my ($n) = $out =~ /number of transactions actually processed: (\d+)/;
	return $n // 0;
}

# mmr_wait_for_orphans(NODE): after kill -9 of a postmaster its children live
# on until they notice; a new postmaster cannot start while they hold the
# old shared memory.  Waits (bounded) until no process runs in the data dir.
sub mmr_wait_for_orphans
{
	my ($node) = @_;
	my $dir = realpath($node->data_dir);
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		my @left;
		for my $proc (glob '/proc/[0-9]*')
		{
			my $cwd = readlink "$proc/cwd";
			push @left, $proc if defined $cwd && $cwd eq $dir;
		}
		last if !@left;
		die "processes of the killed postmaster of " . $node->name . " still alive: @left"
		  if time > $deadline;
		usleep(100_000);
	}

	# In containers whose PID 1 does not reap orphans, the killed postmaster
	# stays a zombie, and a new postmaster takes postmaster.pid for a live
	# server.  Everything is gone (above): the lock file is stale then.
	for my $lockfile ($node->data_dir . '/postmaster.pid',
		$node->host . '/.s.PGSQL.' . $node->port . '.lock')
	{
		open my $fh, '<', $lockfile or next;
		my $pid = <$fh>;
		close $fh;
		chomp $pid;
		my $stat = -r "/proc/$pid/stat" ? slurp_file("/proc/$pid/stat") : '';
		if ($stat =~ /^\d+ \(.*\) Z /)
		{
			Test::More::note("postmaster $pid of " . $node->name
			  . " is an unreaped zombie; removing its lock file $lockfile");
			unlink $lockfile;
		}
	}
	return;
}

1;
