/*-------------------------------------------------------------------------
 *
 * resolvers.h
 *	  Which resolver decides each conflict type of a table (resolvers.c,
 *	  from the replicated catalog mmr.conflict_resolver and the GUC
 *	  mmr.default_conflict_resolver), and custom SQL resolvers
 *	  (resolver_sql.c), run as the table's owner.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_RESOLVERS_H
#define MMR_RESOLVERS_H

#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "mmr_core.h"

typedef struct MmrTableResolvers
{
	uint8		resolvers[MMR_CONFLICT_NTYPES]; /* MmrResolverKind */
	Oid			functions[MMR_CONFLICT_NTYPES]; /* for MMR_RESOLVER_CUSTOM */
} MmrTableResolvers;

/*
 * The resolvers of rel, looked up in this order: (table, type), (table,
 * '*'), the same for each partitioned table it is a partition of (nearest
 * first), the GUC.  CUSTOM only where mmr_conflict_custom_allowed(); other
 * types get the table's built-in resolver or the GUC's.  Cached; a change
 * of mmr.conflict_resolver (local or replicated) or of the GUC takes
 * effect at the next remote transaction without a restart.
 */
extern const MmrTableResolvers *mmr_table_resolvers(Relation rel);

/* The stored signature of rel's custom resolver for a type (messages). */
extern char *mmr_resolver_function_name(Relation rel, int conflict_type);

/*
 * Runs rel's custom resolver funcid(local_row, remote_row, conflict_type)
 * as the table's owner under SECURITY_RESTRICTED_OPERATION.  local may be
 * NULL (update_missing, update_deleted).  Returns false when the function
 * returned NULL; otherwise stores the returned row in result (a slot of
 * rel's descriptor).  An error inside the function propagates as an ERROR
 * whose message is the function's (the caller treats it as the error
 * resolver).
 */
extern bool mmr_call_custom_resolver(Relation rel, Oid funcid,
									 TupleTableSlot *local,
									 TupleTableSlot *remote,
									 const char *conflict_type,
									 TupleTableSlot *result);

#endif							/* MMR_RESOLVERS_H */
