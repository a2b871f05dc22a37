/*-------------------------------------------------------------------------
 *
 * ddl.h
 *	  DDL replication (docs/ddl.md): the facts of a statement
 *	  (ddl_facts.c), its capture and mmr.replicate_ddl() (ddl_capture.c),
 *	  and the apply of a peer's DDL message (ddl_apply.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_DDL_H
#define MMR_DDL_H

#include "nodes/nodes.h"

#include "mmr_core.h"

/* What the facts found, for the messages of a refusal. */
typedef struct MmrDdlFactsDetail
{
	const char *unreplicated_table; /* a table excluded from replication */
} MmrDdlFactsDetail;

/* ddl_facts.c */
extern void mmr_ddl_gather_facts(Node *parsetree, MmrDdlFacts *facts,
								 MmrDdlFactsDetail *detail);

/* ddl_capture.c */
extern void mmr_ddl_capture_init(void);
extern void mmr_ddl_execute(const char *command);

/* ddl_apply.c */
extern void mmr_ddl_apply(const char *data, size_t len);

#endif							/* MMR_DDL_H */
