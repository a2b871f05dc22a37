# Resolver settings replicate and change decisions without restarting
# apply workers; custom SQL resolvers merge (merged), skip (NULL) or fail
# (error: apply stops, nothing is lost, and it resumes once the resolver is
# changed), and run as the table's non-superuser owner.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my $schema = q{
	CREATE ROLE alice;
	CREATE TABLE t (id integer PRIMARY KEY, v text);
	CREATE TABLE t2 (id integer PRIMARY KEY, v text);
	CREATE TABLE pt (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
	CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (100);
	CREATE TABLE acct (id integer PRIMARY KEY, balance integer, note text);
	ALTER TABLE acct OWNER TO alice;
	-- Deterministic, so both nodes merge alike; records who ran it.
	CREATE FUNCTION acct_merge(l acct, r acct, t text) RETURNS acct
	    LANGUAGE plpgsql AS $$
	BEGIN
	    RETURN ROW(r.id, coalesce(l.balance, 0) + r.balance,
	               current_user || ':' || t)::acct;
	END $$;
	CREATE FUNCTION acct_skip(l acct, r acct, t text) RETURNS acct
	    LANGUAGE sql AS $$ SELECT NULL::acct $$;
	CREATE FUNCTION acct_raise(l acct, r acct, t text) RETURNS acct
	    LANGUAGE plpgsql AS $$
	BEGIN
	    RAISE EXCEPTION 'acct_raise refuses % of row %', t, r.id;
	END $$;
};
my ($a, $b) = ct_group($schema);

# One concurrent round: $on_a on a, then $on_b on b (later), then resume.
sub round
{
	my ($on_a, $on_b) = @_;
	ct_pause_both($a, $b);
	ct_sql($a, $on_a);
	ct_sql($b, $on_b);
	ct_resume_and_settle($a, $b);
}

sub worker_pids
{
	return join(',', map { ct_sql($_, 'SELECT worker_pid FROM mmr.replication_status') } ($a, $b));
}

sub last_conflict
{
	my ($node, $relation) = @_;
	return ct_sql($node, qq{
		SELECT conflict_type || ' ' || resolution || ' ' || resolver
		  FROM mmr.conflict_log WHERE relation = '$relation'
		 ORDER BY conflict_id DESC LIMIT 1});
}

# Settings made on a reach b: resolvers and node priorities.
ct_sql($a, q{SELECT mmr.set_conflict_resolver('t', 'first_update_wins')});
ct_sql($a, q{SELECT mmr.set_node_priority('a', 10)});
mmr_wait_caught_up($a);
is( ct_sql($b, q{SELECT relation_name || ' ' || conflict_type || ' ' || resolver FROM mmr.conflict_resolver}),
	't * first_update_wins', 'the resolver setting replicated to b');
is(ct_sql($b, q{SELECT priority FROM mmr.nodes WHERE node_name = 'a'}), '10',
	'the node priority replicated to b');

# They decide at once, without restarting the apply workers.
my $pids = worker_pids();
round(q{INSERT INTO t VALUES (1, 'from a')}, q{INSERT INTO t VALUES (1, 'from b')});
is(ct_sql($a, 'SELECT v FROM t WHERE id = 1') . '/' . ct_sql($b, 'SELECT v FROM t WHERE id = 1'),
	'from a/from a', 'first_update_wins: the earlier insert (a) wins on both');
is(last_conflict($b, 'public.t'), 'insert_exists apply_remote first_update_wins',
	'b resolved insert_exists with first_update_wins');

ct_sql($b, q{SELECT mmr.set_conflict_resolver('t', 'origin_wins')});
mmr_wait_caught_up($b);
round(q{UPDATE t SET v = 'a2' WHERE id = 1}, q{UPDATE t SET v = 'b2' WHERE id = 1});
is(ct_sql($a, 'SELECT v FROM t WHERE id = 1') . '/' . ct_sql($b, 'SELECT v FROM t WHERE id = 1'),
	'a2/a2', 'origin_wins: a (priority 10) wins although b wrote later');
is(last_conflict($b, 'public.t'), 'update_origin_differs apply_remote origin_wins',
	'b resolved update_origin_differs with origin_wins, set on b itself');

# A per-type setting wins over the table's '*' one.
ct_sql($a, q{SELECT mmr.set_conflict_resolver('t', 'last_update_wins', 'update_origin_differs')});
mmr_wait_caught_up($a);
round(q{UPDATE t SET v = 'a3' WHERE id = 1}, q{UPDATE t SET v = 'b3' WHERE id = 1});
is(ct_sql($a, 'SELECT v FROM t WHERE id = 1') . '/' . ct_sql($b, 'SELECT v FROM t WHERE id = 1'),
	'b3/b3', 'the per-type last_update_wins overrides origin_wins');

# A partition takes its partitioned table's setting.
ct_sql($a, q{SELECT mmr.set_conflict_resolver('pt', 'first_update_wins')});
mmr_wait_caught_up($a);
round(q{INSERT INTO pt VALUES (1, 'from a')}, q{INSERT INTO pt VALUES (1, 'from b')});
is(ct_sql($a, 'SELECT v FROM pt') . '/' . ct_sql($b, 'SELECT v FROM pt'),
	'from a/from a', 'the partitioned table\'s first_update_wins decides for its partition');

# mmr.default_conflict_resolver applies to tables without a setting, and a
# reload is enough.
for my $node ($a, $b)
{
	ct_sql($node, q{ALTER SYSTEM SET mmr.default_conflict_resolver = 'first_update_wins'});
	ct_sql($node, q{SELECT pg_reload_conf()});
	mmr_wait_until($node, q{SELECT current_setting('mmr.default_conflict_resolver') = 'first_update_wins'});
}
round(q{INSERT INTO t2 VALUES (1, 'from a')}, q{INSERT INTO t2 VALUES (1, 'from b')});
is(ct_sql($a, 'SELECT v FROM t2') . '/' . ct_sql($b, 'SELECT v FROM t2'),
	'from a/from a', 'the GUC decides for a table without a setting');
for my $node ($a, $b)
{
	ct_sql($node, q{ALTER SYSTEM RESET mmr.default_conflict_resolver});
	ct_sql($node, q{SELECT pg_reload_conf()});
}
is(worker_pids(), $pids, 'no apply worker restarted for any of these changes');

# A custom merge resolver: both nodes store the same merged row, computed as
# the table's owner.
ct_sql($a, q{SELECT mmr.set_conflict_resolver_function('acct', 'acct_merge(acct,acct,text)')});
mmr_wait_caught_up($a);
round(q{INSERT INTO acct VALUES (1, 10, 'a')}, q{INSERT INTO acct VALUES (1, 20, 'b')});
is(ct_sql($a, 'SELECT balance, note FROM acct WHERE id = 1'), '30|alice:insert_exists',
	'merged on a, by the owner alice');
is(ct_sql($b, 'SELECT balance, note FROM acct WHERE id = 1'), '30|alice:insert_exists',
	'merged alike on b');
for my $node ($a, $b)
{
	is( ct_sql($node, q{SELECT conflict_type || ' ' || resolution || ' ' || resolver || ' ' || (resolved_row ->> 'balance')
	                   FROM mmr.conflict_log WHERE relation = 'public.acct' ORDER BY conflict_id DESC LIMIT 1}),
		'insert_exists merged custom 30', 'the log of ' . $node->name . ' says merged');
}

# A resolver that returns NULL: the remote change is skipped, the local row
# stays (each node keeps its own: the function's author chose so).
ct_sql($a, q{SELECT mmr.set_conflict_resolver_function('acct', 'acct_skip(acct,acct,text)')});
mmr_wait_caught_up($a);
round(q{UPDATE acct SET balance = 1 WHERE id = 1}, q{UPDATE acct SET balance = 2 WHERE id = 1});
is(ct_sql($a, 'SELECT balance FROM acct WHERE id = 1') . '/' . ct_sql($b, 'SELECT balance FROM acct WHERE id = 1'),
	'1/2', 'NULL: each node kept its local row');
is(last_conflict($a, 'public.acct') . '/' . last_conflict($b, 'public.acct'),
	'update_origin_differs skip custom/update_origin_differs skip custom', 'both logged skip');
ct_sql($a, q{UPDATE acct SET balance = 3 WHERE id = 1});
mmr_wait_caught_up($a);
is(ct_sql($b, 'SELECT balance FROM acct WHERE id = 1'), '3', 'a later update, made after seeing b\'s, applies');

# A resolver that raises: apply stops with its message, nothing is lost, and
# once the resolver is changed (on each node: neither receives the other's
# setting while its apply is stopped) both converge.
ct_sql($a, q{SELECT mmr.set_conflict_resolver_function('acct', 'acct_raise(acct,acct,text)')});
mmr_wait_caught_up($a);
ct_pause_both($a, $b);
ct_sql($a, q{INSERT INTO acct VALUES (2, 100, 'a')});
ct_sql($b, q{INSERT INTO acct VALUES (2, 200, 'b')});
ct_sql($_, 'SELECT mmr.apply_resume()') for ($a, $b);
for my $node ($a, $b)
{
	mmr_wait_until($node, q{SELECT state = 'error' AND last_error LIKE '%acct_raise refuses insert_exists of row 2%'
	                          FROM mmr.replication_status});
}
pass('both apply workers stopped with the resolver\'s message');
is(ct_sql($a, 'SELECT balance FROM acct WHERE id = 2') . '/' . ct_sql($b, 'SELECT balance FROM acct WHERE id = 2'),
	'100/200', 'while stopped, each node has only its own row');
for my $node ($a, $b)
{
	is(ct_sql($node, q{SELECT count(*) > 0 FROM mmr.conflict_log WHERE relation = 'public.acct' AND resolution = 'error'}),
		't', 'the error resolution is logged on ' . $node->name);
}
ct_sql($_, q{SELECT mmr.set_conflict_resolver('acct', 'last_update_wins')}) for ($a, $b);
for my $node ($a, $b)
{
	mmr_wait_until($node, q{SELECT state = 'streaming' FROM mmr.replication_status});
}
mmr_wait_caught_up($a);
mmr_wait_caught_up($b);
is(ct_sql($a, 'SELECT balance FROM acct WHERE id = 2') . '/' . ct_sql($b, 'SELECT balance FROM acct WHERE id = 2'),
	'200/200', 'after the change, apply resumed and the later row won on both');
is( ct_sql($a, q{SELECT string_agg(format('%s,%s,%s', id, balance, note), ' ' ORDER BY id) FROM acct}),
	ct_sql($b, q{SELECT string_agg(format('%s,%s,%s', id, balance, note), ' ' ORDER BY id) FROM acct}),
	'acct is the same on both nodes');

done_testing();
