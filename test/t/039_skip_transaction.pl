# mmr.skip_transaction(peer_name, remote_commit_lsn) (SPEC 3): a remote
# transaction that can never apply here (a CHECK constraint only this node
# has) wedges apply from the peer; the commit LSN in last_error skips it,
# the request survives a restart, the transactions after it apply, and the
# skip is in the conflict log.  A request whose LSN another transaction
# reaches first is cleared.  Bad calls are errors.  Also: the commit time
# of the last applied transaction is known right after a restart.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my ($a, $b) = ct_group(q{CREATE TABLE t (id integer PRIMARY KEY, v text);});
ct_sql($b, q{ALTER TABLE t ADD CONSTRAINT only_b CHECK (v <> 'bad')});

sub ids
{
	my ($node) = @_;
	return ct_sql($node, q{SELECT string_agg(id::text, ',' ORDER BY id) FROM t});
}

ct_sql($a, q{INSERT INTO t VALUES (1, 'ok')});
mmr_wait_caught_up($a);

# The last applied commit time survives a restart of the receiving node
# (it comes from commit_ts, not from a new transaction).
my $status = q{SELECT last_applied_commit_time FROM mmr.apply_worker_status()};
my $before = ct_sql($b, $status);
isnt($before, '', 'b knows the commit time of the last applied transaction');
$b->restart;
mmr_wait_until($b, q{SELECT worker_pid IS NOT NULL FROM mmr.apply_worker_status()});
is(ct_sql($b, $status), $before, 'after a restart, before anything new is applied, it is the same');
is(ct_sql($b, q{SELECT applied_transactions FROM mmr.apply_worker_status()}), '0',
	'nothing was applied since the restart');

# Bad calls.
my ($ret, $out, $err) = $b->psql('postgres', q{SELECT mmr.skip_transaction('nosuch', '0/1')});
like($err, qr/ERROR:  node "nosuch" does not exist/, 'unknown peer is an error');
($ret, $out, $err) = $b->psql('postgres', q{SELECT mmr.skip_transaction(NULL, '0/1')});
like($err, qr/ERROR:  peer_name must not be null/, 'NULL peer is an error');
($ret, $out, $err) = $b->psql('postgres', q{SELECT mmr.skip_transaction('a', NULL)});
like($err, qr/ERROR:  remote_commit_lsn must not be null/, 'NULL LSN is an error');
($ret, $out, $err) = $b->psql('postgres', q{SELECT mmr.skip_transaction('b', '0/1')});
like($err, qr/ERROR:  node "b" is the local node/, 'the local node is an error');
ct_sql($b, q{CREATE ROLE bob LOGIN});
($ret, $out, $err) = $b->psql('postgres',
	q{SET ROLE bob; SELECT mmr.skip_transaction('a', '0/1')});
like($err, qr/ERROR:  permission denied for function skip_transaction/,
	'a non-superuser may not call it');
is(ct_sql($b, q{SELECT count(*) FROM mmr.apply_skip}), '0', 'the bad calls recorded nothing');

# A request for an LSN that is not the next transaction's is cleared by it.
ct_sql($b, q{SELECT mmr.skip_transaction('a', '0/1')});
my $log_offset = -s $b->logfile;
ct_sql($a, q{INSERT INTO t VALUES (2, 'ok')});
mmr_wait_caught_up($a);
is(ids($b), '1,2', 'a transaction at another LSN is applied');
is(ct_sql($b, q{SELECT count(*) FROM mmr.apply_skip}), '0', 'and it cleared the request');
like(slurp_file($b->logfile, $log_offset), qr/WARNING:  skip request for peer "a" cleared/,
	'the clearing is logged');

# A transaction that cannot apply on b wedges apply from a.
my $before_bad = ct_sql($a, q{SELECT pg_current_wal_lsn()});
ct_sql($a, q{INSERT INTO t VALUES (3, 'bad')});
my $after_bad = ct_sql($a, q{SELECT pg_current_wal_lsn()});
ct_sql($a, q{INSERT INTO t VALUES (4, 'after')});
mmr_wait_until($b, q{SELECT state = 'error' FROM mmr.replication_status});
my $last_error = ct_sql($b, q{SELECT last_error FROM mmr.replication_status});
like($last_error,
	qr/^new row for relation "t" violates check constraint "only_b".* \(remote transaction \d+ committed at [0-9A-F]+\/[0-9A-F]+\)$/,
	'last_error names the remote transaction and its commit LSN');
my ($lsn) = $last_error =~ m{committed at ([0-9A-F]+/[0-9A-F]+)\)$};
is(ct_sql($a, qq{SELECT '$lsn'::pg_lsn BETWEEN '$before_bad' AND '$after_bad'}), 't',
	'the LSN is that of the failing transaction on a');
is(ids($b), '1,2', 'nothing after it was applied');

# Requested while apply is paused, consumed after a restart.
ct_sql($b, q{SELECT mmr.apply_pause()});
mmr_wait_until($b, q{SELECT state = 'paused' FROM mmr.replication_status});
ct_sql($b, qq{SELECT mmr.skip_transaction('a', '$lsn')});
is(ct_sql($b, q{SELECT remote_commit_lsn FROM mmr.apply_skip}), $lsn, 'the request is recorded');
$b->restart;
mmr_wait_until($b, q{SELECT count(*) = 3 FROM t});
is(ids($b), '1,2,4', 'the wedged transaction was skipped, the next one applied');
is(ct_sql($b, q{SELECT count(*) FROM mmr.apply_skip}), '0', 'the request was consumed');
is(ct_sql($b, q{
	SELECT format('%s %s %s %s %s %s changes=%s', conflict_type, resolution, resolver,
	              remote_node, relation, remote_commit_lsn, remote_row ->> 'changes')
	  FROM mmr.conflict_log WHERE resolution = 'skip'}),
	"transaction_skipped skip skip_transaction a public.t $lsn changes=1",
	'one conflict log row describes the skipped transaction');
mmr_wait_until($b, q{SELECT state = 'streaming' FROM mmr.replication_status});

# The transactions after it apply; the skip is not redone after a restart.
ct_sql($a, q{INSERT INTO t VALUES (5, 'next')});
mmr_wait_caught_up($a);
$b->restart;
ct_sql($a, q{INSERT INTO t VALUES (6, 'next')});
mmr_wait_caught_up($a);
is(ids($b), '1,2,4,5,6', 'later transactions apply, also after another restart');
is(ids($a), '1,2,3,4,5,6', 'a has its own rows');
is(ct_sql($b, q{SELECT count(*) FROM mmr.conflict_log WHERE resolution = 'skip'}), '1',
	'the skip was logged once');

done_testing();
