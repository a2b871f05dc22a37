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
 *	  one transaction there (same xmin) is written here by a subtransaction,
 *	  whose xid the join worker later gives those facts (see join_worker.c).
 *	  The facts are read once per run, after the table, not per row.  A
 *	  table loaded in one transaction costs one subtransaction; a table whose
 *	  rows were each written by another transaction costs one per row.
 *
 *	  COPY FROM pulls the rows straight from the connection, so the join
 *	  node reads while this node writes.
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
#include "output_relcache.h"
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
 * The table being copied, streamed from the join node into COPY FROM: a
 * run is consecutive rows that the join node last wrote in the same
 * transaction (same commit timestamp and origin).  COPY FROM pulls a run's
 * rows through run_read while the join node keeps sending, so reading
 * there and writing here overlap; the first row of the next run waits in
 * the stream until its own COPY FROM starts.
 */
typedef struct CopyStream
{
	PGconn	   *src;
	MmrWorkerSlot *slot;
	char	   *row;			/* libpq's buffer of the current row, or NULL */
	char	   *data;			/* its columns not yet passed on */
	int			len;			/* bytes at data */
	char	   *f_xmin;			/* the join node's xid that last wrote it */
	char		run_xmin[16];	/* that of the run being written */
	bool		done;			/* the join node's COPY ended */
	uint64		bytes;
} CopyStream;

static CopyStream stream;

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

/*
 * fetch_row makes the join node's next row the current one; false when
 * there is none yet (only without wait) or the copy ended (stream.done).
 * COPY TO sends one row per message.
 */
static bool
fetch_row(bool wait)
{
	bool		consumed = false;

	for (;;)
	{
		char	   *buf;
		int			len = PQgetCopyData(stream.src, &buf, 1);

		if (len > 0)
		{
			char	   *end = buf + len;

			stream.row = buf;
			stream.data = buf;
			stream.f_xmin = next_field(&stream.data, end);
			stream.len = end - stream.data;
			stream.bytes += len;
			SpinLockAcquire(&stream.slot->mutex);
			stream.slot->bytes_copied += len;
			SpinLockRelease(&stream.slot->mutex);
			return true;
		}
		if (len == -1)
		{
			stream.done = true;
			return false;
		}
		if (len < -1)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not read the copy from the join node"),
					 errdetail_internal("%s", mmr_remote_error(stream.src))));

		/* No whole row in libpq's buffer: take what the socket has. */
		if (consumed && !wait)
			return false;
		if (consumed)
			(void) mmr_remote_wait(stream.src, false, 1000L);
		if (!PQconsumeInput(stream.src))
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("lost the connection to the join node during the copy"),
					 errdetail_internal("%s", mmr_remote_error(stream.src))));
		consumed = true;
	}
}

static bool
row_in_run(void)
{
	return strcmp(stream.f_xmin, stream.run_xmin) == 0;
}

/*
 * run_read, COPY FROM's data source, passes on the rows of the current run
 * as far as they have arrived (at least one byte, or 0 at the run's end).
 */
static int
run_read(void *outbuf, int minread, int maxread)
{
	int			n = 0;

	for (;;)
	{
		if (stream.row != NULL)
		{
			int			k;

			if (!row_in_run())
				return n;
			k = Min(stream.len, maxread - n);
			memcpy((char *) outbuf + n, stream.data, k);
			n += k;
			stream.data += k;
			stream.len -= k;
			if (stream.len == 0)
			{
				PQfreemem(stream.row);
				stream.row = NULL;
			}
			if (n == maxread)
				return n;
		}
		CHECK_FOR_INTERRUPTS();
		if (stream.done || !fetch_row(n == 0))
			return n;
	}
}

static RepOriginId
map_origin(const MmrJoinOriginMap *map, const char *remote)
{
	if (remote != NULL)
	{
		RepOriginId id = (RepOriginId) strtoul(remote, NULL, 10);

		for (int i = 0; i < map->n; i++)
			if (map->remote[i] == id)
				return map->local[i];
	}
	return map->fallback;
}

/*
 * copy_run writes the run that starts with the current row in a
 * subtransaction of its own, so that its rows get an xid of their own,
 * and notes that xid's stamp.
 */
static void
copy_run(Relation rel, List **stamps)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ParseState *pstate;
	CopyFromState cstate;
	TransactionId xid;

	strlcpy(stream.run_xmin, stream.f_xmin, sizeof(stream.run_xmin));
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
		st->remote_xid = (TransactionId) strtoul(stream.run_xmin, NULL, 10);
		*stamps = lappend(*stamps, st);
		MemoryContextSwitchTo(old);
	}
}

/*
 * read_commit_facts fills in the commit timestamp and origin (mapped to
 * this node's origins) of stamps from index first on: those of their
 * join node xids, read there in one query.  A frozen row's facts may be
 * gone there: timestamp 0 (unknown), as on the join node.
 */
static void
read_commit_facts(PGconn *src, const MmrJoinOriginMap *map, List *stamps, int first)
{
	StringInfoData sql;
	PGresult   *res;

	if (first >= list_length(stamps))
		return;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT (pg_catalog.extract('epoch', f.\"timestamp\") * 1000000)::int8 "
						   "- 946684800000000, f.roident FROM pg_catalog.unnest('{");
	for (int i = first; i < list_length(stamps); i++)
		appendStringInfo(&sql, "%s%u", i > first ? "," : "",
						 ((MmrJoinStamp *) list_nth(stamps, i))->remote_xid);
	appendStringInfoString(&sql, "}'::pg_catalog.xid[]) WITH ORDINALITY u (x, i), "
						   "pg_catalog.pg_xact_commit_timestamp_origin(u.x) f ORDER BY u.i");
	res = mmr_remote_exec_expect(src, sql.data, PGRES_TUPLES_OK);
	if (PQntuples(res) != list_length(stamps) - first)
		elog(ERROR, "unexpected answer to the commit facts query on the join node");
	for (int i = first; i < list_length(stamps); i++)
	{
		MmrJoinStamp *st = list_nth(stamps, i);
		int			row = i - first;

		st->ts = PQgetisnull(res, row, 0) ? 0 : pg_strtoint64(PQgetvalue(res, row, 0));
		st->origin = map_origin(map, PQgetisnull(res, row, 1) ? NULL : PQgetvalue(res, row, 1));
	}
	PQclear(res);
	pfree(sql.data);
}

/*
 * copy_relation copies one table's rows from src (in the snapshot's
 * transaction) into the same table here, each row with the commit
 * timestamp and origin it has on the join node: rows are read with their
 * xmin, every run of rows with the same xmin is written by a
 * subtransaction, and that xid gets the run's facts once the copy
 * committed (stamps).  Returns the bytes read.
 */
static uint64
copy_relation(PGconn *src, const char *qualified_name, MmrWorkerSlot *slot,
			  const MmrJoinOriginMap *map, List **stamps)
{
	RangeVar   *rv = makeRangeVarFromNameList(stringToQualifiedNameList(qualified_name));
	Relation	rel;
	PGresult   *res;
	char	   *cmd;
	char	   *columns;

	int			first_stamp = list_length(*stamps);

	rel = table_openrv(rv, RowExclusiveLock);

	/* The columns COPY FROM expects: not dropped, not generated. */
	cmd = psprintf("SELECT pg_catalog.string_agg('t.' || pg_catalog.quote_ident(attname), ', ' ORDER BY attnum) "
				   "FROM pg_catalog.pg_attribute WHERE attrelid = %s::pg_catalog.regclass "
				   "AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
				   quote_literal_cstr(qualified_name));
	res = mmr_remote_exec_expect(src, cmd, PGRES_TUPLES_OK);
	columns = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);

	/* Each row with the xid that wrote it; its facts are read per run. */
	cmd = psprintf("COPY (SELECT t.xmin, %s FROM ONLY %s t) TO STDOUT",
				   columns, qualified_name);
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

	memset(&stream, 0, sizeof(stream));
	stream.src = src;
	stream.slot = slot;
	if (fetch_row(true))
		while (stream.row != NULL)
			copy_run(rel, stamps);
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

	read_commit_facts(src, map, *stamps, first_stamp);
	return stream.bytes;
}

/*
 * mmr_join_copy_table copies one user table (copy_relation) and counts it
 * in the join's progress.
 */
uint64
mmr_join_copy_table(PGconn *src, const char *qualified_name, MmrWorkerSlot *slot,
					const MmrJoinOriginMap *map, List **stamps)
{
	uint64		bytes = copy_relation(src, qualified_name, slot, map, stamps);

	SpinLockAcquire(&slot->mutex);
	slot->tables_done++;
	SpinLockRelease(&slot->mutex);
	return bytes;
}

/*
 * refresh_node_priorities gives the members that group_join copied the
 * priorities they have in the snapshot: a mmr.set_node_priority() made
 * between group_join and the snapshot is in neither the copied member list
 * nor the streams.
 */
static void
refresh_node_priorities(PGconn *src)
{
	PGresult   *res = mmr_remote_exec_expect(src,
											 "SELECT node_id, priority FROM mmr.node",
											 PGRES_TUPLES_OK);

	for (int i = 0; i < PQntuples(res); i++)
	{
		Datum		values[2];

		values[0] = Int32GetDatum(pg_strtoint32(PQgetvalue(res, i, 0)));
		values[1] = Int32GetDatum(pg_strtoint32(PQgetvalue(res, i, 1)));
		if (SPI_execute_with_args("UPDATE mmr.node SET priority = $2 "
								  "WHERE node_id = $1 AND priority <> $2",
								  2, (Oid[]) {INT4OID, INT4OID}, values, NULL,
								  false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update mmr.node");
	}
	PQclear(res);
}

/*
 * mmr_join_copy_catalogs makes the replicated catalogs here what they are
 * in the snapshot (mmr_replicated_catalogs says how each one is carried),
 * so that the settings made before the join, like the user rows, are
 * exactly those that the streams will not carry.  Their rows keep their
 * commit facts, as user rows do: conflicts on them are decided alike.
 *
 * Runs after the post-data section: a mmr.write_partition row's trigger
 * then finds the table's check triggers that the dump brought and adds
 * none (it only adds missing ones).  Caller is connected to SPI.
 */
void
mmr_join_copy_catalogs(PGconn *src, MmrWorkerSlot *slot,
					   const MmrJoinOriginMap *map, List **stamps)
{
	for (int i = 0; i < mmr_replicated_catalogs_count; i++)
	{
		const MmrReplicatedCatalog *cat = &mmr_replicated_catalogs[i];
		char	   *name = quote_qualified_identifier(MMR_SCHEMA_NAME, cat->relname);

		switch (cat->join)
		{
			case MMR_JOIN_MEMBER_LIST:
				refresh_node_priorities(src);
				break;
			case MMR_JOIN_COPY_ROWS:
				/* A node parted from another group kept its old settings. */
				if (SPI_execute(psprintf("DELETE FROM %s", name), false, 0) != SPI_OK_DELETE)
					elog(ERROR, "could not clear %s", name);
				(void) copy_relation(src, name, slot, map, stamps);
				break;
		}
	}
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
