# One remote transaction of 500,000 rows: the apply worker's private memory
# stays bounded and it takes few page faults per applied row (native
# logical replication takes about 0.02; most of them are the first touches
# of shared buffers).  Allocations of a change live in the per-message
# context, which keeps its blocks from one message to the next.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my $rows = 500000;
my ($a, $b) = ct_group(q{CREATE TABLE big (id integer PRIMARY KEY, u integer UNIQUE, v text);});

# minflt and RssAnon (kB) of a process.
sub faults_and_anon
{
	my ($pid) = @_;
	my @stat = split / /, slurp_file("/proc/$pid/stat");
	my ($anon) = slurp_file("/proc/$pid/status") =~ /^RssAnon:\s+(\d+) kB/m;
	return ($stat[9], $anon);
}

ct_sql($b, 'SELECT mmr.apply_pause()');
mmr_wait_until($b, q{SELECT state = 'paused' FROM mmr.replication_status});
ct_sql($a, "INSERT INTO big SELECT g, g, 'row ' || g FROM generate_series(1, $rows) g");

is(ct_sql($b, 'SELECT count(*) FROM big'), '0', 'nothing applied while paused');
my $pid = ct_sql($b, 'SELECT worker_pid FROM mmr.replication_status');
my ($faults0, $anon0) = faults_and_anon($pid);
ct_sql($b, 'SELECT mmr.apply_resume()');
mmr_wait_caught_up($a);
my ($faults1, $anon1) = faults_and_anon($pid);
my ($utime, $stime) = (split / /, slurp_file("/proc/$pid/stat"))[13, 14];

is(ct_sql($b, 'SELECT count(*), sum(u) FROM big'), "$rows|" . ($rows * ($rows + 1) / 2),
	'the whole transaction was applied');
is(ct_sql($b, 'SELECT worker_pid FROM mmr.replication_status'), $pid,
	'by the same worker process');
my $per_row = ($faults1 - $faults0) / $rows;
diag sprintf('apply of one %d-row transaction: %d minor page faults (%.4f per row), RssAnon %d -> %d kB, worker CPU %d+%d ticks',
	$rows, $faults1 - $faults0, $per_row, $anon0, $anon1, $utime, $stime);
cmp_ok($per_row, '<', 0.05, 'page faults per applied row stay near native\'s');
cmp_ok($anon1 - $anon0, '<', 32 * 1024, 'private memory grows by less than 32 MB');

done_testing();
