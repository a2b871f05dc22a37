# The copied rows' commit timestamps and origins survive a crash of the
# joined node although no checkpoint is forced after the copy (issue 7,
# docs/join.md): until a checkpoint has them, the join keeps them in
# mmr.join_stamp and, after a crash, writes them again before any apply.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');
# No timed checkpoint during the test: only the explicit one below.
$n2->append_conf('postgresql.conf', "checkpoint_timeout = 1h\nmax_wal_size = 4GB\n");
$n2->restart;

$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE t3 (id integer PRIMARY KEY, v text);
});
# Rows written by different transactions on n1: five runs, five stamps.
$n1->safe_psql('postgres', "INSERT INTO t3 VALUES ($_, 'row $_')") for 1 .. 5;
$n1->safe_psql('postgres',
	"SELECT mmr.group_create('n1', \$\$" . $n1->connstr('postgres') . "\$\$)");
mmr_join_with_copy($n2, $n1);

my $facts = q{SELECT string_agg(id || '@' || c."timestamp" || '@' || o.roname, ',' ORDER BY id)
	FROM t3, pg_xact_commit_timestamp_origin(t3.xmin) c
	LEFT JOIN pg_replication_origin o ON o.roident = c.roident WHERE true};
my $n1_facts = $n1->safe_psql('postgres',
	q{SELECT string_agg(id || '@' || c."timestamp", ',' ORDER BY id)
	FROM t3, pg_xact_commit_timestamp_origin(t3.xmin) c});
my $n2_facts = $n2->safe_psql('postgres', $facts);
my $n1_origin = 'mmr_' . $n2->safe_psql('postgres',
	"SELECT oid FROM pg_database WHERE datname = current_database()") . '_n1';
(my $expected = $n1_facts) =~ s/(,|$)/\@$n1_origin$1/g;
is($n2_facts, $expected, "n2's copied rows have n1's commit timestamps and origin");
is($n2->safe_psql('postgres',
		'SELECT count(*) FROM mmr.join_stamp j, mmr.join_state s WHERE s.stamps_lsn IS NOT NULL'),
	'5', 'no checkpoint was forced: the five stamps are kept');

# A crash before any checkpoint: replay gives the copy's rows the copy's
# own commit facts again (and the checkpoint at the end of recovery writes
# those); the join worker writes them again before apply.
$n2->kill9;
mmr_wait_for_orphans($n2);
$n2->start;
mmr_wait_until($n2, "SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'");
is($n2->safe_psql('postgres', $facts), $expected,
	'after the crash, apply runs with the commit facts written again');

$n1->safe_psql('postgres', "UPDATE t3 SET v = 'changed on n1' WHERE id = 3");
mmr_wait_until($n2, "SELECT v = 'changed on n1' FROM t3 WHERE id = 3");
pass('n2 applies from n1 after the crash');

# Once a checkpoint has them, the stamps go, and a crash no longer needs them.
$n2->safe_psql('postgres', 'CHECKPOINT');
mmr_wait_until($n2,
	'SELECT (SELECT count(*) FROM mmr.join_stamp) = 0 AND (SELECT bool_and(stamps_lsn IS NULL) FROM mmr.join_state)');
pass('after a checkpoint the stamps are forgotten');
$n2->kill9;
mmr_wait_for_orphans($n2);
$n2->start;
mmr_wait_until($n2, "SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'streaming'");
my $after = $n2->safe_psql('postgres', $facts . ' AND id <> 3');
(my $expected_rest = $expected) =~ s/3\@[^,]*,//;
is($after, $expected_rest, 'after a second crash the checkpointed facts are still right');

done_testing();
