# A join with a data copy that cannot work fails clearly and changes
# nothing; one killed midway (kill -9 of its join worker, then of the
# joining postmaster) fails cleanly, leaves the group unharmed, and is
# retried after mmr.part_node (SPEC 3, 6).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');
my $n3 = mmr_node('n3');

# Big enough that the copy takes a few seconds.
$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE big (id bigint PRIMARY KEY, pad text);
	INSERT INTO big SELECT g, repeat('x', 40) FROM generate_series(1, 1000000) g;
});
$n1->safe_psql('postgres',
	"SELECT mmr.group_create('n1', \$\$" . $n1->connstr('postgres') . "\$\$)");
mmr_join_with_copy($n2, $n1);

$n3->safe_psql('postgres', 'CREATE EXTENSION mmr');
my ($n1_dsn, $n3_dsn) = map { $_->connstr('postgres') } ($n1, $n3);
my ($rc, $out, $stderr);

sub join_error
{
	my ($node, $name, $own_dsn, $join_dsn) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT mmr.group_join('$name', \$\$$own_dsn\$\$, \$\$$join_dsn\$\$)");
	return $rc == 0 ? '' : $err;
}

sub n3_unchanged
{
	my ($what) = @_;
	is($n3->safe_psql('postgres',
			'SELECT (SELECT count(*) FROM mmr.node) + (SELECT count(*) FROM mmr.join_state) '
			  . '+ (SELECT count(*) FROM pg_replication_slots)'),
		'0', "$what: nothing written on n3");
	is($n1->safe_psql('postgres', "SELECT count(*) FROM mmr.node WHERE node_name NOT IN ('n1', 'n2')"),
		'0', "$what: nothing registered on n1");
}

# Unreachable: the libpq error, the password never.
my $err = join_error($n3, 'n3', $n3_dsn, 'host=127.0.0.1 port=1 dbname=postgres password=s3cret');
like($err, qr/could not connect to .*password=\*\*\*\*\*\*\*\*/, 'unreachable join node: masked DSN');
like($err, qr/Connection refused/, 'unreachable join node: libpq reason');
unlike($err, qr/s3cret/, 'unreachable join node: no password');
n3_unchanged('unreachable join node');

# A name in use.
like(join_error($n3, 'n2', $n3_dsn, $n1_dsn), qr/node name "n2" is already used in the group/,
	'name in use is refused');
n3_unchanged('name in use');

# A database with tables of its own.
$n3->safe_psql('postgres', 'CREATE TABLE mine (id int PRIMARY KEY)');
$err = join_error($n3, 'n3', $n3_dsn, $n1_dsn);
like($err, qr/ERROR:  database "postgres" is not empty/, 'non-empty database is refused');
like($err, qr/DETAIL:  It holds 1 user table\(s\), for example public\.mine\./, 'the detail names a table');
like($err, qr/HINT:  .*synchronize_data => false/, 'the hint says what to do');
$n3->safe_psql('postgres', 'DROP TABLE mine');
n3_unchanged('non-empty database');

# A database in another encoding than the group's.
$n3->safe_psql('postgres',
	"CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$n3->safe_psql('latin', 'CREATE EXTENSION mmr');
my $latin_dsn = $n3->connstr('latin');
($rc, $out, $stderr) = $n3->psql('latin',
	"SELECT mmr.group_join('latin', \$\$$latin_dsn\$\$, \$\$$n1_dsn\$\$)");
like($stderr, qr/ERROR:  the node at ".*" uses encoding \w+, this database LATIN1/,
	'a different encoding is refused');
is($n3->safe_psql('latin', 'SELECT count(*) FROM mmr.node'), '0', 'different encoding: nothing written');
$n3->safe_psql('postgres', 'DROP DATABASE latin');

# Killed during the copy.
$n3->safe_psql('postgres',
	"SELECT mmr.group_join('n3', \$\$$n3_dsn\$\$, \$\$$n1_dsn\$\$)");
mmr_wait_until($n3, "SELECT phase = 'copying_data' FROM mmr.join_status");
my $pid = $n3->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mmr join'");
ok($pid =~ /^\d+$/, 'the join worker runs');
kill 'KILL', $pid;
mmr_wait_until($n3, "SELECT phase = 'failed' FROM mmr.join_status");
is($n3->safe_psql('postgres', 'SELECT last_error FROM mmr.join_status'),
	'the join was interrupted during the copy', 'join_status says why it failed');
($rc, $out, $stderr) = $n3->psql('postgres', "SELECT mmr.wait_for_join('30 s')");
like($stderr, qr/ERROR:  the join of this node failed\nDETAIL:  the join was interrupted during the copy/,
	"wait_for_join raises the join's error");
is($n3->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE relname = 'big'"), '0', 'the partial copy is gone');

# The group is unharmed: n3 is parted there, its slots are gone, and n1
# and n2 keep replicating.
for my $node ($n1, $n2)
{
	mmr_wait_until($node, "SELECT status = 'parted' FROM mmr.node WHERE node_name = 'n3'");
	mmr_wait_until($node, "SELECT count(*) = 1 FROM pg_replication_slots");
}
$n1->safe_psql('postgres', "INSERT INTO big VALUES (0, 'after the failed join')");
$n2->safe_psql('postgres', "INSERT INTO big VALUES (-1, 'from n2')");
mmr_wait_until($n2, "SELECT count(*) = 1 FROM big WHERE id = 0");
mmr_wait_until($n1, "SELECT count(*) = 1 FROM big WHERE id = -1");
pass('n1 and n2 still replicate both ways');

# Killed with its postmaster during the copy (kill -9 of n3's postmaster):
# after the restart the join fails as cleanly.
$n3->safe_psql('postgres', "SELECT mmr.part_node('n3')");
$n3->safe_psql('postgres',
	"SELECT mmr.group_join('n3', \$\$$n3_dsn\$\$, \$\$$n1_dsn\$\$)");
my $latest = 'SELECT %s FROM mmr.join_status ORDER BY started_at DESC LIMIT 1';
mmr_wait_until($n3, sprintf($latest, "phase = 'copying_data'"));
$n3->kill9;
mmr_wait_for_orphans($n3);
$n3->start;
mmr_wait_until($n3, sprintf($latest, "phase = 'failed'"));
is($n3->safe_psql('postgres', sprintf($latest, 'last_error')),
	'the join was interrupted during the copy', 'postmaster killed: join_status says why');
is($n3->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE relname = 'big'"), '0',
	'postmaster killed: the partial copy is gone');
for my $node ($n1, $n2)
{
	mmr_wait_until($node, "SELECT status = 'parted' FROM mmr.node WHERE node_name = 'n3'");
	mmr_wait_until($node, "SELECT count(*) = 1 FROM pg_replication_slots");
}
$n1->safe_psql('postgres', "INSERT INTO big VALUES (-10, 'after the crashed join')");
mmr_wait_until($n2, "SELECT count(*) = 1 FROM big WHERE id = -10");
pass('postmaster killed: n1 and n2 still replicate');

# Retry after part_node.
$n3->safe_psql('postgres', "SELECT mmr.part_node('n3')");
mmr_join_with_copy($n3, $n1);
is($n3->safe_psql('postgres', "SELECT phase FROM mmr.join_status ORDER BY started_at DESC LIMIT 1"),
	'ready', 'the retried join is ready');
is($n3->safe_psql('postgres', 'SELECT count(*) FROM mmr.join_status'), '3',
	'join_status keeps all three joins');
$n3->safe_psql('postgres', "INSERT INTO big VALUES (-2, 'from n3')");
$n1->safe_psql('postgres', "INSERT INTO big VALUES (-3, 'from n1')");
for my $node ($n1, $n2, $n3)
{
	mmr_wait_until($node, "SELECT count(*) = 3 FROM mmr.nodes WHERE status = 'ready'");
	mmr_wait_until($node, "SELECT count(*) = 5 FROM big WHERE id <= 0");
}
mmr_wait_caught_up($_) for ($n1, $n2, $n3);
my $digest = mmr_table_digest($n1, 'big', 'id');
is(mmr_table_digest($_, 'big', 'id'), $digest, $_->name . ': identical to n1') for ($n2, $n3);

done_testing();
