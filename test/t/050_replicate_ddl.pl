# mmr.replicate_ddl: the command reaches the peer in commit order with the
# data changes, runs there as the same role with the same search_path, and
# a command that fails on the peer stops apply from that peer (state error,
# last_error) until the cause is fixed; then apply resumes with it.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');

for my $node ($n1, $n2)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE items (id integer PRIMARY KEY, v text);
		CREATE ROLE alice;
		CREATE SCHEMA app AUTHORIZATION alice;
	});
}
mmr_two_node_group($n1, $n2);

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q); }

# A column added between two inserts, each its own transaction: the second
# insert, which uses the column, arrives after the column.
sql($n1, "INSERT INTO items VALUES (1, 'before')");
sql($n1, "SELECT mmr.replicate_ddl('ALTER TABLE items ADD COLUMN note text')");
sql($n1, "INSERT INTO items VALUES (2, 'after', 'with note')");

# And inside one transaction, a column with a default.
sql($n1, q{
	BEGIN;
	INSERT INTO items VALUES (3, 'same xact, before');
	SELECT mmr.replicate_ddl('ALTER TABLE items ADD COLUMN n integer DEFAULT 7');
	INSERT INTO items VALUES (4, 'same xact, after', NULL, 8);
	COMMIT;
});
mmr_wait_caught_up($n1);
is( sql($n2, 'SELECT id, v, note, n FROM items ORDER BY id'),
	"1|before||7\n2|after|with note|7\n3|same xact, before||7\n4|same xact, after||8",
	'columns added by replicate_ddl reach n2 in order with the rows around them');

# The new columns work both ways.
sql($n2, "INSERT INTO items VALUES (5, 'from n2', 'n2 note', 9)");
mmr_wait_caught_up($n2);
is(sql($n1, 'SELECT note, n FROM items WHERE id = 5'), 'n2 note|9',
	'a row using the new columns replicates from n2 to n1');

# The peer runs it as the same role, with the same search_path.
sql($n1, 'GRANT EXECUTE ON FUNCTION mmr.replicate_ddl(text) TO alice');
sql($n1, q{
	SET ROLE alice;
	SET search_path = app;
	SELECT mmr.replicate_ddl('CREATE TABLE owned (id integer PRIMARY KEY)');
});
mmr_wait_caught_up($n1);
is( sql($n2, q{SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'owned'}),
	'app|alice', 'n2 created the table in the same schema, owned by the same role');
sql($n1, 'INSERT INTO app.owned VALUES (1)');
mmr_wait_caught_up($n1);
is(sql($n2, 'SELECT count(*) FROM app.owned'), '1', 'the new table replicates at once');

# Refused: not DDL, temporary, CONCURRENTLY, CREATE TABLE AS.
my ($rc, $out, $err) = $n1->psql('postgres',
	q{SELECT mmr.replicate_ddl('INSERT INTO items VALUES (100)')});
like($err, qr/mmr.replicate_ddl\(\) accepts only DDL commands/, 'DML is refused');
($rc, $out, $err) = $n1->psql('postgres',
	q{SELECT mmr.replicate_ddl('CREATE TEMP TABLE tmp (id int)')});
like($err, qr/temporary objects are not replicated/, 'a temporary table is refused');
($rc, $out, $err) = $n1->psql('postgres',
	q{SELECT mmr.replicate_ddl('CREATE TABLE x (id int); CREATE INDEX CONCURRENTLY ON items (v)')});
like($err, qr/CREATE INDEX CONCURRENTLY cannot be replicated/,
	'a command mixing a replicable statement with CONCURRENTLY is refused whole');
is(sql($n1, q{SELECT count(*) FROM pg_class WHERE relname = 'x'}), '0',
	'and nothing of it ran');

# A command that fails on n2 stops apply from n1 there, with the error.
sql($n2, 'CREATE TABLE blocker (id integer)');
sql($n1, "SELECT mmr.replicate_ddl('CREATE TABLE blocker (id integer PRIMARY KEY)')");
sql($n1, "INSERT INTO items VALUES (10, 'after the failing DDL')");
mmr_wait_until($n2,
	q{SELECT state = 'error' AND last_error LIKE 'DDL from peer "n1" failed on this node: relation "blocker" already exists%' FROM mmr.replication_status WHERE peer_name = 'n1'});
like(sql($n2, q{SELECT last_error FROM mmr.replication_status}),
	qr/The command was: CREATE TABLE blocker/, 'last_error names the command');
is(sql($n2, 'SELECT count(*) FROM items WHERE id = 10'), '0',
	'nothing after the failing DDL is applied');

# Writes from n2 still reach n1 meanwhile.
sql($n2, "INSERT INTO items VALUES (11, 'n2 while stopped')");
mmr_wait_until($n1, 'SELECT count(*) = 1 FROM items WHERE id = 11');

# Fixed: apply retries the command and goes on.
sql($n2, 'DROP TABLE blocker');
mmr_wait_until($n2, 'SELECT count(*) = 1 FROM items WHERE id = 10');
is( sql($n2, q{SELECT count(*) FROM pg_index WHERE indrelid = 'blocker'::regclass AND indisprimary}),
	'1', 'after the fix, n2 created the table as n1 did');
mmr_wait_until($n2,
	q{SELECT state = 'streaming' FROM mmr.replication_status WHERE peer_name = 'n1'});
is( sql($n1, 'SELECT count(*), sum(id) FROM items'),
	sql($n2, 'SELECT count(*), sum(id) FROM items'), 'both nodes have the same rows');

done_testing();
