/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The configuration parameters of mmr (SPEC section 3).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "mmr.h"

int			mmr_default_conflict_resolver = MMR_RESOLVER_LAST_UPDATE_WINS;
bool		mmr_log_conflicts = true;
bool		mmr_ddl_replication = false;

static const struct config_enum_entry resolver_options[] = {
	{"last_update_wins", MMR_RESOLVER_LAST_UPDATE_WINS, false},
	{"first_update_wins", MMR_RESOLVER_FIRST_UPDATE_WINS, false},
	{"origin_wins", MMR_RESOLVER_ORIGIN_WINS, false},
	{"apply_remote", MMR_RESOLVER_APPLY_REMOTE, false},
	{"keep_local", MMR_RESOLVER_KEEP_LOCAL, false},
	{"error", MMR_RESOLVER_ERROR, false},
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

	MarkGUCPrefixReserved("mmr");
}
