/*-------------------------------------------------------------------------
 *
 * remote.h
 *	  Connections to peers with libpq, interruptible and never leaking a
 *	  password into a message (see remote.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_REMOTE_H
#define MMR_REMOTE_H

#include "libpq-fe.h"

extern PGconn *mmr_remote_connect(const char *dsn, bool replication,
								  const char *appname);
extern PGconn *mmr_remote_try_connect(const char *dsn, bool replication,
									  const char *appname, char **detail);
extern PGresult *mmr_remote_exec(PGconn *conn, const char *sql);
extern PGresult *mmr_remote_exec_expect(PGconn *conn, const char *sql,
										ExecStatusType expected);
extern bool mmr_remote_wait(PGconn *conn, bool for_write, long timeout_ms);
extern char *mmr_remote_error(PGconn *conn);

#endif							/* MMR_REMOTE_H */
