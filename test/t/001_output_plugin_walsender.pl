# The mmr output plugin over a real replication connection: the walsender
# streams exactly the messages that the SQL interface returns, and the
# plugin works without mmr being preloaded.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $node = mmr_node('walsender');
$node->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE accounts (id integer PRIMARY KEY, owner text, balance numeric);
	SELECT pg_create_logical_replication_slot('via_sql', 'mmr');
});

# The same slot kind created through the replication protocol.
my $repl_connstr = $node->connstr('postgres') . ' replication=database';
my ($stdout, $stderr);
$node->psql('postgres', 'CREATE_REPLICATION_SLOT via_walsender LOGICAL mmr',
	extra_params => [ '-d', $repl_connstr ],
	stdout => \$stdout, stderr => \$stderr, on_error_die => 1);
like($stdout, qr/via_walsender/, 'slot created over the replication protocol');

$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 200) g;
	COMMIT;
	UPDATE accounts SET balance = balance + 1 WHERE id % 7 = 0;
	DELETE FROM accounts WHERE id > 150;
	TRUNCATE accounts;
});
my $endpos = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');

# pg_recvlogical writes each message followed by a newline.
my $outfile = $node->basedir . '/stream.bin';
$node->command_ok(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'),
		'--slot', 'via_walsender', '--start', '--endpos', $endpos,
		'-o', 'proto_version=1', '-o', 'binary=on', '--no-loop', '-f', $outfile
	],
	'pg_recvlogical streams from an mmr slot');

my $expected_hex = $node->safe_psql('postgres', qq{
	SELECT encode(string_agg(data || '\\x0a'::bytea, ''::bytea ORDER BY n), 'hex')
	  FROM pg_logical_slot_get_binary_changes('via_sql', '$endpos', NULL,
	                                          'proto_version', '1', 'binary', 'on')
	       WITH ORDINALITY AS c(lsn, xid, data, n)});
my $streamed_hex = unpack('H*', slurp_file($outfile));
ok(length($expected_hex) > 1000, 'the SQL interface returned the changes');
is($streamed_hex, $expected_hex, 'walsender stream is byte-identical to the SQL interface');

my $counts = $node->safe_psql('postgres', qq{
	SELECT string_agg(t || '=' || c, ',' ORDER BY t) FROM (
	  SELECT m->>'type' AS t, count(*) AS c
	    FROM pg_logical_slot_peek_binary_changes('via_sql', NULL, NULL),
	         LATERAL mmr.decode_message(data) AS m
	   GROUP BY 1) s});
is($counts, '', 'the SQL slot was consumed up to the same point');

$node->stop;

# Without shared_preload_libraries: CREATE EXTENSION and the plugin work.
my $plain = mmr_node('no_preload', preload => 0);
$plain->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE t (id integer PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('s', 'mmr');
	INSERT INTO t VALUES (42);
});
is( $plain->safe_psql('postgres', q{
		SELECT string_agg(m->>'type', ',' ORDER BY c.n, d.k)
		  FROM pg_logical_slot_get_binary_changes('s', NULL, NULL, 'binary', 'off')
		       WITH ORDINALITY AS c(lsn, xid, data, n),
		       LATERAL mmr.decode_message(c.data) WITH ORDINALITY AS d(m, k)}),
	'begin,relation,insert,commit',
	'output plugin works without preload');
# Loaded on first use, the library defines its settings then.
is( $plain->safe_psql('postgres',
		"SELECT mmr.mask_dsn('password=x'); SHOW mmr.default_conflict_resolver"),
	"password=********\nlast_update_wins",
	'library loads on first use without preload');
$plain->stop;

done_testing();
