# Delete tombstones: a local delete records one with this node's version,
# an applied delete one with the origin's; both are collected once every
# peer has applied the delete (horizons from heartbeats), and not before.
# Also measures the cost: MMR_TOMBSTONE_ROWS deletes (default 100000) with
# and without the trigger, the size of mmr.tombstone, and how long the
# tombstones take to go away once the peer has applied them.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MmrTest;
use MmrConflictTest;

my $nrows = $ENV{MMR_TOMBSTONE_ROWS} // 100000;
my $schema = q{
	CREATE TABLE t (id integer PRIMARY KEY, v text);
	CREATE TABLE plain (id integer PRIMARY KEY, v text);
	CREATE TABLE with_trigger (id integer PRIMARY KEY, v text);
};
my ($a, $b) = ct_group($schema);

# The tombstones of table t: key and the name of their origin ('local' for
# origin 0, else the replication origin's name).
sub tombstones
{
	my ($node) = @_;
	return ct_sql($node, q{
		SELECT coalesce(string_agg(ts.key || '@' || coalesce(o.roname, 'local'), ' ' ORDER BY ts.key), '')
		  FROM mmr.tombstone ts
		  LEFT JOIN pg_replication_origin o
		         ON o.roident = (pg_xact_commit_timestamp_origin(ts.xmin)).roident
		 WHERE ts.relation = 't'::regclass});
}

# How many collection rounds the manager ran (each scans mmr.tombstone).
sub collection_rounds
{
	my ($node) = @_;
	return ct_sql($node, q{SELECT seq_scan FROM pg_stat_all_tables WHERE relid = 'mmr.tombstone'::regclass});
}

# A delete on a, paused on b: a's tombstone stays while b has not applied it.
ct_sql($a, q{INSERT INTO t VALUES (1, 'one'), (2, 'two')});
mmr_wait_caught_up($a);
ct_pause_both($b);
ct_sql($a, q{DELETE FROM t WHERE id = 1});
is(tombstones($a), '1@local', 'a local delete records a tombstone of this node');
my $rounds = collection_rounds($a);
mmr_wait_until($a, "SELECT seq_scan >= $rounds + 2 FROM pg_stat_all_tables WHERE relid = 'mmr.tombstone'::regclass");
is(tombstones($a), '1@local', 'kept through two collection rounds while the peer has not applied the delete');

# Once b applies it, the tombstones go on both nodes.
ct_sql($b, 'SELECT mmr.apply_resume()');
mmr_wait_caught_up($a);
mmr_wait_until($b, q{SELECT count(*) = 0 FROM t WHERE id = 1});
my $t0 = time;
mmr_wait_until($a, q{SELECT count(*) = 0 FROM mmr.tombstone WHERE relation = 't'::regclass});
note(sprintf('a collected its tombstone %.1f s after b applied the delete', time - $t0));
pass('a collected its tombstone once b had applied the delete (b\'s heartbeat)');
mmr_wait_until($b, q{SELECT count(*) = 0 FROM mmr.tombstone});
pass('b collected the applied delete\'s tombstone');

# The same the other way: b's delete, a paused.  (b's tombstone of a's
# delete above had no one else to wait for: a is its origin.)
ct_pause_both($a);
ct_sql($b, q{DELETE FROM t WHERE id = 2});
is(tombstones($b), '2@local', 'b records its own local delete');
ct_sql($a, 'SELECT mmr.apply_resume()');
mmr_wait_caught_up($b);
mmr_wait_until($a, q{SELECT count(*) = 0 FROM mmr.tombstone});
mmr_wait_until($b, q{SELECT count(*) = 0 FROM mmr.tombstone});
pass('both nodes end without tombstones');

# The cost of tombstones on a, b paused so that nothing is collected.
for my $table ('plain', 'with_trigger')
{
	ct_sql($a, "INSERT INTO $table SELECT g, 'row ' || g FROM generate_series(1, $nrows) g");
}
mmr_wait_caught_up($a);
ct_sql($a, 'ALTER TABLE plain DISABLE TRIGGER mmr_tombstone');
ct_sql($a, 'VACUUM ANALYZE plain, with_trigger, mmr.tombstone');
ct_pause_both($b);

my %took;
for my $table ('plain', 'with_trigger')
{
	my $start = time;
	ct_sql($a, "DELETE FROM $table");
	$took{$table} = time - $start;
}
my ($count, $total, $heap, $index) = split /\|/, ct_sql($a, q{
	SELECT count(*), pg_total_relation_size('mmr.tombstone'),
	       pg_relation_size('mmr.tombstone'), pg_indexes_size('mmr.tombstone')
	  FROM mmr.tombstone});
is($count, $nrows, "$nrows deletes left $nrows tombstones");
diag(sprintf('%d local deletes: %.2f s without the tombstone trigger, %.2f s with it: '
	  . '%.1f us more per deleted row', $nrows, $took{plain}, $took{with_trigger},
	  1e6 * ($took{with_trigger} - $took{plain}) / $nrows));
diag(sprintf('mmr.tombstone after %d deletes: %d rows, %.1f MB (heap %.1f MB, index %.1f MB), '
	  . '%.0f bytes per tombstone', $nrows, $count, $total / 1048576, $heap / 1048576,
	  $index / 1048576, $total / $nrows));

# Resumed: b applies the deletes (recording its own tombstones), and a
# collects its tombstones once b's heartbeat says so.
$t0 = time;
ct_sql($b, 'SELECT mmr.apply_resume()');
mmr_wait_caught_up($a);
my $applied = time - $t0;
mmr_wait_until($a, q{SELECT count(*) = 0 FROM mmr.tombstone});
my $gone_a = time - $t0;
mmr_wait_until($b, q{SELECT count(*) = 0 FROM mmr.tombstone});
my $gone_b = time - $t0;
diag(sprintf('after resuming b: b applied the %d deletes in %.1f s; tombstones gone on a after %.1f s, on b after %.1f s',
	  2 * $nrows, $applied, $gone_a, $gone_b));
is(ct_sql($b, 'SELECT count(*) FROM with_trigger') . ct_sql($b, 'SELECT count(*) FROM plain'), '00',
	'b applied every delete');
pass('every tombstone was collected on both nodes');

# The manager purges conflict log rows older than mmr.conflict_log_retention
# (checked once a minute).
ct_sql($a, q{INSERT INTO mmr.conflict_history (logged_at, relation, conflict_type, resolution, resolver, remote_node)
          VALUES (now() - interval '2 days', 'public.t', 'insert_exists', 'apply_remote', 'last_update_wins', 'old'),
                 (now(), 'public.t', 'insert_exists', 'apply_remote', 'last_update_wins', 'recent')});
ct_sql($a, q{ALTER SYSTEM SET mmr.conflict_log_retention = '1 day'});
ct_sql($a, q{SELECT pg_reload_conf()});
mmr_wait_until($a, q{SELECT count(*) = 0 FROM mmr.conflict_history WHERE remote_node = 'old'});
is(ct_sql($a, q{SELECT count(*) FROM mmr.conflict_history WHERE remote_node = 'recent'}), '1',
	'rows older than the retention are purged, newer ones stay');

done_testing();
