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

extern void mmr_output_relcache_reset(void);
extern MmrOutputRelation *mmr_output_relation_get(Relation rel, bool binary);

#endif							/* MMR_OUTPUT_RELCACHE_H */
