# MmrConflictTest.pm: helpers of the conflict TAP tests (test/t/03*.pl).
#
# A conflict is made truly concurrent by pausing apply on both nodes of a
# two-node group, writing on each, and resuming: neither write has seen the
# other.  The second node writes later, so its commit time is the greater.
package MmrConflictTest;

use strict;
use warnings;

use Exporter 'import';
use MmrTest;

our @EXPORT = qw(ct_group ct_sql ct_rows ct_pause_both ct_resume_and_settle
  ct_round ct_last_conflict_id ct_conflicts_since ct_status
  ct_three_node_group ct_pause_link ct_resume_link ct_wait_applied ct_link_states
  ct_unreplicated_sql);

# The table most conflict tests use: a key, a second UNIQUE column, a value.
our $TABLE_T = 'CREATE TABLE t (id integer PRIMARY KEY, u text UNIQUE, v text);';

# ct_group(SCHEMA): nodes a and b, SCHEMA created on both, in one group.
sub ct_group
{
	my ($schema) = @_;
	my $a = mmr_node('a');
	my $b = mmr_node('b');
	$_->safe_psql('postgres', $schema) for ($a, $b);
	mmr_two_node_group($a, $b);
	return ($a, $b);
}

# ct_three_node_group(SCHEMA): nodes n1, n2, n3, SCHEMA created on each,
# n1 forms the group and the others join without a copy.
sub ct_three_node_group
{
	my ($schema) = @_;
	my ($n1, $n2, $n3) = map { mmr_node("n$_") } 1 .. 3;
	$_->safe_psql('postgres', $schema) for ($n1, $n2, $n3);
	mmr_two_node_group($n1, $n2);
	$n3->safe_psql('postgres', 'CREATE EXTENSION mmr');
	$n3->safe_psql('postgres',
		    "SELECT mmr.group_join('n3', \$\$" . $n3->connstr('postgres') . "\$\$, "
		  . "\$\$" . $n1->connstr('postgres') . "\$\$, synchronize_data => false)");
	$n3->safe_psql('postgres', "SELECT mmr.wait_for_join('60 s')");
	for my $node ($n1, $n2, $n3)
	{
		mmr_wait_until($node,
			"SELECT count(*) = 2 FROM mmr.replication_status WHERE state = 'streaming'");
	}
	return ($n1, $n2, $n3);
}

# ct_pause_link(NODE, PEER_NAME): NODE stops applying PEER_NAME's changes
# (mmr.apply_pause(peer_name)), and is seen to; ct_resume_link undoes it.
sub ct_pause_link { set_link(@_, 'apply_pause', 'paused') }
sub ct_resume_link { set_link(@_, 'apply_resume', 'streaming') }

sub set_link
{
	my ($node, $peer, $function, $state) = @_;
	ct_sql($node, "SELECT mmr.$function('$peer')");
	mmr_wait_until($node,
		"SELECT state = '$state' FROM mmr.replication_status WHERE peer_name = '$peer'");
	return;
}

# ct_wait_applied(FROM, PEER_NAMES...): waits until those peers confirmed
# FROM's changes up to now.
sub ct_wait_applied
{
	my ($from, @peers) = @_;
	ct_sql($from, "SET statement_timeout = '180s'; SELECT mmr.wait_slot_confirm_lsn('$_')")
	  for @peers;
	return;
}

# ct_link_states(NODE): "peer:state peer:state" of NODE's incoming links.
sub ct_link_states
{
	my ($node) = @_;
	return ct_sql($node,
		q{SELECT string_agg(peer_name || ':' || state, ' ' ORDER BY peer_name) FROM mmr.replication_status});
}

# ct_sql(NODE, SQL): the result of SQL in database postgres.
sub ct_sql
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# ct_pause_both(A, B): apply paused on both, and seen to be.
sub ct_pause_both
{
	my @nodes = @_;
	ct_sql($_, 'SELECT mmr.apply_pause()') for @nodes;
	for my $node (@nodes)
	{
		mmr_wait_until($node,
			"SELECT count(*) = 1 FROM mmr.replication_status WHERE state = 'paused'");
	}
	return;
}

# ct_resume_and_settle(A, B): apply resumed, and every write of each node
# applied on the other.
sub ct_resume_and_settle
{
	my @nodes = @_;
	ct_sql($_, 'SELECT mmr.apply_resume()') for @nodes;
	mmr_wait_caught_up($_) for @nodes;
	return;
}

# ct_rows(NODE): the rows of table t as "id,u,v id,u,v ...".
sub ct_rows
{
	my ($node) = @_;
	return ct_sql($node,
		q{SELECT coalesce(string_agg(format('%s,%s,%s', id, u, v), ' ' ORDER BY id), '') FROM t});
}

sub ct_last_conflict_id
{
	my ($node) = @_;
	return ct_sql($node, 'SELECT coalesce(max(conflict_id), 0) FROM mmr.conflict_history');
}

# ct_conflicts_since(NODE, ID, TABLE): the conflicts on TABLE logged after
# conflict ID, one line each: "type resolution resolver local<-remote
# key=... local=<v> resolved=<v>" (v: the column v of the rows).
sub ct_conflicts_since
{
	my ($node, $after, $table) = @_;
	return ct_sql($node, qq{
		SELECT coalesce(string_agg(format('%s %s %s %s<-%s key=%s local=%s resolved=%s',
		                                  conflict_type, resolution, resolver,
		                                  local_node, remote_node, key,
		                                  local_row ->> 'v', resolved_row ->> 'v'),
		                           E'\\n' ORDER BY conflict_id), '')
		  FROM mmr.conflict_log
		 WHERE conflict_id > $after AND relation = 'public.$table'});
}

# ct_round(A, B, TABLE, SQL_A, SQL_B): one concurrent round, SQL_A on A
# then SQL_B on B; returns the conflicts on TABLE each node logged.
sub ct_round
{
	my ($a, $b, $table, $on_a, $on_b) = @_;
	my ($ca, $cb) = (ct_last_conflict_id($a), ct_last_conflict_id($b));
	ct_pause_both($a, $b);
	ct_sql($a, $on_a);
	ct_sql($b, $on_b);
	ct_resume_and_settle($a, $b);
	return (ct_conflicts_since($a, $ca, $table), ct_conflicts_since($b, $cb, $table));
}

# ct_status(NODE): "state last_error" of its one peer ("-" for no error).
sub ct_status
{
	my ($node) = @_;
	return ct_sql($node,
		q{SELECT state || ' ' || coalesce(last_error, '-') FROM mmr.replication_status});
}


# ct_unreplicated_sql(SQL): SQL wrapped so that its write is never sent to
# the node's peers and leaves no tombstone: under a replication origin (not
# sent) with triggers off.  A row deleted so just goes missing on one node.
sub ct_unreplicated_sql
{
	my ($sql) = @_;
	return qq{
		SET session_replication_role = replica;
		SELECT pg_replication_origin_create('test_unreplicated')
		 WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'test_unreplicated');
		SELECT pg_replication_origin_session_setup('test_unreplicated');
		$sql;
		SELECT pg_replication_origin_session_reset();
		SET session_replication_role = origin;};
}

1;
