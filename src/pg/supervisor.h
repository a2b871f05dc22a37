/*-------------------------------------------------------------------------
 *
 * supervisor.h
 *	  The supervisor and the per-database managers (background workers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_SUPERVISOR_H
#define MMR_SUPERVISOR_H

#include "postmaster/bgworker.h"

extern void mmr_supervisor_register(void);
extern bool mmr_start_worker(const char *function_name, const char *type,
							 const char *name, Datum main_arg,
							 const void *extra, Size extra_len,
							 BackgroundWorkerHandle **handle);
extern PGDLLEXPORT void mmr_supervisor_main(Datum main_arg);
extern PGDLLEXPORT void mmr_manager_main(Datum main_arg);

/* Backoff for restarting a worker that exited: 1 s doubling to 60 s. */
#define MMR_RESTART_MIN_MS 1000
#define MMR_RESTART_MAX_MS 60000

#endif							/* MMR_SUPERVISOR_H */
