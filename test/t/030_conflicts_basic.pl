# Conflicts under last_update_wins, made truly concurrent with apply paused
# on both nodes: insert/insert on the primary key and on a secondary UNIQUE
# column, update/update, update/delete in both orders, delete/delete.  Both
# nodes end with the same rows, apply never stops, and each node's
# mmr.conflict_log shows what it met.  Sequential updates from both nodes
# (each made after seeing the other's) log nothing.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my ($a, $b) = ct_group($MmrConflictTest::TABLE_T);

sub round
{
	return ct_round($a, $b, 't', @_);
}

sub streaming_both
{
	my ($what) = @_;
	is(ct_status($_), 'streaming -', "$what: apply on " . $_->name . ' streams without error')
	  for ($a, $b);
}

# insert/insert on the primary key: b's row is later and wins on both.
my ($la, $lb) = round(q{INSERT INTO t VALUES (1, 'a1', 'from a')},
	q{INSERT INTO t VALUES (1, 'b1', 'from b')});
is(ct_rows($a), '1,b1,from b', 'insert/insert on the key: a has b\'s row');
is(ct_rows($b), ct_rows($a), 'insert/insert on the key: both nodes alike');
is($la, 'insert_exists apply_remote last_update_wins a<-b key={"id": 1} local=from a resolved=from b',
	'a logged insert_exists, apply_remote');
is($lb, 'insert_exists keep_local last_update_wins b<-a key={"id": 1} local=from b resolved=from b',
	'b logged insert_exists, keep_local');
streaming_both('insert/insert on the key');

# insert/insert on the secondary UNIQUE column: the later row keeps the
# value, the other row is deleted.
($la, $lb) = round(q{INSERT INTO t VALUES (2, 'dup', 'from a')},
	q{INSERT INTO t VALUES (3, 'dup', 'from b')});
is(ct_rows($a), '1,b1,from b 3,dup,from b', 'insert/insert on a unique column: the later row stays');
is(ct_rows($b), ct_rows($a), 'insert/insert on a unique column: both nodes alike');
is($la, 'insert_exists apply_remote last_update_wins a<-b key={"u": "dup"} local=from a resolved=from b',
	'a logged insert_exists on u, apply_remote (its row deleted)');
is($lb, 'insert_exists keep_local last_update_wins b<-a key={"u": "dup"} local=from b resolved=from b',
	'b logged insert_exists on u, keep_local');
streaming_both('insert/insert on a unique column');

# The log row of a's side carries both rows and both commit times.
is( ct_sql($a, q{SELECT local_row ->> 'id', remote_row ->> 'id', resolved_row ->> 'id',
                  local_commit_ts < remote_commit_ts, remote_commit_lsn IS NOT NULL
             FROM mmr.conflict_log WHERE key = '{"u": "dup"}'}),
	'2|3|3|t|t', 'the log row has the rows, the commit times and the LSN');

# update/update: b's later update wins on both.
ct_sql($a, q{INSERT INTO t VALUES (10, 'x10', 'orig')});
mmr_wait_caught_up($a);
($la, $lb) = round(q{UPDATE t SET v = 'a' WHERE id = 10},
	q{UPDATE t SET v = 'b' WHERE id = 10});
is(ct_sql($a, 'SELECT v FROM t WHERE id = 10'), 'b', 'update/update: the later update wins on a');
is(ct_sql($b, 'SELECT v FROM t WHERE id = 10'), 'b', 'update/update: and on b');
is($la, 'update_origin_differs apply_remote last_update_wins a<-b key={"id": 10} local=a resolved=b',
	'a logged update_origin_differs, apply_remote');
is($lb, 'update_origin_differs keep_local last_update_wins b<-a key={"id": 10} local=b resolved=b',
	'b logged update_origin_differs, keep_local');

# update then a later delete: the delete wins, the row is gone everywhere.
ct_sql($a, q{INSERT INTO t VALUES (20, 'x20', 'orig')});
mmr_wait_caught_up($a);
($la, $lb) = round(q{UPDATE t SET v = 'a' WHERE id = 20}, q{DELETE FROM t WHERE id = 20});
is(ct_sql($a, 'SELECT count(*) FROM t WHERE id = 20') . ct_sql($b, 'SELECT count(*) FROM t WHERE id = 20'),
	'00', 'update then later delete: the row is gone on both');
is($la, 'delete_origin_differs apply_remote last_update_wins a<-b key={"id": 20} local=a resolved=',
	'a logged delete_origin_differs, apply_remote');
is($lb, 'update_deleted skip last_update_wins b<-a key={"id": 20} local= resolved=',
	'b logged update_deleted, skip (its later delete stands)');

# delete then a later update: the update wins and brings the row back.
ct_sql($a, q{INSERT INTO t VALUES (21, 'x21', 'orig')});
mmr_wait_caught_up($a);
($la, $lb) = round(q{DELETE FROM t WHERE id = 21}, q{UPDATE t SET v = 'b' WHERE id = 21});
is(ct_sql($a, 'SELECT v FROM t WHERE id = 21'), 'b', 'delete then later update: the row is back on a');
is(ct_sql($b, 'SELECT v FROM t WHERE id = 21'), 'b', 'delete then later update: b kept it');
is($la, 'update_deleted apply_remote last_update_wins a<-b key={"id": 21} local= resolved=b',
	'a logged update_deleted, apply_remote');
is($lb, 'delete_origin_differs keep_local last_update_wins b<-a key={"id": 21} local=b resolved=b',
	'b logged delete_origin_differs, keep_local');

# delete/delete: nothing left to delete on either side.
ct_sql($a, q{INSERT INTO t VALUES (30, 'x30', 'orig')});
mmr_wait_caught_up($a);
($la, $lb) = round(q{DELETE FROM t WHERE id = 30}, q{DELETE FROM t WHERE id = 30});
is(ct_sql($a, 'SELECT count(*) FROM t WHERE id = 30') . ct_sql($b, 'SELECT count(*) FROM t WHERE id = 30'),
	'00', 'delete/delete: the row is gone on both');
is($la, 'delete_missing skip last_update_wins a<-b key={"id": 30} local= resolved=',
	'a logged delete_missing, skip');
is($lb, 'delete_missing skip last_update_wins b<-a key={"id": 30} local= resolved=',
	'b logged delete_missing, skip');
streaming_both('after every conflict type');
is(ct_rows($b), ct_rows($a), 'both nodes have the same rows in the end');

# Sequential updates from both nodes, each after seeing the other's: no
# conflict at all, whatever the origin of the row.
my ($ca, $cb) = (ct_last_conflict_id($a), ct_last_conflict_id($b));
ct_sql($a, q{INSERT INTO t VALUES (40, 'x40', 'a1')});
mmr_wait_caught_up($a);
ct_sql($b, q{UPDATE t SET v = 'b1' WHERE id = 40});
mmr_wait_caught_up($b);
ct_sql($a, q{UPDATE t SET v = 'a2' WHERE id = 40});
mmr_wait_caught_up($a);
ct_sql($b, q{DELETE FROM t WHERE id = 40});
mmr_wait_caught_up($b);
is(ct_conflicts_since($a, $ca, 't') . ct_conflicts_since($b, $cb, 't'), '',
	'sequential updates and a delete from both nodes log no conflict');
is(ct_sql($a, 'SELECT count(*) FROM t WHERE id = 40') . ct_sql($b, 'SELECT count(*) FROM t WHERE id = 40'),
	'00', 'and end alike');

# The per-peer count matches the log.
for my $node ($a, $b)
{
	is( ct_sql($node, q{SELECT (SELECT conflicts FROM mmr.replication_status) =
	                      (SELECT count(*) FROM mmr.conflict_history WHERE relation = 'public.t')}),
		't', 'replication_status.conflicts on ' . $node->name . ' counts the logged conflicts');
}

done_testing();
