# The remaining conflict types under last_update_wins: update_exists (an
# UPDATE onto a unique value another row holds), update_missing (no row and
# no tombstone), insert_deleted (an INSERT older than the delete of its
# key); mmr.log_conflicts = off; the clock skew settings.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my ($a, $b) = ct_group($MmrConflictTest::TABLE_T);

# update_exists: b moves row 51 onto the unique value that a's concurrent
# insert of row 52 took.  b's update is later: it keeps the value on both.
ct_sql($a, q{INSERT INTO t VALUES (51, 'u51', 'orig')});
mmr_wait_caught_up($a);
my ($la, $lb) = ct_round($a, $b, 't', q{INSERT INTO t VALUES (52, 'w', 'a')},
	q{UPDATE t SET u = 'w', v = 'b' WHERE id = 51});
is(ct_rows($a), '51,w,b', 'update_exists: a deleted its row holding the value');
is(ct_rows($b), ct_rows($a), 'update_exists: both nodes alike');
is($la, 'update_exists apply_remote last_update_wins a<-b key={"u": "w"} local=a resolved=b',
	'a logged update_exists, apply_remote');
is($lb, 'insert_exists keep_local last_update_wins b<-a key={"u": "w"} local=b resolved=b',
	'b logged insert_exists on u, keep_local');

# update_missing: the row is gone on b without a trace; a's update brings
# it back as an insert.
ct_sql($a, q{INSERT INTO t VALUES (60, 'u60', 'orig')});
mmr_wait_caught_up($a);
ct_sql($b, ct_unreplicated_sql('DELETE FROM t WHERE id = 60'));
my $cb = ct_last_conflict_id($b);
ct_sql($a, q{UPDATE t SET v = 'a2' WHERE id = 60});
mmr_wait_caught_up($a);
is(ct_sql($b, 'SELECT v FROM t WHERE id = 60'), 'a2', 'update_missing: b inserted the updated row');
is(ct_conflicts_since($b, $cb, 't'), 'update_missing apply_remote last_update_wins <-a key={"id": 60} local= resolved=a2',
	'b logged update_missing, apply_remote');

# insert_deleted: b deletes row 70 (a row of its own that a never heard
# of) after a inserted row 70 concurrently; a's older insert must not bring
# it back on b, and b's delete removes a's row.
($la, $lb) = ct_round($a, $b, 't', q{INSERT INTO t VALUES (70, 'u70', 'a')},
	ct_unreplicated_sql(q{INSERT INTO t VALUES (70, 'u70', 'b')})
	  . q{DELETE FROM t WHERE id = 70});
is(ct_sql($a, 'SELECT count(*) FROM t WHERE id = 70') . ct_sql($b, 'SELECT count(*) FROM t WHERE id = 70'),
	'00', 'insert_deleted: the row stays deleted on both');
is($la, 'delete_origin_differs apply_remote last_update_wins a<-b key={"id": 70} local=a resolved=',
	'a logged delete_origin_differs, apply_remote');
# b's own row 70 held u70 after a's insert: its delete left the value's
# register (of an origin that is no peer), which a's insert meets too.
is($lb, 'insert_deleted skip last_update_wins b<-a key={"id": 70} local= resolved=' . "\n"
	  . 'insert_exists keep_local last_update_wins <-a key={"u": "u70"} local= resolved=',
	'b logged insert_deleted, skip, and the claim of u70 against its register, keep_local');
is(ct_status($_), 'streaming -', 'apply on ' . $_->name . ' streams without error') for ($a, $b);

# mmr.log_conflicts = off: conflicts are resolved and counted, not logged.
ct_sql($a, q{ALTER SYSTEM SET mmr.log_conflicts = off; SELECT pg_reload_conf()});
mmr_wait_until($a, q{SELECT NOT current_setting('mmr.log_conflicts')::boolean});
my $counted = ct_sql($a, 'SELECT conflicts FROM mmr.replication_status');
($la, $lb) = ct_round($a, $b, 't', q{INSERT INTO t VALUES (80, 'u80', 'a')},
	q{INSERT INTO t VALUES (80, 'u80', 'b')});
is($la, '', 'with mmr.log_conflicts off a logged nothing');
is(ct_sql($a, 'SELECT conflicts FROM mmr.replication_status'), $counted + 1, 'but counted the conflict');
is(ct_rows($a), ct_rows($b), 'and resolved it alike');
ct_sql($a, q{ALTER SYSTEM RESET mmr.log_conflicts; SELECT pg_reload_conf()});

# Clock skew settings: time units, and only the two actions.
ct_sql($a, q{ALTER SYSTEM SET mmr.max_clock_skew = '2min'; ALTER SYSTEM SET mmr.clock_skew_action = 'wait'; SELECT pg_reload_conf()});
mmr_wait_until($a, q{SELECT current_setting('mmr.clock_skew_action') = 'wait'});
is(ct_sql($a, 'SHOW mmr.max_clock_skew'), '2min', 'mmr.max_clock_skew takes time units');
my ($ret, $out, $err) = $a->psql('postgres', q{ALTER SYSTEM SET mmr.clock_skew_action = 'sleep'});
like($err, qr/invalid value for parameter "mmr.clock_skew_action": "sleep"/, 'an unknown action is refused');
ct_sql($a, q{ALTER SYSTEM RESET mmr.max_clock_skew; ALTER SYSTEM RESET mmr.clock_skew_action; SELECT pg_reload_conf()});
mmr_wait_until($a, q{SELECT current_setting('mmr.max_clock_skew') = '5s'});
is(ct_sql($a, 'SHOW mmr.clock_skew_action'), 'warn', 'the defaults are 5s and warn');

done_testing();
