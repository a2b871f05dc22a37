# Join benchmark (not part of the test suite): seconds for mmr.group_join
# with a data copy of a pgbench database, against a plain
# "pg_dump -Fc | pg_restore" of the same database, same machine, same run.
# Run it with contrib/bench/join_bench.sh (BENCH_SCALE), which runs
#   MMR_TESTS=tap PROVE_TESTS=test/bench/join_bench.pl ./scripts/test.sh
# Scale: MMR_JOIN_BENCH_SCALE (default 20; 70 is about 1 GB).
use strict;
use warnings;

use IPC::Run;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $scale = $ENV{MMR_JOIN_BENCH_SCALE} // 20;
my $a = mmr_node('a');
my $b = mmr_node('b');
my $c = mmr_node('c');

$a->command_ok([ 'pgbench', '-i', '-q', '-s', $scale, 'postgres' ], "pgbench -i -s $scale on a");
$a->safe_psql('postgres', 'CREATE EXTENSION mmr');
$a->safe_psql('postgres', "SELECT mmr.group_create('a', \$\$" . $a->connstr('postgres') . "\$\$)");
my $size = $a->safe_psql('postgres', "SELECT pg_size_pretty(pg_database_size('postgres'))");

# What reading the biggest table costs on the join node alone.
sub timed_psql
{
	my ($node, $sql) = @_;
	my $t = time;
	$node->safe_psql('postgres', $sql);
	return time - $t;
}
my $plain_s = timed_psql($a, "COPY pgbench_accounts TO '/dev/null'");
my $facts_s = timed_psql($a, q{COPY (SELECT (s.f)."timestamp", (s.f).roident, s.aid, s.bid, s.abalance, s.filler
	FROM (SELECT pg_xact_commit_timestamp_origin(t.xmin) AS f, t.* FROM ONLY pgbench_accounts t OFFSET 0) s)
	TO '/dev/null'});
my $xmin_s = timed_psql($a, "COPY (SELECT xmin, * FROM ONLY pgbench_accounts) TO '/dev/null'");
diag(sprintf("COPY pgbench_accounts on the join node alone: plain %.2f s, with commit facts %.2f s, with xmin %.2f s",
	$plain_s, $facts_s, $xmin_s));

my $t0 = time;
mmr_join_with_copy($b, $a);
my $join_s = time - $t0;

$t0 = time;
my ($err1, $err2) = ('', '');
IPC::Run::run([ 'pg_dump', '-Fc', '-d', $a->connstr('postgres') ], '2>', \$err1, '|',
	[ 'pg_restore', '-d', $c->connstr('postgres') ], '2>', \$err2)
  or diag("pg_dump | pg_restore: $err1 $err2");
my $dump_s = time - $t0;

is(mmr_table_digest($b, 'pgbench_accounts', 'aid'), mmr_table_digest($a, 'pgbench_accounts', 'aid'),
	'the joined node has the data');
my $line = sprintf("scale %d (%s): join %.2f s, pg_dump | pg_restore %.2f s, ratio %.2f",
	$scale, $size, $join_s, $dump_s, $join_s / $dump_s);
diag($line);
my ($steps) = slurp_file($b->logfile) =~ /Steps of this worker: ([^\n]*)\./;
diag("join steps: " . ($steps // 'not logged'));
note($b->safe_psql('postgres', 'SELECT * FROM mmr.join_status'));
pass($line);

done_testing();
