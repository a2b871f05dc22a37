/*-------------------------------------------------------------------------
 *
 * mmr.h
 *	  Declarations shared by the PostgreSQL side of mmr (src/pg).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_H
#define MMR_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xlogdefs.h"
#include "lib/stringinfo.h"
#include "tcop/utility.h"

#include "mmr_core.h"

/* Name of the extension's schema and of its output plugin library. */
#define MMR_SCHEMA_NAME "mmr"

/* The publication that makes PostgreSQL refuse UPDATE/DELETE on keyless tables. */
#define MMR_GUARD_PUBLICATION "mmr_require_replica_identity"

/* mmr.c */
extern bool mmr_is_preloaded;
extern void mmr_require_preload(void);
extern void mmr_next_process_utility(ProcessUtility_hook_type prev,
									 PlannedStmt *pstmt, const char *queryString,
									 bool readOnlyTree, ProcessUtilityContext context,
									 ParamListInfo params, QueryEnvironment *queryEnv,
									 DestReceiver *dest, QueryCompletion *qc);

/* config_check.c */
extern void mmr_check_server_config(void);

/* guc.c; mmr_default_conflict_resolver is an MmrResolverKind (mmr_core.h) */
extern int	mmr_default_conflict_resolver;
extern bool mmr_log_conflicts;
extern bool mmr_ddl_replication;
extern char *mmr_conflict_log_retention;	/* an interval, '0': keep all */
extern int	mmr_max_clock_skew_ms;	/* mmr.max_clock_skew */
extern int	mmr_clock_skew_action;	/* MMR_SKEW_ACTION_* */
extern void mmr_define_gucs(void);

/* dsn.c */
extern char *mmr_dsn_masked(const char *dsn);

/* core_glue.c: the only way core errors and buffers cross into PostgreSQL */
extern void mmr_core_raise(const MmrError *err) pg_attribute_noreturn();
extern void mmr_core_append_message(StringInfo out, uint32 version,
									const MmrMessage *msg);

/*
 * names.c: names of the objects mmr keeps per peer.  The slot that peer P
 * consumes on this node and this node's replication origin for changes
 * from P are both named mmr_<this database's oid>_n<P's node id>: slot
 * and origin names are server-wide, node ids unique only in a group.
 */
extern char *mmr_peer_object_name(Oid local_dboid, int32 peer_node_id);

/* replication_slots.c */
extern bool mmr_replication_slot_info(const char *name, int *active_pid,
									  XLogRecPtr *confirmed_flush);

/* part.c */
extern void mmr_drop_peer_objects(int32 peer_node_id);

/* catalog.c */
extern Oid	mmr_schema_oid(bool missing_ok);
extern Oid	mmr_catalog_relid(const char *relname);
extern bool mmr_table_is_replicated(Oid relid);

/*
 * SQL run as the owner of mmr's catalogs, with search_path pg_catalog,
 * pg_temp (catalog.c): enter before SPI_connect (and before preparing a
 * saved plan), leave after SPI_finish.
 */
typedef struct MmrAsOwner
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} MmrAsOwner;
extern void mmr_as_owner_enter(MmrAsOwner *scope);
extern void mmr_as_owner_leave(MmrAsOwner *scope);

/* Reads a whole settings catalog, a row at a time (catalog.c). */
typedef void (*MmrCatalogRowFn) (HeapTuple tuple, TupleDesc desc, void *arg);
extern Oid	mmr_catalog_read_all(const char *relname, MmrCatalogRowFn row_fn,
								 void *arg);

#endif							/* MMR_H */
