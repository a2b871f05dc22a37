# Convergence of secondary UNIQUE keys on real clusters (docs/conflicts.md,
# "Unique keys other than the replica identity"): three nodes, one pgbench
# client on each writing at the same time into a small key space of a table
# with a primary key and a UNIQUE column (inserts and updates that take or
# move unique values, often NULL, plain updates, deletes), so that
# concurrent claims of one value on several nodes are the rule.  Each round
# uses another key space and value range, and every other round makes each
# client's four statements one transaction.  After each round the writes stop,
# every node catches up, and all three must hold the same rows, with apply
# never stuck in error; at the end the registers are collected everywhere.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use MmrTest;
use MmrConflictTest;

# A write that another row's value makes fail here is what SQL would
# refuse too: the function skips it, so the client goes on.
my $schema = q{
	CREATE TABLE kv (k integer PRIMARY KEY, u integer UNIQUE, v integer NOT NULL, node text NOT NULL);
	CREATE FUNCTION kv_write(key integer, val integer, who text) RETURNS void
	LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO kv VALUES (key, val, 0, who)
		  ON CONFLICT (k) DO UPDATE SET u = val, v = kv.v + 1, node = who;
	EXCEPTION WHEN unique_violation THEN
		NULL;
	END $$;
};
my @nodes = ct_three_node_group($schema);

# A write taking a value (NULL half the time), a plain update, a write
# moving a value, a delete: each its own transaction, or all four one.
sub script
{
	my ($name, $keys, $values, $one_xact) = @_;
	my ($begin, $commit) = $one_xact ? ("BEGIN;\n", "COMMIT;\n") : ('', '');
	return qq{
\\set a random(1, $keys)
\\set b random(1, $keys)
\\set c random(1, $keys)
\\set x random(1, $values)
\\set n random(0, 1)
\\set y random(1, $values)
${begin}SELECT kv_write(:a, CASE WHEN :n = 0 THEN NULL ELSE :x END, '$name');
UPDATE kv SET v = v + 10, node = '$name' WHERE k = :b;
SELECT kv_write(:b, :y, '$name');
DELETE FROM kv WHERE k = :c AND v % 3 = 0;
$commit};
}

my @rounds = ([ 8, 4 ], [ 12, 6 ], [ 6, 3 ], [ 16, 10 ]);
for my $r (0 .. $#rounds)
{
	my ($keys, $values) = @{ $rounds[$r] };
	my $round = $r + 1;
	my @runs = map { mmr_pgbench_start($_, script($_->name, $keys, $values, $r % 2), 5) } @nodes;
	my @txns = map { mmr_pgbench_finish($_) } @runs;
	cmp_ok($_, '>', 50, "round $round: a client wrote ($_ transactions)") for @txns;

	mmr_wait_caught_up($_) for @nodes;
	# A second pass: changes applied during the first wait are confirmed too.
	mmr_wait_caught_up($_) for @nodes;

	my $d1 = mmr_table_digest($nodes[0], 'kv', 'k');
	is(mmr_table_digest($_, 'kv', 'k'), $d1, "round $round: " . $_->name . ' has the same rows as n1')
	  for @nodes[ 1, 2 ];
	for my $node (@nodes)
	{
		# (A local write or another peer's apply taking a value between the
		# probe and the insert makes apply retry, as a deadlock does: that
		# leaves last_error set, never the worker in error.)
		is(ct_sql($node, q{SELECT count(*) FROM mmr.replication_status WHERE state = 'streaming'}),
			'2', "round $round: " . $node->name . ' applies from both peers, none in error');
	}
}

my $claims = 0;
$claims += ct_sql($_, q{SELECT count(*) FROM mmr.conflict_log
                          WHERE relation = 'public.kv' AND key ? 'u'}) for @nodes;
cmp_ok($claims, '>', 0, "the rounds made concurrent claims of unique values ($claims logged)");
my $against_registers = 0;
$against_registers += ct_sql($_, q{SELECT count(*) FROM mmr.conflict_log
                                   WHERE relation = 'public.kv' AND key ? 'u' AND local_row IS NULL})
  for @nodes;
cmp_ok($against_registers, '>', 0,
	"some claims met a value's register, no row ($against_registers logged)");

# Once every peer's horizon passed them, registers and tombstones go.
my $left = q{SELECT (SELECT count(*) FROM mmr.unique_claim) + (SELECT count(*) FROM mmr.tombstone)};
for my $node (@nodes)
{
	mmr_wait_until($node, "SELECT ($left) = 0");
	is(ct_sql($node, $left), '0', $node->name . ' collected every register and tombstone');
}

done_testing();
