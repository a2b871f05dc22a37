/*-------------------------------------------------------------------------
 *
 * names.c
 *	  Names of the replication slots and origins mmr keeps per peer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mmr.h"

char *
mmr_peer_object_name(Oid local_dboid, int32 peer_node_id)
{
	return psprintf("mmr_%u_n%d", local_dboid, peer_node_id);
}
