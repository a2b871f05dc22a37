/*-------------------------------------------------------------------------
 *
 * join_identity.c
 *	  Node identity: which server and database a node is.
 *
 * NOTES
 *	  group_create and group_join record (system identifier, database oid)
 *	  in mmr.local_identity.  A pg_dump of a member restored elsewhere, or a
 *	  file-level copy of its data directory, carries the member's catalogs
 *	  and would otherwise stream from the member's slots on the peers,
 *	  taking changes the member then never gets.  Its identity row names
 *	  another server or database, so its manager starts no worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "join.h"

/*
 * mmr_identity_mismatch returns NULL when this database is the node its
 * catalogs describe, or else a one-line reason.  Caller is in a
 * transaction; allocates in the caller's context.
 */
char *
mmr_identity_mismatch(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char		sysid[32];
	char	   *reason = NULL;

	snprintf(sysid, sizeof(sysid), UINT64_FORMAT, GetSystemIdentifier());
	SPI_connect();
	if (SPI_execute("SELECT system_identifier, database_oid FROM mmr.local_identity",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.local_identity");
	if (SPI_processed == 0)
		reason = MemoryContextStrdup(cxt,
									 "this database is not the node its mmr catalogs describe: no identity is recorded");
	else
	{
		char	   *rec_sysid = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *rec_db = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		char		db[16];

		snprintf(db, sizeof(db), "%u", MyDatabaseId);
		if (strcmp(rec_sysid, sysid) != 0 || strcmp(rec_db, db) != 0)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			reason = psprintf("this database is a copy of an mmr node, not that node: "
							  "the node is database %s of system %s, this is database %s of system %s",
							  rec_db, rec_sysid, db, sysid);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return reason;
}
