# Forming and joining a group fails clearly, and changes nothing, when the
# server or the target is not ready.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

# A server without the preload and without commit timestamps.
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init;
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION mmr');
my ($ret, $stdout, $stderr) = $bare->psql('postgres',
	"SELECT mmr.group_create('bare', \$\$" . $bare->connstr('postgres') . "\$\$)");
isnt($ret, 0, 'group_create fails on an unprepared server');
like($stderr, qr/server is not configured for mmr/, 'error names the problem');
like($stderr, qr/shared_preload_libraries does not include mmr/, 'names the missing preload');
like($stderr, qr/wal_level is "(minimal|replica)"/, 'names wal_level');
like($stderr, qr/track_commit_timestamp is off/, 'names track_commit_timestamp');
like($stderr, qr/HINT:.*shared_preload_libraries = 'mmr'.*wal_level = logical.*track_commit_timestamp = on/,
	'hint says what to set');
# output_plugin_libraries exists from 15.19 on; older servers allow any plugin.
my ($no_plugin_setting) = $bare->psql('postgres', 'SHOW output_plugin_libraries');
if ($no_plugin_setting == 0)
{
	like($stderr, qr/output_plugin_libraries \(.*\) does not include mmr/,
		'names output_plugin_libraries');
}
else
{
	unlike($stderr, qr/output_plugin_libraries/, 'does not name a setting this server lacks');
}
is($bare->safe_psql('postgres', 'SELECT count(*) FROM mmr.node'), '0', 'nothing was written');
$bare->stop;

my $a = mmr_node('a');
my $b = mmr_node('b');
my $c = mmr_node('c');
for my $node ($a, $b, $c)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION mmr');
}
my ($a_dsn, $b_dsn, $c_dsn) = map { $_->connstr('postgres') } ($a, $b, $c);

sub join_error
{
	my ($node, $name, $own_dsn, $join_dsn) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT mmr.group_join('$name', \$\$$own_dsn\$\$, \$\$$join_dsn\$\$, false)");
	return $rc == 0 ? '' : $err;
}

# The target is not in a group yet.
like(join_error($b, 'b', $b_dsn, $a_dsn), qr/is not a member of an mmr group/,
	'joining a node that is in no group fails');

# The target has no mmr at all.
$c->safe_psql('postgres', 'DROP EXTENSION mmr');
like(join_error($b, 'b', $b_dsn, $c_dsn), qr/does not have the mmr extension/,
	'joining a node without mmr fails');
$c->safe_psql('postgres', 'CREATE EXTENSION mmr');

$a->safe_psql('postgres', "SELECT mmr.group_create('a', \$\$$a_dsn\$\$)");

# Unreachable: the libpq error is shown, the password never.
my $err = join_error($b, 'b', $b_dsn, 'host=127.0.0.1 port=1 dbname=postgres password=s3cret');
like($err, qr/could not connect to "host=127.0.0.1 port=1 dbname=postgres password=\*\*\*\*\*\*\*\*"/,
	'unreachable join node: masked DSN in the error');
like($err, qr/Connection refused/, 'unreachable join node: libpq reason in the error');
unlike($err, qr/s3cret/, 'the password is not shown');
# (The server's own statement logging shows the SQL the user typed; mmr's
# messages must not add the password anywhere else.)
my @leaks = grep { /s3cret/ && !/STATEMENT:|statement:/ } split /\n/, slurp_file($b->logfile);
is(scalar(@leaks), 0, 'mmr writes the password into no log message');

# The own DSN must reach this very database.
like(join_error($b, 'b', $a_dsn, $a_dsn), qr/does not connect to this database/,
	'own DSN pointing at another server fails');

# A name already used in the group.
like(join_error($b, 'a', $b_dsn, $a_dsn), qr/node name "a" is already used in the group/,
	'duplicate node name fails');

# None of the failures left anything behind, on either side.
is($a->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'no slot left on the join node');
is($b->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'no slot left on the joining node');
is($a->safe_psql('postgres', 'SELECT string_agg(node_name, \',\') FROM mmr.node'), 'a',
	'the group is unchanged');
is($b->safe_psql('postgres', 'SELECT count(*) FROM mmr.local_node'), '0',
	'the joining node is not a member');

# Now the join works, and a second one is refused.
$b->safe_psql('postgres',
	"SELECT mmr.group_join('b', \$\$$b_dsn\$\$, \$\$$a_dsn\$\$, false); SELECT mmr.wait_for_join('60 s')");
like(join_error($b, 'b2', $b_dsn, $a_dsn), qr/is already a member of an mmr group/,
	'a member cannot join again');
like(join_error($c, 'b', $c_dsn, $b_dsn), qr/node name "b" is already used in the group/,
	'joining through another member sees the whole group');

done_testing();
