/*-------------------------------------------------------------------------
 *
 * supervisor.h
 *	  The supervisor and the per-database managers (background workers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_SUPERVISOR_H
#define MMR_SUPERVISOR_H

extern void mmr_supervisor_register(void);
extern PGDLLEXPORT void mmr_supervisor_main(Datum main_arg);
extern PGDLLEXPORT void mmr_manager_main(Datum main_arg);

/* Backoff for restarting a worker that exited: 1 s doubling to 60 s. */
#define MMR_RESTART_MIN_MS 1000
#define MMR_RESTART_MAX_MS 60000

#endif							/* MMR_SUPERVISOR_H */
