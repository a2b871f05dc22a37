# Unchanged TOASTed values of a remote UPDATE (docs/apply.md): the change
# cannot carry them, so a row built without the local row's values (the
# row is missing here) or over a local row it beat in a conflict takes the
# sender's values: from the whole old row under REPLICA IDENTITY FULL, else
# fetched from the origin.  Never a row with a value lost or stale: both
# nodes end with identical rows (md5 of the whole row).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

# big: out of line (STORAGE EXTERNAL, > 2 kB), so an UPDATE that does not
# set it leaves it unchanged and unsent.
my $schema = q{
	CREATE TABLE t (id integer PRIMARY KEY, v text, big text);
	ALTER TABLE t ALTER big SET STORAGE EXTERNAL;
	CREATE TABLE t_full (id integer PRIMARY KEY, v text, big text);
	ALTER TABLE t_full ALTER big SET STORAGE EXTERNAL;
	ALTER TABLE t_full REPLICA IDENTITY FULL;
	CREATE TABLE t_vc (k varchar PRIMARY KEY, v text, big text);
	ALTER TABLE t_vc ALTER big SET STORAGE EXTERNAL;
	CREATE TABLE t_merge (id integer PRIMARY KEY, v text, big text);
	ALTER TABLE t_merge ALTER big SET STORAGE EXTERNAL;
	CREATE FUNCTION merge_t(l t_merge, r t_merge, kind text) RETURNS t_merge LANGUAGE sql AS
	  $$SELECT r.id, greatest(l.v, r.v), CASE WHEN md5(l.big) > md5(r.big) THEN l.big ELSE r.big END$$;};
my ($a, $b) = ct_group($schema);

# A 3,200-byte incompressible value for SEED.
sub big { my ($seed) = @_; return "(SELECT string_agg(md5('$seed' || i), '') FROM generate_series(1, 100) i)"; }

# md5 of the value for SEED, computed by a server.
sub big_md5 { my ($seed) = @_; return ct_sql($a, 'SELECT md5(' . big($seed) . ')'); }

# "v md5(big)" of row ID of TABLE, and md5 of the whole row, on NODE.
sub row_of
{
	my ($node, $table, $id) = @_;
	return ct_sql($node,
		"SELECT coalesce((SELECT v || ' ' || md5(big) FROM $table WHERE id = $id), 'none')");
}

sub row_md5
{
	my ($node, $table, $id) = @_;
	return ct_sql($node,
		"SELECT coalesce((SELECT md5(x::text) FROM $table x WHERE id = $id), 'none')");
}

sub fetch_connections
{
	my ($node) = @_;
	return ct_sql($node,
		q{SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'mmr fetch %'});
}

sub insert_everywhere
{
	my ($table, $id, $seed) = @_;
	ct_sql($a, "INSERT INTO $table VALUES ($id, 'orig', " . big($seed) . ')');
	mmr_wait_caught_up($a);
	return;
}

# update_missing: b lost row ID without a trace; a's update of v rebuilds
# it whole on b.
sub update_missing_case
{
	my ($table, $id, $label) = @_;
	insert_everywhere($table, $id, "$table $id");
	ct_sql($b, ct_unreplicated_sql("DELETE FROM $table WHERE id = $id"));
	my $cb = ct_last_conflict_id($b);
	ct_sql($a, "UPDATE $table SET v = 'a2' WHERE id = $id");
	mmr_wait_caught_up($a);
	is(row_of($b, $table, $id), 'a2 ' . big_md5("$table $id"), "$label update_missing: b inserted the whole row");
	is(row_md5($b, $table, $id), row_md5($a, $table, $id), "$label update_missing: rows identical");
	is(ct_conflicts_since($b, $cb, $table),
		qq{update_missing apply_remote last_update_wins <-a key={"id": $id} local= resolved=a2},
		"$label update_missing: logged as apply_remote");
	return;
}

# a changes big, b later changes v: b's whole row wins on both, with the big
# b had, not a's.  Without the sender's value a would keep its own big under
# b's row, and b its own: different for good.
sub concurrent_case
{
	my ($table, $id, $label) = @_;
	insert_everywhere($table, $id, "$table $id");
	my ($la, $lb) = ct_round($a, $b, $table,
		"UPDATE $table SET big = " . big("$table $id new") . " WHERE id = $id",
		"UPDATE $table SET v = 'b' WHERE id = $id");
	is(row_of($a, $table, $id), 'b ' . big_md5("$table $id"), "$label concurrent: a took b's row with b's big");
	is(row_md5($a, $table, $id), row_md5($b, $table, $id), "$label concurrent: rows identical");
	is($la, qq{update_origin_differs apply_remote last_update_wins a<-b key={"id": $id} local=orig resolved=b},
		"$label concurrent: a logged apply_remote");
	return $lb;
}

# The precondition of every case: the value is stored out of line.
insert_everywhere('t', 1, 'probe');
my $toast = ct_sql($b, q{SELECT reltoastrelid::regclass FROM pg_class WHERE relname = 't'});
is(ct_sql($b, "SELECT count(*) > 0 FROM $toast"), 't', 'big is stored out of line');

# --- REPLICA IDENTITY FULL: the whole old row holds the sender's values.

update_missing_case('t_full', 2, 'RI FULL:');
concurrent_case('t_full', 3, 'RI FULL:');

# A plain UPDATE that meets its row without a conflict keeps the local
# value, which is the sender's: nothing to fetch.
ct_sql($a, q{UPDATE t SET v = 'plain' WHERE id = 1});
mmr_wait_caught_up($a);
is(row_md5($b, 't', 1), row_md5($a, 't', 1), 'no conflict: the row is alike');
is(fetch_connections($a) . fetch_connections($b), '00',
	'nothing was fetched for RI FULL or for an UPDATE without a conflict');

# --- Without a whole old row: the values are fetched from the origin.

# The origin refuses connections: apply stops with the reason (and never
# stores the row without its value), then recovers.
insert_everywhere('t', 9, 'b9');
ct_sql($b, ct_unreplicated_sql('DELETE FROM t WHERE id = 9'));
ct_pause_link($b, 'a');
ct_sql($a, q{UPDATE t SET v = 'a2' WHERE id = 9});
$a->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS false');
my $log_offset = -s $b->logfile;
ct_sql($b, q{SELECT mmr.apply_resume('a')});
$b->wait_for_log(
	qr/ERROR:  could not fetch unchanged TOASTed values of table "public\.t" from origin node "a"\n[^\n]*DETAIL:  could not connect to [^\n]*database "postgres" is not currently accepting connections/,
	$log_offset);
mmr_wait_until($b,
	q{SELECT state <> 'streaming' AND last_error LIKE '%is not currently accepting connections%' FROM mmr.replication_status});
is(row_of($b, 't', 9), 'none', 'origin unreachable: the row is not stored without its value');
$a->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS true');
mmr_wait_until($b, q{SELECT state = 'streaming' FROM mmr.replication_status});
mmr_wait_caught_up($a);
is(row_of($b, 't', 9), 'a2 ' . big_md5('b9'), 'origin reachable again: b inserted the whole row');
is(row_md5($b, 't', 9), row_md5($a, 't', 9), 'and the rows are identical');

update_missing_case('t', 10, 'fetched:');

# update_deleted -> apply_remote: b deletes row 11, a updates v later.
insert_everywhere('t', 11, 'b11');
my ($lb11) = ct_round($b, $a, 't', q{DELETE FROM t WHERE id = 11},
	q{UPDATE t SET v = 'a2' WHERE id = 11});
is(row_of($b, 't', 11), 'a2 ' . big_md5('b11'), 'update_deleted: b inserted the whole row');
is(row_md5($b, 't', 11), row_md5($a, 't', 11), 'update_deleted: rows identical');
like($lb11, qr/^update_deleted apply_remote last_update_wins b<-a key=\{"id": 11\}/,
	'update_deleted: b logged apply_remote');

my $lb12 = concurrent_case('t', 12, 'fetched:');
is($lb12, 'update_origin_differs keep_local last_update_wins b<-a key={"id": 12} local=b resolved=b',
	'fetched: concurrent: b logged keep_local');

# A custom resolver sees the sender's row: a merge that keeps the big of
# greater md5 (the old one, by the choice of seeds) converges only if a's
# resolver gets b's big, not a's own.
ct_sql($a, q{SELECT mmr.set_conflict_resolver_function('t_merge', 'merge_t(t_merge,t_merge,text)', 'update_origin_differs')});
my ($old_seed, $new_seed) = ('m40 one', 'm40 two');
($old_seed, $new_seed) = ($new_seed, $old_seed) if big_md5($old_seed) lt big_md5($new_seed);
insert_everywhere('t_merge', 40, $old_seed);
my ($la40) = ct_round($a, $b, 't_merge', 'UPDATE t_merge SET big = ' . big($new_seed) . ' WHERE id = 40',
	q{UPDATE t_merge SET v = 'b' WHERE id = 40});
is(row_of($a, 't_merge', 40), 'orig ' . big_md5($old_seed), 'custom merge: a merged with b\'s big');
is(row_md5($a, 't_merge', 40), row_md5($b, 't_merge', 40), 'custom merge: rows identical');
is($la40, 'update_origin_differs merged custom a<-b key={"id": 40} local=orig resolved=orig',
	'custom merge: a logged merged');

# The origin no longer has the row: a updates row 13 that b lost, then
# deletes it.  b skips the update (logged) and the delete follows.
insert_everywhere('t', 13, 'b13');
ct_sql($b, ct_unreplicated_sql('DELETE FROM t WHERE id = 13'));
ct_pause_link($b, 'a');
my $cb = ct_last_conflict_id($b);
ct_sql($a, q{UPDATE t SET v = 'a2' WHERE id = 13});
ct_sql($a, q{DELETE FROM t WHERE id = 13});
$log_offset = -s $b->logfile;
ct_resume_link($b, 'a');
mmr_wait_caught_up($a);
is(row_of($a, 't', 13) . ' ' . row_of($b, 't', 13), 'none none', 'gone at the origin: the row is gone on both');
like(ct_conflicts_since($b, $cb, 't'),
	qr/^update_missing skip last_update_wins <-a key=\{"id": 13\} local= resolved=\ndelete_missing /,
	'gone at the origin: b logged the update as skipped, then the delete');
ok($b->log_contains(
		qr/skipping a remote UPDATE of table "public\.t": origin node "a" no longer has the row/,
		$log_offset),
	'gone at the origin: the skip is in the server log');

# The fetch runs as the DSN's role: a user's `=` for varchar in public on
# the origin (which its default search_path would pick, pg_catalog having
# none) never runs; the key's own equality operator is used.
ct_sql($a, q{CREATE FUNCTION public.evil_eq(varchar, varchar) RETURNS boolean LANGUAGE plpgsql
	  AS $$BEGIN RAISE EXCEPTION 'evil_eq ran'; END$$;
	CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.evil_eq)});
ct_sql($a, "INSERT INTO t_vc VALUES ('k1', 'orig', " . big('vc1') . ')');
mmr_wait_caught_up($a);
ct_sql($b, ct_unreplicated_sql(q{DELETE FROM t_vc WHERE k::text = 'k1'}));
ct_sql($a, q{UPDATE t_vc SET v = 'a2' WHERE k::text = 'k1'});
mmr_wait_caught_up($a);
is(ct_sql($b, q{SELECT v || ' ' || md5(big) FROM t_vc WHERE k::text = 'k1'}), 'a2 ' . big_md5('vc1'),
	'varchar key with an evil = on the origin: b fetched and inserted the whole row');
ok(!$b->log_contains(qr/evil_eq ran/), 'the origin\'s public = never ran');
ct_sql($a, q{DROP OPERATOR public.= (varchar, varchar); DROP FUNCTION public.evil_eq(varchar, varchar)});

# One connection served every fetch of b's apply worker.
is(fetch_connections($a), '1', 'the fetch connection is kept by the apply worker');
is(ct_sql($_, 'SELECT state FROM mmr.replication_status'), 'streaming',
	'apply on ' . $_->name . ' streams') for ($a, $b);

# A view in place of the table on the origin is refused before anything
# of it runs (the DSN's role would run its functions); the row waits.
insert_everywhere('t', 14, 'b14');
ct_sql($b, ct_unreplicated_sql('DELETE FROM t WHERE id = 14'));
ct_pause_link($b, 'a');
ct_sql($a, q{UPDATE t SET v = 'a2' WHERE id = 14});
ct_sql($a, q{CREATE FUNCTION public.view_fn(text) RETURNS boolean LANGUAGE plpgsql
	  AS $$BEGIN RAISE EXCEPTION 'view_fn ran'; END$$;
	ALTER TABLE t RENAME TO t_real;
	CREATE VIEW t AS SELECT id, v, big FROM t_real WHERE public.view_fn(v)});
$log_offset = -s $b->logfile;
my $a_offset = -s $a->logfile;
ct_sql($b, q{SELECT mmr.apply_resume('a')});
$b->wait_for_log(
	qr/ERROR:  cannot fetch unchanged TOASTed values of table "public\.t" from origin node "a"\n[^\n]*DETAIL:  "public\.t" is not a table on the origin \(relkind "v"\)/,
	$log_offset);
ok(!$a->log_contains(qr/view_fn ran/, $a_offset), 'a view in place of the table: refused, its function never ran');
is(row_of($b, 't', 14), 'none', 'a view in place of the table: the row is not stored');
ct_sql($a, q{DROP VIEW t; ALTER TABLE t_real RENAME TO t; DROP FUNCTION public.view_fn(text)});
mmr_wait_until($b, q{SELECT state = 'streaming' FROM mmr.replication_status});
mmr_wait_caught_up($a);
is(row_of($b, 't', 14), 'a2 ' . big_md5('b14'), 'the table back: b inserted the whole row');

# --- Three nodes: the sender's row holds a third node's change that has
# not arrived here (c changes big, b applies it and changes v; a gets b's
# update first).  b's horizon shows it: a fetches big from b.
my $c = mmr_node('c');
ct_sql($c, $schema);
ct_sql($c, 'CREATE EXTENSION mmr');
ct_sql($c, "SELECT mmr.group_join('c', \$\$" . $c->connstr('postgres') . "\$\$, \$\$"
	  . $a->connstr('postgres') . "\$\$, synchronize_data => false)");
ct_sql($c, "SELECT mmr.wait_for_join('60 s')");
for my $node ($a, $b, $c)
{
	mmr_wait_until($node,
		"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
}
my $ca = ct_last_conflict_id($a);
ct_sql($a, "INSERT INTO t VALUES (30, 'orig', " . big('b30') . ')');
mmr_wait_caught_up($a);
ct_pause_link($a, 'c');
ct_sql($c, 'UPDATE t SET big = ' . big('b30 by c') . ' WHERE id = 30');
ct_wait_applied($c, 'b');
ct_sql($b, q{UPDATE t SET v = 'b' WHERE id = 30});
ct_wait_applied($b, 'a', 'c');
is(row_of($a, 't', 30), 'b ' . big_md5('b30 by c'), 'three nodes: a took big from b, c\'s');
ct_resume_link($a, 'c');
mmr_wait_caught_up($_) for ($a, $b, $c);
is(row_md5($a, 't', 30) . ' ' . row_md5($c, 't', 30), row_md5($b, 't', 30) . ' ' . row_md5($b, 't', 30),
	'three nodes: rows identical on all three');
is(ct_conflicts_since($a, $ca, 't'),
	'update_origin_differs keep_local last_update_wins b<-c key={"id": 30} local=b resolved=b',
	'three nodes: b\'s update was no conflict on a, c\'s late one lost');

done_testing();
