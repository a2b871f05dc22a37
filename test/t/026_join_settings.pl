# A node that joins with a data copy gets the group's replicated settings
# made before it joined (docs/join.md, "Replicated catalogs"): conflict
# resolvers (built-in and custom), node priorities, table and row writers.
# It then enforces the write partitioning, with exactly one set of check
# triggers, and resolves a concurrent update conflict like the others.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my $schema = q{
	CREATE TABLE tfirst (id integer PRIMARY KEY, v text);
	CREATE TABLE tmerge (id integer PRIMARY KEY, v text);
	CREATE TABLE torigin (id integer PRIMARY KEY, v text);
	CREATE TABLE tonly1 (id integer PRIMARY KEY, v text);
	CREATE TABLE towned (id integer PRIMARY KEY, owner text, v text);
	-- Deterministic and symmetric: every node merges alike.
	CREATE FUNCTION tmerge_both(l tmerge, r tmerge, t text) RETURNS tmerge
	    LANGUAGE sql AS $$
	    SELECT ROW(r.id, least(l.v, r.v) || '+' || greatest(l.v, r.v))::tmerge $$;
};
my ($n1, $n2, $n3) = map { mmr_node("n$_") } 1 .. 3;
ct_sql($_, $schema) for ($n1, $n2);
mmr_two_node_group($n1, $n2);

# The settings, made on both members before n3 joins.
ct_sql($n1, q{SELECT mmr.set_conflict_resolver('tfirst', 'first_update_wins')});
ct_sql($n2, q{SELECT mmr.set_conflict_resolver_function('tmerge', 'tmerge_both(tmerge,tmerge,text)')});
ct_sql($n2, q{SELECT mmr.set_conflict_resolver('torigin', 'origin_wins')});
ct_sql($n1, q{SELECT mmr.set_conflict_resolver('torigin', 'last_update_wins', 'delete_origin_differs')});
ct_sql($n1, q{SELECT mmr.set_node_priority('n2', 7)});
ct_sql($n2, q{SELECT mmr.set_table_writer('tonly1', 'n1')});
ct_sql($n1, q{SELECT mmr.set_row_writer_column('towned', 'owner')});
ct_sql($n1, q{
	INSERT INTO tfirst VALUES (1, 'start');
	INSERT INTO tmerge VALUES (1, 'start');
	INSERT INTO torigin VALUES (1, 'start');
	INSERT INTO tonly1 VALUES (1, 'n1 wrote it');
	INSERT INTO towned VALUES (1, 'n1', 'n1 owns it');
});
ct_wait_applied($n1, 'n2');
ct_wait_applied($n2, 'n1');

my %catalog = (
	'mmr.conflict_resolver' =>
	  q{SELECT string_agg(format('%s.%s %s %s', relation_schema, relation_name, conflict_type,
	                             coalesce(resolver, resolver_function)), ' '
	                  ORDER BY relation_schema, relation_name, conflict_type)
	      FROM mmr.conflict_resolver},
	'mmr.write_partition' =>
	  q{SELECT string_agg(format('%s.%s %s %s', relation_schema, relation_name,
	                             writer_node, writer_column), ' '
	                  ORDER BY relation_schema, relation_name)
	      FROM mmr.write_partition},
	'node priorities' =>
	  q{SELECT string_agg(node_name || '=' || priority, ' ' ORDER BY node_name) FROM mmr.nodes
	     WHERE node_name IN ('n1', 'n2')},
	'check triggers' =>
	  q{SELECT string_agg(tgrelid::regclass || '.' || tgname, ' ' ORDER BY tgrelid::regclass::text, tgname)
	    FROM pg_trigger
	     WHERE tgname LIKE 'mmr\_write\_partition%'},
);
my %on_n1 = map { $_ => ct_sql($n1, $catalog{$_}) } keys %catalog;
is($on_n1{'check triggers'},
	'tonly1.mmr_write_partition tonly1.mmr_write_partition_statement '
	  . 'towned.mmr_write_partition towned.mmr_write_partition_statement',
	'n1: one row and one statement check trigger per partitioned table');

# n3 joins with the copy; its log must show no trigger error.
my $log_offset = -s $n3->logfile;
mmr_join_with_copy($n3, $n1);
for my $node ($n1, $n2, $n3)
{
	mmr_wait_until($node,
		"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
}
unlike(slurp_file($n3->logfile, $log_offset), qr/already exists|join of node "n3" failed/,
	'n3: the join met no "already exists" error');
is(ct_sql($n3, 'SELECT phase FROM mmr.join_status'), 'ready', 'n3: joined');
for my $what (sort keys %catalog)
{
	is(ct_sql($n3, $catalog{$what}), $on_n1{$what}, "n3: $what as on n1");
}

# The partitioning is enforced on n3, and changes nothing when it refuses.
my ($ret, $out, $err) = $n3->psql('postgres', q{INSERT INTO tonly1 VALUES (3, 'n3')});
like($err, qr/table "public\.tonly1" may only be written on node "n1"/,
	'n3: a write of another node\'s table is refused');
($ret, $out, $err) = $n3->psql('postgres', q{UPDATE towned SET v = 'n3 was here' WHERE id = 1});
like($err, qr/row of table "public\.towned" belongs to node "n1"/,
	'n3: an update of another node\'s row is refused');
($ret, $out, $err) = $n3->psql('postgres', q{INSERT INTO towned VALUES (2, 'n1', 'n3')});
like($err, qr/new row of table "public\.towned" belongs to node "n1"/,
	'n3: an insert of a row for another node is refused');
ct_sql($n3, q{INSERT INTO towned VALUES (3, 'n3', 'n3 owns it')});
ct_wait_applied($n3, 'n1', 'n2');
for my $node ($n1, $n2, $n3)
{
	is(ct_sql($node, q{SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM towned}),
		'1:n1 owns it,3:n3 owns it', $node->name . ': towned has the allowed writes only');
	is(ct_sql($node, q{SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM tonly1}),
		'1:n1 wrote it', $node->name . ': tonly1 unchanged');
}

# One concurrent round between n2 (earlier) and n3 (later): neither has
# seen the other's update; n1 gets both.  Every table's resolver decides.
my %since = map { $_->name => ct_last_conflict_id($_) } ($n1, $n2, $n3);
ct_pause_link($n2, 'n3');
ct_pause_link($n3, 'n2');
my $update = q{UPDATE tfirst SET v = '%1$s' WHERE id = 1;
	UPDATE tmerge SET v = '%1$s' WHERE id = 1;
	UPDATE torigin SET v = '%1$s' WHERE id = 1;};
ct_sql($n2, sprintf($update, 'by n2'));
ct_sql($n3, sprintf($update, 'by n3'));
ct_resume_link($n2, 'n3');
ct_resume_link($n3, 'n2');
ct_wait_applied($n2, 'n1', 'n3');
ct_wait_applied($n3, 'n1', 'n2');
ct_wait_applied($n1, 'n2', 'n3');

my %expected = (
	tfirst => 'by n2',          # first_update_wins: n2 wrote first
	tmerge => 'by n2+by n3',    # the custom function merges
	torigin => 'by n2',         # origin_wins: n2 has priority 7
);
for my $table (sort keys %expected)
{
	for my $node ($n1, $n2, $n3)
	{
		is(ct_sql($node, "SELECT v FROM $table WHERE id = 1"), $expected{$table},
			$node->name . ": $table resolved by its resolver");
	}
}

# n3 met the conflicts itself, and named the resolvers that were copied.
is(ct_sql($n3, qq{
		SELECT string_agg(relation || ' ' || conflict_type || ' ' || resolution || ' ' || resolver,
		                  ', ' ORDER BY relation)
		  FROM mmr.conflict_log WHERE conflict_id > $since{n3}}),
	'public.tfirst update_origin_differs apply_remote first_update_wins, '
	  . 'public.tmerge update_origin_differs merged custom, '
	  . 'public.torigin update_origin_differs apply_remote origin_wins',
	'n3: each conflict was resolved by the copied resolver');

done_testing();
