/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The configuration parameters of mmr (SPEC section 3).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "mmr.h"

int			mmr_default_conflict_resolver = MMR_RESOLVER_LAST_UPDATE_WINS;
bool		mmr_log_conflicts = true;
bool		mmr_ddl_replication = false;
int			mmr_max_clock_skew_ms = 5000;
int			mmr_clock_skew_action = MMR_SKEW_ACTION_WARN;

static const struct config_enum_entry resolver_options[] = {
	{"last_update_wins", MMR_RESOLVER_LAST_UPDATE_WINS, false},
	{"first_update_wins", MMR_RESOLVER_FIRST_UPDATE_WINS, false},
	{"origin_wins", MMR_RESOLVER_ORIGIN_WINS, false},
	{"apply_remote", MMR_RESOLVER_APPLY_REMOTE, false},
	{"keep_local", MMR_RESOLVER_KEEP_LOCAL, false},
	{"error", MMR_RESOLVER_ERROR, false},
	{NULL, 0, false}
};

static const struct config_enum_entry clock_skew_action_options[] = {
	{"warn", MMR_SKEW_ACTION_WARN, false},
	{"wait", MMR_SKEW_ACTION_WAIT, false},
	{NULL, 0, false}
};

/*
 * mmr_define_gucs defines the parameters and reserves the mmr prefix.
 *
 * The resolver and conflict logging are read by apply workers, so they are
 * server-wide (SIGHUP); DDL capture is decided per session.
 */
void
mmr_define_gucs(void)
{
	DefineCustomEnumVariable("mmr.default_conflict_resolver",
							 "Conflict resolver for tables without their own.",
							 "Must be the same on every node of a group so that all nodes decide alike.",
							 &mmr_default_conflict_resolver,
							 MMR_RESOLVER_LAST_UPDATE_WINS,
							 resolver_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("mmr.log_conflicts",
							 "Records every resolved conflict in mmr.conflict_history.",
							 NULL,
							 &mmr_log_conflicts,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("mmr.ddl_replication",
							 "Captures DDL run on this node and replicates it to every peer.",
							 NULL,
							 &mmr_ddl_replication,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/* Read by apply workers at each remote BEGIN (docs/conflicts.md). */
	DefineCustomIntVariable("mmr.max_clock_skew",
							"Remote commit times ahead of the local clock by more than this are reported.",
							"Within it, apply waits silently until the local clock has passed the remote commit time.",
							&mmr_max_clock_skew_ms,
							5000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("mmr.clock_skew_action",
							 "What apply does when a remote commit time is ahead by more than mmr.max_clock_skew.",
							 "warn: report it and apply without waiting; wait: report it and wait until the local clock has passed it.",
							 &mmr_clock_skew_action,
							 MMR_SKEW_ACTION_WARN,
							 clock_skew_action_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("mmr");
}
