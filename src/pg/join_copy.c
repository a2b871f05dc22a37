/*-------------------------------------------------------------------------
 *
 * join_copy.c
 *	  The copy of a join: schema with pg_dump under the join node's exported
 *	  snapshot, data with COPY ... TO STDOUT in a transaction that uses the
 *	  same snapshot, written here with PostgreSQL's own COPY FROM.
 *
 * NOTES
 *	  Everything is written in the caller's one local transaction: a join
 *	  that dies midway leaves nothing behind, so it can simply be retried.
 *
 *	  pg_dump gets the join DSN through its environment (PGHOST, PGPASSWORD,
 *	  ... from libpq's own list), never on its command line, where ps would
 *	  show a password.  Its plain output is run here through SPI; the psql
 *	  meta-commands that pg_dump 15.14+ wraps it in (\restrict) are dropped.
 *
 *	  Rows are read in text format: binary COPY carries type oids (arrays,
 *	  records) that differ between servers.
 *
 *	  Copied rows keep the commit timestamp and origin they have on the join
 *	  node, which last-update-wins reads: each run of rows last written by
 *	  one transaction there is written here by a subtransaction, whose xid
 *	  the join worker later gives those facts (see join_worker.c).  A table
 *	  loaded in one transaction costs one subtransaction; a table whose
 *	  rows were each written by another transaction costs one per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "port.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "join.h"
#include "mmr.h"
#include "remote.h"
#include "tombstone.h"

/* The environment variables set for pg_dump, restored afterwards. */
typedef struct SavedEnv
{
	char	   *name;
	char	   *old_value;		/* NULL: was unset */
} SavedEnv;

static List *
set_libpq_env(const char *dsn)
{
	char	   *parse_error = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &parse_error);
	List	   *saved = NIL;

	if (opts == NULL)
	{
		if (parse_error)
			PQfreemem(parse_error);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid join DSN \"%s\"", mmr_dsn_masked(dsn))));
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		SavedEnv   *s;
		const char *old;

		if (o->val == NULL || o->envvar == NULL)
			continue;
		s = palloc(sizeof(SavedEnv));
		s->name = pstrdup(o->envvar);
		old = getenv(o->envvar);
		s->old_value = old ? pstrdup(old) : NULL;
		saved = lappend(saved, s);
		setenv(o->envvar, o->val, 1);
	}
	PQconninfoFree(opts);
	return saved;
}

static void
restore_env(List *saved)
{
	ListCell   *lc;

	foreach(lc, saved)
	{
		SavedEnv   *s = lfirst(lc);

		if (s->old_value)
			setenv(s->name, s->old_value, 1);
		else
			unsetenv(s->name);
	}
}

static char *
read_whole_file(const char *path)
{
	FILE	   *f = AllocateFile(path, "r");
	StringInfoData buf;
	char		chunk[8192];
	size_t		n;

	initStringInfo(&buf);
	if (f == NULL)
		return buf.data;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	FreeFile(f);
	return buf.data;
}

/*
 * mmr_join_dump_schema runs pg_dump for one schema section (pre-data:
 * tables and types; post-data: indexes, constraints, triggers) against
 * the join node with its exported snapshot and returns the SQL script.
 * Like pg_restore, the copy builds indexes after loading the data.
 */
char *
mmr_join_dump_schema(const char *dsn, const char *snapshot, const char *section)
{
	char		bindir[MAXPGPATH];
	char		outfile[MAXPGPATH];
	char	   *cmd;
	List	   *saved;
	FILE	   *pipe;
	StringInfoData errors;
	char		chunk[1024];
	size_t		n;
	int			rc;
	char	   *script;

	/* The snapshot name goes on the command line: only [0-9A-F-] */
	for (const char *p = snapshot; *p; p++)
		if (!isxdigit((unsigned char) *p) && *p != '-')
			elog(ERROR, "unexpected snapshot name \"%s\"", snapshot);

	strlcpy(bindir, my_exec_path, sizeof(bindir));
	get_parent_directory(bindir);
	MakePGDirectory(PG_TEMP_FILES_DIR);
	snprintf(outfile, sizeof(outfile), "%s/%s_mmr_join_%d.sql",
			 PG_TEMP_FILES_DIR, PG_TEMP_FILE_PREFIX, MyProcPid);
	Assert(strcmp(section, "pre-data") == 0 || strcmp(section, "post-data") == 0);
	cmd = psprintf("\"%s/pg_dump\" --section=%s --exclude-schema=mmr --no-publications --no-subscriptions "
				   "--snapshot=%s --file=\"%s\" 2>&1",
				   bindir, section, snapshot, outfile);

	saved = set_libpq_env(dsn);
	pipe = OpenPipeStream(cmd, "r");
	restore_env(saved);
	if (pipe == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not run pg_dump: %m")));

	initStringInfo(&errors);
	while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0)
		appendBinaryStringInfo(&errors, chunk, n);
	rc = ClosePipeStream(pipe);

	script = read_whole_file(outfile);
	unlink(outfile);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("pg_dump of the join node's schema failed: %s",
						wait_result_to_str(rc)),
				 errdetail_internal("%s", pchomp(errors.data))));
	return script;
}

/*
 * mmr_join_restore_schema runs pg_dump's script here, in the current
 * transaction.  CREATE EXTENSION IF NOT EXISTS mmr in it finds ours.
 */
void
mmr_join_restore_schema(const char *script)
{
	StringInfoData sql;
	const char *line = script;

	/* Drop the psql-only lines (\restrict, \unrestrict) */
	initStringInfo(&sql);
	while (*line != '\0')
	{
		const char *end = strchr(line, '\n');
		int			len = end ? end - line + 1 : strlen(line);

		if (line[0] != '\\')
			appendBinaryStringInfo(&sql, line, len);
		line += len;
	}

	/*
	 * The dump brings the member's tombstone triggers with its tables: the
	 * event trigger must not add them first (the dump's CREATE TRIGGER would
	 * then fail).
	 */
	mmr_tombstone_install_suspended = true;
	PG_TRY();
	{
		if (SPI_execute(sql.data, false, 0) < 0)
			elog(ERROR, "could not restore the join node's schema");
	}
	PG_FINALLY();
	{
		mmr_tombstone_install_suspended = false;
	}
	PG_END_TRY();

	/* The script's session settings must not outlive it. */
	if (SPI_execute("RESET ALL", false, 0) < 0)
		elog(ERROR, "could not reset settings after the schema restore");
	SetConfigOption("session_replication_role", "replica",
					PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * mmr_join_list_tables lists (quoted, qualified) the join node's tables
 * whose rows replicate: ordinary tables and leaf partitions outside the
 * system schemas and outside every extension, not excluded by
 * mmr.set_table_replicated.
 */
List *
mmr_join_list_tables(PGconn *src)
{
	PGresult   *res = mmr_remote_exec_expect(src,
											 "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
											 "FROM pg_catalog.pg_class c "
											 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
											 "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
											 "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
											 "AND n.nspname NOT LIKE 'pg\\_%' "
											 "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
											 "  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
											 "  AND d.objid = c.oid AND d.deptype = 'e') "
											 "AND NOT EXISTS (SELECT 1 FROM mmr.table_settings s "
											 "  WHERE s.relation = c.oid AND NOT s.replicated) "
											 "ORDER BY 1",
											 PGRES_TUPLES_OK);
	List	   *tables = NIL;

	for (int i = 0; i < PQntuples(res); i++)
		tables = lappend(tables, pstrdup(PQgetvalue(res, i, 0)));
	PQclear(res);
	return tables;
}

/*
 * The rows of one run: consecutive rows of a table that the join node
 * last wrote in the same transaction (same commit timestamp and origin),
 * in COPY text format, read by COPY FROM through run_read.
 */
static StringInfoData run;
static int	run_pos;

static int
run_read(void *outbuf, int minread, int maxread)
{
	int			n = Min(maxread, run.len - run_pos);

	memcpy(outbuf, run.data + run_pos, n);
	run_pos += n;
	return n;
}

/*
 * copy_run writes the current run in a subtransaction of its own, so that
 * its rows get an xid of their own, and notes that xid's stamp.
 */
static void
copy_run(Relation rel, TimestampTz ts, RepOriginId origin, List **stamps)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ParseState *pstate;
	CopyFromState cstate;
	TransactionId xid;

	if (run.len == 0)
		return;
	run_pos = 0;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);

	pstate = make_parsestate(NULL);
	(void) addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										 NULL, false, false);
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, run_read, NIL, NIL);
	(void) CopyFrom(cstate);
	EndCopyFrom(cstate);
	free_parsestate(pstate);
	xid = GetCurrentTransactionIdIfAny();

	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (TransactionIdIsValid(xid))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		MmrJoinStamp *st = palloc(sizeof(MmrJoinStamp));

		st->xid = xid;
		st->ts = ts;
		st->origin = origin;
		*stamps = lappend(*stamps, st);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&run);
}

/* Split off the next tab-separated field of a COPY text line. */
static char *
next_field(char **line, char *end)
{
	char	   *field = *line;
	char	   *tab = memchr(field, '\t', end - field);

	if (tab == NULL)
		elog(ERROR, "unexpected row format in the copy from the join node");
	*tab = '\0';
	*line = tab + 1;
	return field;
}

static RepOriginId
map_origin(const MmrJoinOriginMap *map, const char *remote)
{
	if (strcmp(remote, "\\N") != 0)
	{
		RepOriginId id = (RepOriginId) strtoul(remote, NULL, 10);

		for (int i = 0; i < map->n; i++)
			if (map->remote[i] == id)
				return map->local[i];
	}
	return map->fallback;
}

/*
 * mmr_join_copy_table copies one table's rows from src (in the snapshot's
 * transaction) into the same table here, each row with the commit
 * timestamp and origin it has on the join node: rows are read with
 * pg_xact_commit_timestamp_origin(xmin), and every run of rows with the
 * same facts is written by a subtransaction whose xid gets those facts
 * once the copy committed (stamps).  Returns the bytes read.
 */
uint64
mmr_join_copy_table(PGconn *src, const char *qualified_name, MmrWorkerSlot *slot,
					const MmrJoinOriginMap *map, List **stamps)
{
	RangeVar   *rv = makeRangeVarFromNameList(stringToQualifiedNameList(qualified_name));
	Relation	rel;
	PGresult   *res;
	char	   *cmd;
	char	   *columns;
	uint64		bytes = 0;
	char		cur_ts[64] = "";
	char		cur_origin[16] = "";
	TimestampTz ts = 0;
	RepOriginId origin = map->fallback;

	rel = table_openrv(rv, RowExclusiveLock);

	/* The columns COPY FROM expects: not dropped, not generated. */
	cmd = psprintf("SELECT pg_catalog.string_agg('s.' || pg_catalog.quote_ident(attname), ', ' ORDER BY attnum) "
				   "FROM pg_catalog.pg_attribute WHERE attrelid = %s::pg_catalog.regclass "
				   "AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
				   quote_literal_cstr(qualified_name));
	res = mmr_remote_exec_expect(src, cmd, PGRES_TUPLES_OK);
	columns = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);

	/* One call per row (OFFSET 0 keeps the subquery, so (c).f does not repeat it). */
	cmd = psprintf("COPY (SELECT (s.mmr_commit_facts).\"timestamp\", (s.mmr_commit_facts).roident, %s "
				   "FROM (SELECT pg_catalog.pg_xact_commit_timestamp_origin(t.xmin) AS mmr_commit_facts, t.* "
				   "FROM ONLY %s t OFFSET 0) s) TO STDOUT", columns, qualified_name);
	res = mmr_remote_exec(src, cmd);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT)
	{
		char	   *msg = res ? pchomp(PQresultErrorMessage(res)) : mmr_remote_error(src);

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not copy table %s from the join node", qualified_name),
				 errdetail_internal("%s", msg)));
	}
	PQclear(res);

	if (run.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&run);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&run);

	/* COPY TO sends one row per message. */
	for (;;)
	{
		char	   *buf;
		int			len = PQgetCopyData(src, &buf, 1);
		char	   *line;
		char	   *end;
		char	   *f_ts;
		char	   *f_origin;

		if (len == 0)
		{
			(void) mmr_remote_wait(src, false, 1000L);
			if (!PQconsumeInput(src))
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("lost the connection to the join node during the copy"),
						 errdetail_internal("%s", mmr_remote_error(src))));
			continue;
		}
		if (len == -1)
			break;
		if (len < -1)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not read the copy from the join node"),
					 errdetail_internal("%s", mmr_remote_error(src))));

		line = buf;
		end = buf + len;
		f_ts = next_field(&line, end);
		f_origin = next_field(&line, end);
		if (strcmp(f_ts, cur_ts) != 0 || strcmp(f_origin, cur_origin) != 0 ||
			run.len >= 16 * 1024 * 1024)
		{
			copy_run(rel, ts, origin, stamps);
			strlcpy(cur_ts, f_ts, sizeof(cur_ts));
			strlcpy(cur_origin, f_origin, sizeof(cur_origin));
			/* frozen rows have no known timestamp: 0, as on the join node */
			ts = strcmp(f_ts, "\\N") == 0 ? 0 :
				DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														CStringGetDatum(f_ts),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
			origin = map_origin(map, f_origin);
		}
		appendBinaryStringInfo(&run, line, end - line);
		bytes += len;
		PQfreemem(buf);

		SpinLockAcquire(&slot->mutex);
		slot->bytes_copied += len;
		SpinLockRelease(&slot->mutex);
		CHECK_FOR_INTERRUPTS();
	}
	copy_run(rel, ts, origin, stamps);
	table_close(rel, NoLock);

	res = PQgetResult(src);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		char	   *msg = pchomp(PQresultErrorMessage(res));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("copy of table %s from the join node failed", qualified_name),
				 errdetail_internal("%s", msg)));
	}
	PQclear(res);
	while ((res = PQgetResult(src)) != NULL)
		PQclear(res);

	SpinLockAcquire(&slot->mutex);
	slot->tables_done++;
	SpinLockRelease(&slot->mutex);
	return bytes;
}

/*
 * mmr_join_copy_sequences gives every sequence here the join node's value
 * (as of the snapshot).  Caller is connected to SPI.
 */
void
mmr_join_copy_sequences(PGconn *src)
{
	PGresult   *res = mmr_remote_exec_expect(src,
											 "SELECT pg_catalog.format('%I.%I', schemaname, sequencename), "
											 "last_value FROM pg_catalog.pg_sequences "
											 "WHERE schemaname <> 'mmr' AND last_value IS NOT NULL",
											 PGRES_TUPLES_OK);

	for (int i = 0; i < PQntuples(res); i++)
	{
		Oid			types[2] = {TEXTOID, INT8OID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(PQgetvalue(res, i, 0));
		values[1] = Int64GetDatum(pg_strtoint64(PQgetvalue(res, i, 1)));
		if (SPI_execute_with_args("SELECT pg_catalog.setval($1::regclass, $2, true)",
								  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not set sequence %s", PQgetvalue(res, i, 0));
	}
	PQclear(res);
}
