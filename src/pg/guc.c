/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The configuration parameters of mmr (SPEC section 3).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "datatype/timestamp.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "mmr.h"

int			mmr_default_conflict_resolver = MMR_RESOLVER_LAST_UPDATE_WINS;
bool		mmr_log_conflicts = true;
bool		mmr_ddl_replication = false;
char	   *mmr_conflict_log_retention = NULL;
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
 * parse_interval reads an interval as interval_in does, without raising
 * an error (check hooks report bad values themselves).
 */
static bool
parse_interval(const char *value, Interval *result)
{
	char		workbuf[MAXDATELEN + 1];
	char		copy[MAXDATELEN + 1];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	struct pg_itm_in itm_in;
	int			dterr;

	if (strlen(value) > MAXDATELEN)
		return false;
	dterr = ParseDateTime(value, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE,
							   &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
	{
		strlcpy(copy, value, sizeof(copy));
		dterr = DecodeISO8601Interval(copy, &dtype, &itm_in);
	}
	return dterr == 0 && dtype == DTK_DELTA && itmin2interval(&itm_in, result) == 0;
}

static bool
check_conflict_log_retention(char **newval, void **extra, GucSource source)
{
	Interval	span;

	if (!parse_interval(*newval, &span))
	{
		GUC_check_errdetail("\"%s\" is not an interval.", *newval);
		return false;
	}
	if (span.month < 0 || span.day < 0 || span.time < 0)
	{
		GUC_check_errdetail("The retention must not be negative.");
		return false;
	}
	return true;
}

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

	/* Read by the manager, which purges mmr.conflict_history (manager.c). */
	DefineCustomStringVariable("mmr.conflict_log_retention",
							   "How long mmr.conflict_history keeps a conflict.",
							   "An interval; 0 keeps every conflict.",
							   &mmr_conflict_log_retention,
							   "30 days",
							   PGC_SIGHUP, 0,
							   check_conflict_log_retention, NULL, NULL);

	MarkGUCPrefixReserved("mmr");
}
