/*-------------------------------------------------------------------------
 *
 * join.h
 *	  Joining with a data copy: the join worker (join_worker.c) and the copy
 *	  of schema and data from the join node (join_copy.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_JOIN_H
#define MMR_JOIN_H

#include "libpq-fe.h"
#include "replication/origin.h"

#include "shmem.h"

/* join_worker.c */
extern PGDLLEXPORT void mmr_join_worker_main(Datum main_arg);
extern void mmr_join_set_phase(MmrWorkerSlot *slot, const char *phase);
extern bool mmr_join_stamps_written(Oid dboid, int32 join_id);

/* join_identity.c */
extern char *mmr_identity_mismatch(void);

/* join_copy.c */

/* Maps the join node's replication origin ids to this node's. */
typedef struct MmrJoinOriginMap
{
	int			n;
	RepOriginId *remote;
	RepOriginId *local;
	RepOriginId fallback;		/* the join node's own writes, and unknown */
} MmrJoinOriginMap;

/* The commit facts a copy subtransaction's xid must get. */
typedef struct MmrJoinStamp
{
	TransactionId xid;
	TransactionId remote_xid;	/* the join node's xid that wrote the rows */
	TimestampTz ts;				/* 0: unknown (frozen on the join node) */
	RepOriginId origin;
} MmrJoinStamp;

extern char *mmr_join_dump_schema(const char *dsn, const char *snapshot,
								  const char *section);
extern void mmr_join_restore_schema(const char *script);
extern List *mmr_join_list_tables(PGconn *src);
extern uint64 mmr_join_copy_table(PGconn *src, const char *qualified_name,
								  MmrWorkerSlot *slot, const MmrJoinOriginMap *map,
								  List **stamps);
extern void mmr_join_copy_sequences(PGconn *src);
extern void mmr_join_copy_catalogs(PGconn *src, MmrWorkerSlot *slot,
								   const MmrJoinOriginMap *map, List **stamps);

#endif							/* MMR_JOIN_H */
