# Write partitioning (SPEC 3, docs/write_partitioning.md): a table written
# only by n1 refuses local writes on n2 with a clear error while n1's writes
# reach n2; rows owned by a region column refuse other nodes' rows on
# INSERT, UPDATE (old and new row), DELETE, COPY, MERGE, INSERT ... ON
# CONFLICT and TRUNCATE, while the owners' changes replicate everywhere;
# the settings replicate (also their removal), without restarts.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');
for my $node ($n1, $n2)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE only_n1 (id integer PRIMARY KEY, v text);
		CREATE TABLE regional (id integer PRIMARY KEY, region text NOT NULL, v text);
		CREATE TABLE free (id integer PRIMARY KEY);
	});
}
mmr_two_node_group($n1, $n2);

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q); }

# psql's error text for a statement that must fail.
sub refused
{
	my ($node, $q) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $q);
	return $rc == 0 ? "(no error: $out)" : $err;
}

sub pids { return join ',', map { sql($_, 'SELECT worker_pid FROM mmr.replication_status') } ($n1, $n2); }
my $pids = pids();

# --- By table: n1 is the only writer.
sql($n1, q{SELECT mmr.set_table_writer('only_n1', 'n1')});
mmr_wait_caught_up($n1);
is(sql($n2, q{SELECT relation_name || ' ' || writer_node FROM mmr.write_partition}),
	'only_n1 n1', 'the table writer setting replicated to n2');
is(sql($n2, q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'only_n1'::regclass AND tgname LIKE 'mmr_write%'}),
	'mmr_write_partition,mmr_write_partition_statement', 'n2 installed the check when it applied the setting');

sql($n1, q{INSERT INTO only_n1 SELECT g, 'from n1' FROM generate_series(1, 10) g});
for my $stmt (q{INSERT INTO only_n1 VALUES (100, 'from n2')},
	q{UPDATE only_n1 SET v = 'n2 was here'},
	q{UPDATE only_n1 SET v = 'no such row' WHERE id = -1},
	q{DELETE FROM only_n1},
	q{TRUNCATE only_n1},
	qq{COPY only_n1 FROM stdin;\n101\tcopied\n\\.\n},
	q{INSERT INTO only_n1 VALUES (1, 'upsert') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v})
{
	mmr_wait_caught_up($n1);
	like(refused($n2, $stmt),
		qr/ERROR:  table "public.only_n1" may only be written on node "n1"\nDETAIL:  This is node "n2"/,
		"n2 refuses: " . (split /\n/, $stmt)[0]);
}
sql($n1, q{UPDATE only_n1 SET v = 'updated on n1' WHERE id <= 5; DELETE FROM only_n1 WHERE id = 10});
mmr_wait_caught_up($n1);
is(sql($n2, q{SELECT count(*) || ' ' || count(*) FILTER (WHERE v = 'updated on n1') FROM only_n1}),
	'9 5', "n1's inserts, updates and deletes reached n2, and n2's attempts changed nothing");
sql($n2, q{INSERT INTO free VALUES (1)});
pass('a table without a setting is written freely on n2');

# --- By row: the setting is made on n2 and reaches n1.
sql($n2, q{SELECT mmr.set_row_writer_column('regional', 'region')});
mmr_wait_caught_up($n2);
is(sql($n1, q{SELECT relation_name || ' ' || writer_column FROM mmr.write_partition WHERE relation_name = 'regional'}),
	'regional region', 'the row writer setting replicated to n1');
sql($n1, q{INSERT INTO regional VALUES (1, 'n1', 'a'), (2, 'n1', 'b')});
sql($n2, q{INSERT INTO regional VALUES (11, 'n2', 'a'), (12, 'n2', 'b')});
mmr_wait_caught_up($n1);
mmr_wait_caught_up($n2);
is(sql($n1, 'SELECT count(*) FROM regional') . '/' . sql($n2, 'SELECT count(*) FROM regional'),
	'4/4', "each node's own rows replicated to the other");

my %foreign = (
	'INSERT' => [ q{INSERT INTO regional VALUES (3, 'n2', 'x')}, qr/new row of table "public.regional" belongs to node "n2"/ ],
	'UPDATE of their row' => [ q{UPDATE regional SET v = 'x' WHERE id = 11}, qr/ERROR:  row of table "public.regional" belongs to node "n2"/ ],
	'UPDATE giving a row away' => [ q{UPDATE regional SET region = 'n2' WHERE id = 1}, qr/new row of table "public.regional" belongs to node "n2"/ ],
	'UPDATE taking a row over' => [ q{UPDATE regional SET region = 'n1' WHERE id = 12}, qr/ERROR:  row of table "public.regional" belongs to node "n2"/ ],
	'DELETE' => [ q{DELETE FROM regional WHERE id = 12}, qr/ERROR:  row of table "public.regional" belongs to node "n2"/ ],
	'COPY FROM' => [ qq{COPY regional FROM stdin;\n4\tn1\tok\n5\tn2\tnot ok\n\\.\n}, qr/new row of table "public.regional" belongs to node "n2"/ ],
	'ON CONFLICT DO UPDATE' => [ q{INSERT INTO regional VALUES (11, 'n1', 'x') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v}, qr/ERROR:  row of table "public.regional" belongs to node "n2"/ ],
	'MERGE' => [ q{MERGE INTO regional r USING (VALUES (12)) s(id) ON r.id = s.id WHEN MATCHED THEN UPDATE SET v = 'merged'}, qr/ERROR:  row of table "public.regional" belongs to node "n2"/ ],
	'TRUNCATE' => [ q{TRUNCATE regional}, qr/cannot truncate table "public.regional": its rows belong to the nodes that column "region" names/ ],
	'NULL region' => [ q{UPDATE regional SET region = NULL WHERE id = 1}, qr/new row of table "public.regional" belongs to no node|null value/ ],
);
for my $what (sort keys %foreign)
{
	like(refused($n1, $foreign{$what}[0]), $foreign{$what}[1], "n1 refuses $what of n2's rows");
}
like(refused($n1, q{UPDATE regional SET v = 'x' WHERE id = 11}), qr/HINT:  Write this row on node "n2"/,
	'the error says where the row may be written');
is(sql($n1, q{SELECT string_agg(id || region || v, ',' ORDER BY id) FROM regional}),
	'1n1a,2n1b,11n2a,12n2b', 'none of the refused statements changed anything on n1');

sql($n1, q{UPDATE regional SET v = 'n1 edit' WHERE id = 1; DELETE FROM regional WHERE id = 2});
sql($n1, qq{COPY regional FROM stdin;\n3\tn1\tcopied\n\\.\n});
sql($n1, q{MERGE INTO regional r USING (VALUES (3)) s(id) ON r.id = s.id WHEN MATCHED THEN UPDATE SET v = 'merged'});
sql($n2, q{UPDATE regional SET v = 'n2 edit' WHERE id = 11});
mmr_wait_caught_up($n1);
mmr_wait_caught_up($n2);
my $want = '1n1n1 edit,3n1merged,11n2n2 edit,12n2b';
is(sql($n1, q{SELECT string_agg(id || region || v, ',' ORDER BY id) FROM regional}), $want,
	"n1 has every node's own writes");
is(sql($n2, q{SELECT string_agg(id || region || v, ',' ORDER BY id) FROM regional}), $want,
	'n2 has the same rows: replicated changes are never refused');
for my $node ($n1, $n2)
{
	is(sql($node, q{SELECT count(*) FROM mmr.replication_status WHERE state <> 'streaming'}), '0',
		$node->name . ' applies without error');
	is(sql($node, 'SELECT count(*) FROM mmr.conflict_log'), '0', $node->name . ' logged no conflict');
}

# --- Turning off (NULL) replicates too.
sql($n1, q{SELECT mmr.set_row_writer_column('regional', NULL)});
sql($n2, q{SELECT mmr.set_table_writer('only_n1', NULL)});
mmr_wait_caught_up($n1);
mmr_wait_caught_up($n2);
for my $node ($n1, $n2)
{
	is(sql($node, q{SELECT count(*) FROM mmr.write_partition}), '0', $node->name . ' has no setting left');
	is(sql($node, q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmr_write_partition%'}), '0',
		$node->name . ' removed the checks');
}
sql($n1, q{UPDATE regional SET v = 'now n1 may' WHERE id = 11});
sql($n2, q{INSERT INTO only_n1 VALUES (100, 'now n2 may')});
mmr_wait_caught_up($n1);
mmr_wait_caught_up($n2);
is(sql($n2, q{SELECT v FROM regional WHERE id = 11}) . '/' . sql($n1, q{SELECT v FROM only_n1 WHERE id = 100}),
	'now n1 may/now n2 may', 'after turning off, every node writes every row, and it replicates');
is(pids(), $pids, 'no apply worker restarted for any of these settings');

done_testing();
