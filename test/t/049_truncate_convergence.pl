# TRUNCATE converges (docs/conflicts.md, "TRUNCATE"): a remote TRUNCATE
# deletes the rows it has seen or that lose to it and leaves a table
# tombstone, which keeps out late older writes of rows it removed.  Per-link
# pauses make each interleaving deterministic; every case checks the rows
# on all three nodes and each node's conflict log.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

my @nodes = ct_three_node_group($MmrConflictTest::TABLE_T
	  . 'CREATE TABLE t2 (id integer PRIMARY KEY, v text);');
my ($n1, $n2, $n3) = @nodes;

sub marks { return map { ct_last_conflict_id($_) } @nodes }

# What each node logged on TABLE since MARKS, lines sorted (the order of
# rows within one TRUNCATE is the heap's).
sub logs_since
{
	my ($table, @marks) = @_;
	return map
	{
		join("\n", sort split /\n/, ct_conflicts_since($nodes[$_], $marks[$_], $table))
	} 0 .. 2;
}

sub settle_and_compare
{
	my ($what, $rows) = @_;
	mmr_wait_caught_up($_) for @nodes;
	is(ct_rows($_), $rows, "$what: " . $_->name . " has rows '$rows'") for @nodes;
	return;
}

sub key { my ($id) = @_; return qq(key={"id": $id}) }

sub filenode { my ($node, $table) = @_; return ct_sql($node, qq{SELECT pg_relation_filenode('$table')}) }

sub truncate_tombstones
{
	my ($node) = @_;
	return ct_sql($node,
		q{SELECT coalesce(string_agg(relation::regclass::text, ',' ORDER BY relation), '')
		    FROM mmr.truncate_tombstone});
}

# Each node pauses the links named for it: { n1 => ['n2'], ... }.
sub pause_links
{
	my (%links) = @_;
	for my $node (@nodes)
	{
		ct_pause_link($node, $_) for @{ $links{ $node->name } // [] };
	}
	return;
}

sub resume_links
{
	my (%links) = @_;
	for my $node (@nodes)
	{
		ct_resume_link($node, $_) for @{ $links{ $node->name } // [] };
	}
	return;
}

### The local trigger and the horizon: a TRUNCATE that had seen every row
### is a real TRUNCATE everywhere and logs nothing.

my @m = marks();
ct_sql($n2, q{INSERT INTO t VALUES (1, NULL, 'n2'), (2, NULL, 'n2')});
ct_sql($n3, q{INSERT INTO t VALUES (3, NULL, 'n3')});
mmr_wait_caught_up($_) for ($n2, $n3);
my %before = map { $_->name => filenode($_, 't') } ($n2, $n3);
# n3 applies it last: until then no node may collect its tombstone.
ct_pause_link($n3, 'n1');
ct_sql($n1, 'TRUNCATE t');
is(truncate_tombstones($n1), 't', 'the local TRUNCATE recorded its table tombstone on n1');
ct_wait_applied($n1, 'n2');
is(ct_rows($n2), '', 'seen everything: n2 applied the TRUNCATE');
is(truncate_tombstones($n2), 't', 'n2 recorded the applied TRUNCATE\'s table tombstone');
ct_resume_link($n3, 'n1');
settle_and_compare('seen everything', '');
isnt(filenode($_, 't'), $before{ $_->name }, $_->name . ' applied it as a real TRUNCATE (new relfilenode)')
  for ($n2, $n3);
is_deeply([ logs_since('t', @m) ], [ '', '', '' ], 'seen everything: nothing logged anywhere');

### Collection: once every peer has applied the TRUNCATE, its tombstone goes.

mmr_wait_until($_, 'SELECT count(*) = 0 FROM mmr.truncate_tombstone') for @nodes;
pass('the table tombstones are collected on every node once the peers caught up');

### A TRUNCATE on n1 concurrent with a later INSERT on n2: the insert wins
### everywhere; n2 keeps its row and deletes only the one the TRUNCATE had
### seen (through n1's horizon: n2's own row, applied on n1 first).

ct_sql($n2, q{INSERT INTO t VALUES (10, NULL, 'n2')});
ct_wait_applied($n2, 'n1', 'n3');
@m = marks();
pause_links(n1 => ['n2'], n2 => ['n1']);
ct_sql($n1, 'TRUNCATE t');
ct_wait_applied($n1, 'n3');
ct_sql($n2, q{INSERT INTO t VALUES (11, NULL, 'n2')});
ct_wait_applied($n2, 'n3');
is(ct_rows($n1), '', 'concurrent later insert: n1 truncated');
is(ct_rows($n2), '10,,n2 11,,n2', 'concurrent later insert: n2 has not applied the TRUNCATE yet');
resume_links(n1 => ['n2'], n2 => ['n1']);
settle_and_compare('concurrent later insert', '11,,n2');
is_deeply([ logs_since('t', @m) ],
	[ '', "delete_origin_differs keep_local last_update_wins n2<-n1 @{[key(11)]} local=n2 resolved=n2", '' ],
	'concurrent later insert: n2 logs the kept row, n1 and n3 nothing');
mmr_wait_until($_, 'SELECT count(*) = 0 FROM mmr.truncate_tombstone') for @nodes;

### Three nodes, a late old write: n2 inserts 20 and updates 21 before n1's
### TRUNCATE, concurrently; n1 and n3 get them after the TRUNCATE.  The
### TRUNCATE is later: the rows are gone everywhere.

ct_sql($n1, q{DELETE FROM t; INSERT INTO t VALUES (21, NULL, 'n1'), (22, NULL, 'n1')});
ct_wait_applied($n1, 'n2', 'n3');
@m = marks();
pause_links(n1 => ['n2'], n2 => ['n1'], n3 => ['n2']);
ct_sql($n2, q{BEGIN; INSERT INTO t VALUES (20, NULL, 'n2'); UPDATE t SET v = 'n2' WHERE id = 21; COMMIT});
ct_sql($n1, 'TRUNCATE t');
ct_wait_applied($n1, 'n3');
is(ct_rows($n3), '', 'late old writes: n3 applied the TRUNCATE first');
is(truncate_tombstones($n1), 't', 'late old writes: n1 keeps its table tombstone while n2 is behind');
resume_links(n1 => ['n2'], n2 => ['n1'], n3 => ['n2']);
settle_and_compare('late old writes', '');
my $skips = "insert_deleted skip last_update_wins n1<-n2 @{[key(20)]} local= resolved=\n"
  . "update_deleted skip last_update_wins n1<-n2 @{[key(21)]} local= resolved=";
is_deeply([ logs_since('t', @m) ],
	[
		$skips,
		"delete_origin_differs apply_remote last_update_wins n2<-n1 @{[key(20)]} local=n2 resolved=\n"
		  . "delete_origin_differs apply_remote last_update_wins n2<-n1 @{[key(21)]} local=n2 resolved=",
		$skips
	],
	'late old writes: n1 and n3 skip them against the table tombstone, n2 logs the rows the TRUNCATE removed');
mmr_wait_until($_, 'SELECT count(*) = 0 FROM mmr.truncate_tombstone') for @nodes;

### After the collection, writes of the table are applied as usual.

@m = marks();
ct_sql($n2, q{INSERT INTO t VALUES (30, NULL, 'n2')});
settle_and_compare('after collection', '30,,n2');
is_deeply([ logs_since('t', @m) ], [ '', '', '' ], 'after collection: nothing logged');

### Several tables in one TRUNCATE: a row of t wins, so both tables lose
### only their losing rows (none is truncated while the other keeps rows).

ct_sql($n1, q{INSERT INTO t2 VALUES (1, 'n1')});
ct_wait_applied($n1, 'n2', 'n3');
@m = marks();
my $t2_before = filenode($n2, 't2');
pause_links(n1 => ['n2'], n2 => ['n1']);
ct_sql($n1, 'TRUNCATE t, t2');
ct_wait_applied($n1, 'n3');
ct_sql($n2, q{INSERT INTO t VALUES (31, NULL, 'n2')});
ct_wait_applied($n2, 'n3');
resume_links(n1 => ['n2'], n2 => ['n1']);
settle_and_compare('two tables', '31,,n2');
is(ct_sql($_, 'SELECT count(*) FROM t2'), '0', $_->name . ': t2 is empty') for @nodes;
is(filenode($n2, 't2'), $t2_before, 'two tables: n2 deleted rows instead of truncating');
is_deeply([ logs_since('t', @m) ],
	[ '', "delete_origin_differs keep_local last_update_wins n2<-n1 @{[key(31)]} local=n2 resolved=n2", '' ],
	'two tables: n2 logs the kept row of t');
is_deeply([ logs_since('t2', @m) ], [ '', '', '' ], 'two tables: nothing logged for t2');

### The error resolver of delete_origin_differs: a TRUNCATE that meets a
### row it had not seen stops apply, nothing of it applied, logged once
### however often apply retries; changing the resolver lets it go on.

ct_sql($n1, q{SELECT mmr.set_conflict_resolver('t', 'error', 'delete_origin_differs')});
ct_wait_applied($n1, 'n2', 'n3');
@m = marks();
ct_pause_link($n2, 'n1');
ct_sql($n1, 'TRUNCATE t');
ct_sql($n2, q{INSERT INTO t VALUES (40, NULL, 'n2')});
ct_wait_applied($n1, 'n3');
ct_wait_applied($n2, 'n1', 'n3');
ct_sql($n2, q{SELECT mmr.apply_resume('n1')});
mmr_wait_until($n2, q{SELECT state = 'error' FROM mmr.replication_status WHERE peer_name = 'n1'});
like(ct_sql($n2, q{SELECT last_error FROM mmr.replication_status WHERE peer_name = 'n1'}),
	qr/remote TRUNCATE of table "public\.t" meets a row it has not seen, and conflict delete_origin_differs is resolved as error/,
	'error resolver: apply from n1 stopped on n2 with the TRUNCATE in last_error');
my $first = ct_sql($n2, q{SELECT last_error_at FROM mmr.replication_status WHERE peer_name = 'n1'});
mmr_wait_until($n2,
	"SELECT last_error_at > '$first' FROM mmr.replication_status WHERE peer_name = 'n1'");
is(ct_rows($n2), '31,,n2 40,,n2', 'error resolver: nothing of the TRUNCATE applied on n2');
my $error_line = "delete_origin_differs error error n2<-n1 @{[key(40)]} local=n2 resolved=";
is(ct_conflicts_since($n2, $m[1], 't'), $error_line,
	'error resolver: logged once on n2, however often apply retried');
ct_sql($n2, q{SELECT mmr.set_conflict_resolver('t', 'last_update_wins', 'delete_origin_differs')});
mmr_wait_until($n2, q{SELECT state = 'streaming' FROM mmr.replication_status WHERE peer_name = 'n1'});
settle_and_compare('error resolver, then last_update_wins', '40,,n2');
is_deeply([ logs_since('t', @m) ],
	[ '', "$error_line\ndelete_origin_differs keep_local last_update_wins n2<-n1 @{[key(40)]} local=n2 resolved=n2", '' ],
	'error resolver: then the kept row is logged as for last_update_wins');

### A table created in the group gets the TRUNCATE trigger with the key
### tombstones' (the event trigger).

ct_sql($n1, q{CREATE TABLE fresh (id integer PRIMARY KEY)});
is(ct_sql($n1, q{SELECT string_agg(tgname, ' ' ORDER BY tgname) FROM pg_trigger
	WHERE tgrelid = 'fresh'::regclass}), 'mmr_tombstone mmr_truncate_tombstone',
	'a new table gets both tombstone triggers');

$_->stop for @nodes;
done_testing();
