# mmr.global_nextval when the clock goes back (docs/global_ids.md): a node
# whose clock is set an hour back (its postmaster restarted under
# libfaketime) keeps giving greater ids, counting on from the last id's
# millisecond; so it does after kill -9 while the clock is back, and once
# the clock is right again the ids take it again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;

my $faketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
-e $faketime or die "$faketime is missing (scripts/setup.sh installs libfaketime)";

my $node = mmr_node('n1');
$node->safe_psql('postgres', q{
	CREATE EXTENSION mmr;
	CREATE SEQUENCE s;
	CREATE TABLE ids (id bigint PRIMARY KEY DEFAULT mmr.global_nextval('s'), phase text NOT NULL);
	SELECT mmr.group_create('n1', $$} . $node->connstr('postgres') . q{$$);
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Milliseconds since the global id epoch, as the server's clock reads them.
my $clock_ms = q{SELECT floor(extract(epoch FROM clock_timestamp() - timestamptz '2025-01-01 00:00:00+00') * 1000)::bigint};

sub insert_ids
{
	my ($phase, $n) = @_;
	sql("INSERT INTO ids (phase) SELECT '$phase' FROM generate_series(1, $n)");
}

insert_ids('before', 1000);
my $last_before = sql(q{SELECT max(id) FROM ids});

# An hour back.
sub restart_faked
{
	local $ENV{LD_PRELOAD} = $faketime;
	local $ENV{FAKETIME} = '-1h';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	$node->restart;
}
restart_faked();
my $behind = (sql(q{SELECT extract(epoch FROM now())}) - time);
cmp_ok($behind, '<', -3500, sprintf('the server clock runs %.0f s behind', $behind));

insert_ids('back', 10000);
is(sql(q{SELECT min(id) > } . $last_before . q{ FROM ids WHERE phase = 'back'}), 't',
	'with the clock an hour back, every new id is greater than every id before');
is(sql(q{SELECT count(*) FROM ids}), '11000', 'no id was given twice (primary key)');
is(sql("SELECT min(id >> 22) - ($clock_ms) > 3500 * 1000 FROM ids WHERE phase = 'back'"), 't',
	"their milliseconds went on from the last id's, an hour ahead of the clock");

# kill -9 while the clock is back: ids go on past all of them.
my $last_back = sql(q{SELECT mmr.global_nextval('s')});
$node->kill9;
mmr_wait_for_orphans($node);
{
	local $ENV{LD_PRELOAD} = $faketime;
	local $ENV{FAKETIME} = '-1h';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	$node->start;
}
insert_ids('after crash', 1000);
is(sql(q{SELECT min(id) > } . $last_back . q{ FROM ids WHERE phase = 'after crash'}), 't',
	'after kill -9 with the clock still back: greater ids');

# The clock right again: the ids take it again.
$node->restart;
insert_ids('clock right', 10);
is(sql("SELECT bool_and(abs((id >> 22) - ($clock_ms)) < 60 * 1000) FROM ids WHERE phase = 'clock right'"),
	't', 'with the clock right again, ids carry the current time');
is(sql(q{SELECT count(*) || '/' || count(DISTINCT id) FROM ids}), '12010/12010', 'all ids distinct');

done_testing();
