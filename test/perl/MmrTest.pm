# MmrTest.pm: helpers shared by mmr's TAP tests.
#
# Nodes are PostgreSQL::Test::Cluster servers with the settings mmr needs
# (scripts/server_conf.sh, passed by scripts/test.sh as MMR_SERVER_CONF).
package MmrTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(mmr_node);

# The postgresql.conf lines every mmr node needs, as a list of lines.
sub server_conf_lines
{
	my $file = $ENV{MMR_SERVER_CONF}
	  or die "MMR_SERVER_CONF is not set (run the tests through scripts/test.sh)";
	return split /\n/, slurp_file($file);
}

# mmr_node(NAME, preload => 1): a new, started node with mmr's settings;
# preload => 0 leaves mmr out of shared_preload_libraries.
sub mmr_node
{
	my ($name, %opts) = @_;
	my $preload = exists $opts{preload} ? $opts{preload} : 1;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(allows_streaming => 'logical');
	my @lines = server_conf_lines();
	@lines = grep { !/^shared_preload_libraries/ } @lines unless $preload;
	$node->append_conf('postgresql.conf', join("\n", @lines) . "\n");
	$node->start;
	return $node;
}

1;
