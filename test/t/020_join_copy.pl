# Joining with a data copy (SPEC 3, 4, 6): n2 joins through n1, then n3
# through n2, while a client keeps inserting, updating and deleting on n1
# (and on n2 once it is ready).  All three end identical.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');
my $n3 = mmr_node('n3');

$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE t1 (id integer PRIMARY KEY, v text, m mood, tags mood[]);
	CREATE TABLE t2 (a integer, b integer, v text, PRIMARY KEY (a, b));
	CREATE SEQUENCE s1;
	INSERT INTO t1 SELECT g, md5(g::text), 'ok', ARRAY['sad', 'happy']::mood[]
	  FROM generate_series(1, 25000) g;
	INSERT INTO t2 SELECT g % 250, g / 250, md5(g::text) FROM generate_series(0, 24999) g;
	SELECT setval('s1', 4242);
	CREATE TABLE t3 (id integer PRIMARY KEY, v text);
});
# t3: rows written by different transactions on n1, never changed later.
$n1->safe_psql('postgres', "INSERT INTO t3 VALUES ($_, 'row $_')") for 1 .. 5;
$n1->safe_psql('postgres',
	"SELECT mmr.group_create('n1', \$\$" . $n1->connstr('postgres') . "\$\$)");

# n1's client: keys 1..30000 of t1, a in 0..299 of t2.
my $n1_script = q{
\set id random(1, 30000)
\set a random(0, 299)
\set b random(0, 120)
BEGIN;
INSERT INTO t1 VALUES (:id, md5(random()::text), 'happy') ON CONFLICT (id) DO UPDATE SET v = excluded.v;
UPDATE t2 SET v = md5(random()::text) WHERE a = :a AND b = :b;
DELETE FROM t1 WHERE id = :id + 7;
INSERT INTO t2 VALUES (:a, :b + 100, 'n1') ON CONFLICT DO NOTHING;
DELETE FROM t2 WHERE a = :a AND b = :b + 50;
COMMIT;
};
# n2's client: keys that n1's never touches.
my $n2_script = q{
\set id random(100001, 110000)
\set a random(1000, 1099)
BEGIN;
INSERT INTO t1 VALUES (:id, 'n2', 'sad') ON CONFLICT (id) DO UPDATE SET v = excluded.v || '+';
INSERT INTO t2 VALUES (:a, :id, 'n2') ON CONFLICT DO NOTHING;
DELETE FROM t1 WHERE id = :id - 3;
COMMIT;
};

my $bench1 = mmr_pgbench_start($n1, $n1_script, 45);

# n2 joins through n1 while n1 is busy.
mmr_start_join($n2, $n1);
mmr_wait_until($n2, "SELECT phase NOT IN ('copying_schema', 'copying_data') FROM mmr.join_status");
$n2->safe_psql('postgres', "SELECT mmr.wait_for_join('150 s')");
is($n2->safe_psql('postgres',
		'SELECT phase, tables_total, tables_done, bytes_copied > 0, finished_at IS NOT NULL, last_error IS NULL FROM mmr.join_status'),
	'ready|3|3|t|t|t', 'n2: join_status says ready, 3 of 3 tables copied');
is($n2->safe_psql('postgres', "SELECT last_value FROM s1"), '4242', 'n2: sequence value copied');
is($n2->safe_psql('postgres', "SELECT count(*) FROM pg_publication WHERE pubname <> 'mmr_require_replica_identity'"),
	'0', 'n2: no publication copied');

my $bench2 = mmr_pgbench_start($n2, $n2_script, 20);

# n3 joins through n2 while both write.
mmr_join_with_copy($n3, $n2);
is($n3->safe_psql('postgres', 'SELECT phase, tables_done FROM mmr.join_status'),
	'ready|3', 'n3: join through n2 is ready');

my $tx1 = mmr_pgbench_finish($bench1);
my $tx2 = mmr_pgbench_finish($bench2);
cmp_ok($tx1, '>', 100, "n1's client wrote throughout ($tx1 transactions)");
cmp_ok($tx2, '>', 10, "n2's client wrote ($tx2 transactions)");

for my $node ($n1, $n2, $n3)
{
	mmr_wait_until($node,
		"SELECT count(*) = 3 FROM mmr.nodes WHERE status = 'ready'");
	mmr_wait_until($node,
		"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
}
mmr_wait_caught_up($_) for ($n1, $n2, $n3);

my @d1 = (mmr_table_digest($n1, 't1', 'id'), mmr_table_digest($n1, 't2', 'a, b'));
for my $node ($n2, $n3)
{
	is(mmr_table_digest($node, 't1', 'id'), $d1[0], $node->name . ': t1 identical to n1');
	is(mmr_table_digest($node, 't2', 'a, b'), $d1[1], $node->name . ': t2 (composite key) identical to n1');
}
like($d1[0], qr/^[1-9]\d{4}\|/, 't1 still has most of its rows');
is($n3->safe_psql('postgres', 'SELECT sum(conflicts) FROM mmr.replication_status'), '0', 'n3 met no conflicts')
  or diag($n3->safe_psql('postgres',
	'SELECT conflict_type, resolution, relation, local_node, remote_node, local_commit_ts, remote_commit_ts, key, local_row, remote_row FROM mmr.conflict_log'));

# Copied rows keep n1's commit timestamps, and n1 as their origin, also on
# n3, which copied them from n2.
my $facts = q{SELECT string_agg(id || '@' || c."timestamp", ',' ORDER BY id)
	FROM t3, pg_xact_commit_timestamp_origin(t3.xmin) c};
my $n1_facts = $n1->safe_psql('postgres', $facts);
like($n1_facts, qr/^1@.*,5@/, 'n1 has commit timestamps for t3');
for my $node ($n2, $n3)
{
	is($node->safe_psql('postgres', $facts), $n1_facts,
		$node->name . ": copied rows keep n1's commit timestamps");
	is($node->safe_psql('postgres', q{
		SELECT bool_and(o.roname = 'mmr_' || d.oid || '_n1')
		  FROM t3, pg_xact_commit_timestamp_origin(t3.xmin) c, pg_replication_origin o, pg_database d
		 WHERE o.roident = c.roident AND d.datname = current_database()}),
		't', $node->name . ': copied rows have the origin of n1');
}

# Nothing was applied twice or found missing.
for my $node ($n1, $n2, $n3)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/insert_exists|update_missing|delete_missing|duplicate key value/,
		$node->name . ': no missing or duplicate rows were met while applying');
}

# The join DSN's password never reaches the view.
unlike($n3->safe_psql('postgres', 'SELECT string_agg(dsn, \',\') FROM mmr.nodes'),
	qr/password=[^*]/, 'no password in mmr.nodes');

done_testing();
