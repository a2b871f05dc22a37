/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  Connections to peers with libpq from backends and background workers.
 *
 * NOTES
 *	  Every wait goes through WaitLatchOrSocket, so that a cancel, a
 *	  terminate or postmaster death interrupts it: a peer that does not
 *	  answer never wedges a backend.  Errors carry libpq's message, which
 *	  never contains the password, and the DSN only in masked form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "mmr.h"
#include "remote.h"

#define MMR_CONNECT_TIMEOUT_MS 30000

/*
 * mmr_remote_error returns libpq's last message for conn, trimmed.
 */
char *
mmr_remote_error(PGconn *conn)
{
	char	   *msg = pstrdup(conn ? PQerrorMessage(conn) : "out of memory");
	int			len = strlen(msg);

	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	return msg;
}

/*
 * mmr_remote_wait waits until conn's socket is readable (or writable), the
 * latch is set, or timeout_ms passes (-1: no timeout).  Returns false on
 * timeout.  Processes interrupts.
 */
bool
mmr_remote_wait(PGconn *conn, bool for_write, long timeout_ms)
{
	int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
		(for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE);
	int			rc;

	if (timeout_ms >= 0)
		events |= WL_TIMEOUT;
	rc = WaitLatchOrSocket(MyLatch, events, PQsocket(conn), timeout_ms,
						   PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return !(rc & WL_TIMEOUT) || (rc & (WL_SOCKET_MASK | WL_LATCH_SET));
}

/*
 * mmr_remote_connect opens a connection (a logical replication connection
 * when replication is true) or raises an ERROR that names the masked DSN
 * and carries libpq's message.
 */
PGconn *
mmr_remote_connect(const char *dsn, bool replication, const char *appname)
{
	char	   *detail;
	PGconn	   *conn = mmr_remote_try_connect(dsn, replication, appname, &detail);

	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to \"%s\"", mmr_dsn_masked(dsn)),
				 errdetail_internal("%s", detail)));
	return conn;
}

/*
 * mmr_remote_try_connect opens a connection as mmr_remote_connect does, or
 * returns NULL with *detail set to the reason (libpq's message, or the
 * timeout), for callers that go on without the peer.
 */
PGconn *
mmr_remote_try_connect(const char *dsn, bool replication, const char *appname,
					   char **detail)
{
	const char *keys[5];
	const char *values[5];
	int			n = 0;
	PGconn	   *conn;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   MMR_CONNECT_TIMEOUT_MS);

	keys[n] = "dbname";
	values[n++] = dsn;
	if (replication)
	{
		keys[n] = "replication";
		values[n++] = "database";
	}
	keys[n] = "fallback_application_name";
	values[n++] = appname;
	keys[n] = "client_encoding";
	values[n++] = GetDatabaseEncodingName();
	keys[n] = NULL;
	values[n] = NULL;

	conn = PQconnectStartParams(keys, values, true);
	if (conn != NULL && PQstatus(conn) != CONNECTION_BAD)
	{
		PostgresPollingStatusType status = PGRES_POLLING_WRITING;

		while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
		{
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
															   deadline);

			if (left <= 0)
			{
				PQfinish(conn);
				*detail = psprintf("The connection attempt timed out after %d seconds.",
								   MMR_CONNECT_TIMEOUT_MS / 1000);
				return NULL;
			}
			if (!mmr_remote_wait(conn, status == PGRES_POLLING_WRITING, left))
				continue;
			status = PQconnectPoll(conn);
		}
	}

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		*detail = mmr_remote_error(conn);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * mmr_remote_exec sends one command and returns its last result (or the
 * COPY BOTH result that starts streaming).  NULL only when the connection
 * broke; the caller clears the result.
 */
PGresult *
mmr_remote_exec(PGconn *conn, const char *sql)
{
	PGresult   *last = NULL;

	if (!PQsendQuery(conn, sql))
		return NULL;

	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			mmr_remote_wait(conn, false, -1);
			if (!PQconsumeInput(conn))
			{
				PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			return last;
		PQclear(last);
		last = res;
		if (PQresultStatus(res) == PGRES_COPY_BOTH ||
			PQresultStatus(res) == PGRES_COPY_IN ||
			PQresultStatus(res) == PGRES_COPY_OUT ||
			PQstatus(conn) == CONNECTION_BAD)
			return last;
	}
}

/*
 * mmr_remote_exec_expect runs sql and raises an ERROR unless the result has
 * the expected status.
 */
PGresult *
mmr_remote_exec_expect(PGconn *conn, const char *sql, ExecStatusType expected)
{
	PGresult   *res = mmr_remote_exec(conn, sql);

	if (res == NULL || PQresultStatus(res) != expected)
	{
		char	   *msg = res ? pstrdup(PQresultErrorMessage(res)) : mmr_remote_error(conn);
		int			len = strlen(msg);

		while (len > 0 && msg[len - 1] == '\n')
			msg[--len] = '\0';
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("command on peer failed: %s", msg)));
	}
	return res;
}
