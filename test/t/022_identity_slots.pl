# Node identity and slots (SPEC 3, 7):
# a) a pg_dump of member n2 restored into another server does not act as
#    n2: it starts no apply, consumes no slot, says why, and n2 loses nothing;
# b) a slot dropped on n1 while n2 is down is reported by n2 as an error,
#    never silently re-created at the current position.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $n1 = mmr_node('n1');
my $n2 = mmr_node('n2');
$n1->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE TABLE t (id integer PRIMARY KEY, v text);
	INSERT INTO t SELECT g, 'before' FROM generate_series(1, 10) g;
});
$n1->safe_psql('postgres',
	"SELECT mmr.group_create('n1', \$\$" . $n1->connstr('postgres') . "\$\$)");
mmr_join_with_copy($n2, $n1);
is($n2->safe_psql('postgres', 'SELECT count(*) FROM t'), '10', 'n2 has the copy');

my $n1_dboid = $n1->safe_psql('postgres',
	'SELECT oid FROM pg_database WHERE datname = current_database()');
my $n2_id = $n2->safe_psql('postgres', "SELECT node_id FROM mmr.nodes WHERE node_name = 'n2'");
my $slot_for_n2 = "mmr_${n1_dboid}_n$n2_id";

###
### a) A restored dump of n2.
###
my $dump = $n2->basedir . '/n2.sql';
$n2->command_ok([ 'pg_dump', '-f', $dump, 'postgres' ], 'pg_dump of n2');
$n2->stop;

my $copy = mmr_node('n2copy');
$copy->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $dump, 'postgres' ],
	'the dump restores into another server');
is($copy->safe_psql('postgres', 'SELECT mmr.local_node_name()'), 'n2',
	'the copy believes it is n2');
$copy->restart;

$n1->safe_psql('postgres', "INSERT INTO t SELECT g, 'while n2 is down' FROM generate_series(11, 20) g");
mmr_wait_until($copy,
	"SELECT state = 'error' AND last_error LIKE 'this database is a copy of an mmr node, not that node%' "
	  . "FROM mmr.replication_status WHERE peer_name = 'n1'");
pass('replication_status of the copy says why it does not apply');
ok($copy->wait_for_log(qr/WARNING:  mmr starts no apply worker in database \d+/),
	'the copy says why in its log');
like(slurp_file($copy->logfile), qr/HINT:  Run mmr.part_node\(\) for the local node here/,
	'with a hint');
is($copy->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mmr apply'"),
	'0', 'the copy runs no apply worker');
is($n1->safe_psql('postgres', "SELECT active FROM pg_replication_slots WHERE slot_name = '$slot_for_n2'"),
	'f', "nobody consumes n2's slot on n1");
is($copy->safe_psql('postgres', 'SELECT count(*) FROM t'), '10', 'the copy got none of the new rows');

# Parting the copy parts it alone; n1 still knows n2 as ready.
$copy->safe_psql('postgres', "SELECT mmr.part_node('n2')");
is($n1->safe_psql('postgres', "SELECT status FROM mmr.nodes WHERE node_name = 'n2'"),
	'ready', "parting the copy does not part n2 on n1");
$copy->stop;

$n2->start;
mmr_wait_until($n2, "SELECT count(*) = 20 FROM t");
pass('n2 comes back and loses nothing');

###
### b) n2's slot on n1 dropped while n2 is down.
###
$n2->stop;
$n1->safe_psql('postgres', "INSERT INTO t SELECT g, 'lost slot' FROM generate_series(21, 30) g");
$n1->safe_psql('postgres', "SELECT pg_drop_replication_slot('$slot_for_n2')");
$n2->start;
mmr_wait_until($n2,
	"SELECT state = 'error' AND last_error LIKE 'replication slot \"$slot_for_n2\" does not exist on peer \"n1\"%' "
	  . "FROM mmr.replication_status WHERE peer_name = 'n1'");
pass('n2 reports the missing slot as an error');
$n2->wait_for_log(qr/ERROR:  replication slot "$slot_for_n2" does not exist on peer "n1"/);
is($n1->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot_for_n2'"),
	'0', 'the slot is not re-created');
isnt($n2->safe_psql('postgres', "SELECT state FROM mmr.replication_status WHERE peer_name = 'n1'"),
	'streaming', 'n2 does not claim to stream');

done_testing();
