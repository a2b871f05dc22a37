/*-------------------------------------------------------------------------
 *
 * output_relcache.h
 *	  The output plugin's per-relation cache (see output_relcache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_OUTPUT_RELCACHE_H
#define MMR_OUTPUT_RELCACHE_H

#include "fmgr.h"
#include "utils/relcache.h"

/* One column that is sent: not dropped, not generated. */
typedef struct MmrOutputColumn
{
	int			attindex;		/* index in the relation's TupleDesc */
	bool		is_key;			/* part of the replica identity */
	bool		is_varlena;
	bool		binary;			/* send function, else output function */
	FmgrInfo	out_func;
} MmrOutputColumn;

typedef struct MmrOutputRelation
{
	Oid			relid;			/* hash key */
	bool		valid;			/* false after a relcache invalidation */
	bool		published;		/* changes are sent */
	bool		schema_sent;	/* RELATION sent in this stream */
	int			ncolumns;
	MmrOutputColumn *columns;
} MmrOutputRelation;

/*
 * How a node that joins with a data copy gets the rows a replicated catalog
 * held before it joined (later changes come through the streams).
 */
typedef enum MmrJoinCarry
{
	MMR_JOIN_MEMBER_LIST,		/* mmr.node: group_join copies the members;
								 * the copy refreshes their priorities */
	MMR_JOIN_COPY_ROWS			/* copied with the data, under its snapshot */
} MmrJoinCarry;

typedef struct MmrReplicatedCatalog
{
	const char *relname;		/* in schema mmr */
	MmrJoinCarry join;
} MmrReplicatedCatalog;

/* The one list of them (output_relcache.c). */
extern const MmrReplicatedCatalog mmr_replicated_catalogs[];
extern const int mmr_replicated_catalogs_count;

extern void mmr_output_relcache_reset(void);
extern MmrOutputRelation *mmr_output_relation_get(Relation rel, bool binary);

#endif							/* MMR_OUTPUT_RELCACHE_H */
