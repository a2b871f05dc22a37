/*-------------------------------------------------------------------------
 *
 * replication_slots.c
 *	  Reading the state of a local replication slot from shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "replication/slot.h"

#include "mmr.h"

/*
 * mmr_replication_slot_info copies a slot's active pid (0 if unused) and
 * confirmed flush position; returns false when there is no such slot.
 */
bool
mmr_replication_slot_info(const char *name, int *active_pid,
						  XLogRecPtr *confirmed_flush)
{
	bool		found = false;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (int i = 0; i < max_replication_slots && !found; i++)
	{
		ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];

		if (!s->in_use || strcmp(NameStr(s->data.name), name) != 0)
			continue;
		SpinLockAcquire(&s->mutex);
		*active_pid = s->active_pid;
		*confirmed_flush = s->data.confirmed_flush;
		SpinLockRelease(&s->mutex);
		found = true;
	}
	LWLockRelease(ReplicationSlotControlLock);
	return found;
}
