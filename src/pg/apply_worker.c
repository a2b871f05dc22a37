/*-------------------------------------------------------------------------
 *
 * apply_worker.c
 *	  The apply worker: one background worker per (database, peer) that
 *	  streams the peer's changes from its mmr slot and applies them here.
 *	  This file holds the entry point, the connection, the streaming loop
 *	  and the feedback to the peer.
 *
 * NOTES
 *	  Started by the database's manager (which acquired our shared memory
 *	  slot and restarts us with backoff after an error); we never restart
 *	  ourselves.  Every error is recorded in the slot, so that
 *	  mmr.replication_status shows it, and then ends the process.
 *
 *	  Where to start is the replication origin's progress, which each
 *	  applied transaction advances in its own commit record.  After any
 *	  crash we therefore restart exactly after the last transaction that
 *	  committed here: nothing lost, nothing applied twice.  The flush
 *	  position we report to the peer (apply_progress.c) never runs ahead of
 *	  our flushed commits, so the peer keeps everything we might still need.
 *
 *	  The loop reads every CopyData message that is available, applies it,
 *	  and sleeps on the socket and the latch when there is none: ~100 ms
 *	  while applied commits wait for the local WAL flush (so the peer hears
 *	  about them soon), ~1 s otherwise.  Between remote transactions it
 *	  honours mmr.apply_pause(): it stops reading (the changes wait in the
 *	  peer's slot) but keeps sending status updates so that the peer's
 *	  walsender does not time us out.
 *
 *	  The core is called once per message, to decode it; its pointers are
 *	  used only until the next decode.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "replication/walreceiver.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apply.h"
#include "apply_internal.h"
#include "conflict_log.h"
#include "mmr.h"
#include "remote.h"
#include "shmem.h"

/* Waits of the loop, in milliseconds. */
#define APPLY_WAIT_FLUSH_PENDING_MS 100
#define APPLY_WAIT_IDLE_MS 1000
/* Status updates while streaming busily, at most this often. */
#define APPLY_FEEDBACK_MIN_INTERVAL_MS 100
/* Status updates when wal_receiver_status_interval is 0. */
#define APPLY_FEEDBACK_DEFAULT_INTERVAL_MS 10000

/* The peer, as mmr.node describes it. */
typedef struct ApplyPeer
{
	int32		node_id;
	char	   *name;
	char	   *dsn;
	int32		local_node_id;
} ApplyPeer;

MmrApplyErrorContext mmr_apply_errctx;
MmrWorkerSlot *mmr_apply_slot = NULL;
MemoryContext mmr_apply_message_context = NULL;

static ApplyPeer peer;
static PGconn *peer_conn = NULL;
static MmrDecoder *decoder = NULL;
static MmrApplyState apply_state = MMR_APPLY_CONNECTING;

/* Stream positions and feedback bookkeeping. */
static XLogRecPtr last_received = InvalidXLogRecPtr;
static TimestampTz last_received_at = 0;
static bool ping_sent = false;
static XLogRecPtr sent_write = InvalidXLogRecPtr;
static XLogRecPtr sent_flush = InvalidXLogRecPtr;
static XLogRecPtr sent_apply = InvalidXLogRecPtr;
static TimestampTz sent_at = 0;
static bool flush_pending = false;
static XLogRecPtr catchup_target = InvalidXLogRecPtr;	/* peer's flush LSN
														 * when we connected */

static char *error_text(ErrorData *edata);
static char *one_line(const char *message);
static void apply_attach_slot(int32 peer_node_id);
static void apply_load_peer(int32 peer_node_id);
static XLogRecPtr apply_setup_origin(void);
static void apply_connect(XLogRecPtr start_lsn);
static void apply_check_not_parted(void);
static void apply_check_slot(const char *slot_name);
static void apply_loop(void);
static bool apply_copy_data(char *buf, int len);
static void apply_stream_ended(void);
static void apply_set_state(MmrApplyState state);
static void apply_check_caught_up(void);
static void apply_note_received(XLogRecPtr lsn, XLogRecPtr wal_end);
static void apply_wait_while_paused(void);
static void apply_check_timeout(void);
static void send_feedback(bool force, bool request_reply);
static int	feedback_interval_ms(void);
static void apply_error_callback(void *arg);
static void apply_shutdown(int code, Datum arg);

/*
 * mmr_apply_worker_main is the background worker's entry point
 * (bgw_function_name "mmr_apply_worker_main"; bgw_extra holds the
 * MmrApplyWorkerArgs).
 */
void
mmr_apply_worker_main(Datum main_arg)
{
	MmrApplyWorkerArgs args;
	ErrorContextCallback errcallback;
	MemoryContext worker_context;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	worker_context = AllocSetContextCreate(TopMemoryContext,
										   "mmr apply worker",
										   ALLOCSET_DEFAULT_SIZES);
	mmr_apply_message_context = AllocSetContextCreate(TopMemoryContext,
													  "mmr apply message",
													  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(worker_context);

	apply_attach_slot(args.peer_node_id);
	apply_set_state(MMR_APPLY_CONNECTING);

	memset(&mmr_apply_errctx, 0, sizeof(mmr_apply_errctx));
	errcallback.callback = apply_error_callback;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	PG_TRY();
	{
		XLogRecPtr	start_lsn;

		apply_load_peer(args.peer_node_id);
		mmr_apply_errctx.peer_name = peer.name;
		mmr_skip_init(peer.node_id);

		/*
		 * Triggers and foreign keys behave as in PostgreSQL's own apply: only
		 * ENABLE REPLICA / ALWAYS triggers fire.  Commits need not wait for
		 * the disk: origins and flush tracking make them crash safe.
		 */
		SetConfigOption("session_replication_role", "replica",
						PGC_SUSET, PGC_S_OVERRIDE);
		SetConfigOption("synchronous_commit", "off",
						PGC_SUSET, PGC_S_OVERRIDE);

		start_lsn = apply_setup_origin();
		apply_connect(start_lsn);
		apply_loop();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * Leave the message (with its detail, which for connection failures
		 * holds libpq's reason) for mmr.replication_status, then die with
		 * it.
		 */
		MemoryContextSwitchTo(worker_context);
		edata = CopyErrorData();
		mmr_slot_set_error(mmr_apply_slot, error_text(edata));

		/*
		 * An error resolution is logged in a fresh transaction after the
		 * abort (conflict_log.c), then the error goes on as it came.
		 */
		FlushErrorState();
		mmr_conflict_log_error_path();
		ReThrowError(edata);
	}
	PG_END_TRY();

	proc_exit(0);
}

/*
 * error_text is what mmr.replication_status.last_error shows of an error:
 * its message and detail (which for connection failures holds libpq's
 * reason), on one line, and the remote transaction it stopped, whose
 * commit LSN is what mmr.skip_transaction() takes.
 */
static char *
error_text(ErrorData *edata)
{
	char	   *text = edata->message;

	if (edata->detail != NULL)
		text = psprintf("%s: %s", text, edata->detail);
	if (TransactionIdIsValid(mmr_apply_errctx.remote_xid))
		text = psprintf("%s (remote transaction %u committed at %X/%X)", text,
						mmr_apply_errctx.remote_xid,
						LSN_FORMAT_ARGS(mmr_apply_errctx.final_lsn));
	return one_line(text);
}

/*
 * one_line turns a possibly multi-line message (libpq's often are) into
 * one line for mmr.replication_status.last_error.
 */
static char *
one_line(const char *message)
{
	StringInfoData buf;
	const char *p = message;

	initStringInfo(&buf);
	while (*p != '\0')
	{
		if (*p == '\n' || *p == '\r' || *p == '\t')
		{
			while (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ')
				p++;
			if (*p != '\0' && buf.len > 0)
				appendStringInfoChar(&buf, ' ');
			continue;
		}
		appendStringInfoChar(&buf, *p++);
	}
	return buf.data;
}

/*
 * apply_attach_slot finds the slot the manager acquired for us and records
 * this process in it.  Without one (the manager gave up on the peer
 * meanwhile) there is nothing to do.
 */
static void
apply_attach_slot(int32 peer_node_id)
{
	MmrWorkerSlot *slot;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	slot = mmr_slot_find(MMR_WORKER_APPLY, MyDatabaseId, peer_node_id);
	if (slot != NULL)
		mmr_slot_attach(slot);
	LWLockRelease(MmrShmem->lock);

	if (slot == NULL)
	{
		elog(DEBUG1, "mmr apply worker for node %d has no slot, exiting",
			 peer_node_id);
		proc_exit(0);
	}
	mmr_apply_slot = slot;
}

/*
 * apply_load_peer reads this node's id and the peer's name, DSN and status
 * from the catalogs.  Exits quietly when the peer is gone or parted, or
 * when this database is no longer a node.
 */
static void
apply_load_peer(int32 peer_node_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(peer_node_id)};
	bool		exit_now = false;
	int			ret;

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	ret = SPI_execute_with_args("SELECT l.node_id, n.node_name, n.dsn, n.status "
								"FROM mmr.local_node l "
								"LEFT JOIN mmr.node n ON n.node_id = $1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));

	if (SPI_processed == 0)
		exit_now = true;		/* this database is not a node */
	else
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		HeapTuple	tuple = SPI_tuptable->vals[0];
		bool		isnull;
		char	   *status;

		peer.node_id = peer_node_id;
		peer.local_node_id = DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull));
		status = SPI_getvalue(tuple, desc, 4);
		if (status == NULL || strcmp(status, "parted") == 0)
			exit_now = true;
		else
		{
			peer.name = MemoryContextStrdup(TopMemoryContext,
											SPI_getvalue(tuple, desc, 2));
			peer.dsn = MemoryContextStrdup(TopMemoryContext,
										   SPI_getvalue(tuple, desc, 3));
		}
	}

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();

	if (exit_now)
	{
		elog(DEBUG1, "mmr apply worker for node %d: the peer is gone or parted, exiting",
			 peer_node_id);
		mmr_slot_set_state(mmr_apply_slot, MMR_APPLY_STOPPED);
		proc_exit(0);
	}
}

/*
 * apply_setup_origin binds this session to the peer's replication origin
 * (creating it on first use) and returns its progress: the end of the last
 * remote transaction that committed here, or 0/0 for none.  The commit
 * time of that transaction goes into the slot.
 */
static XLogRecPtr
apply_setup_origin(void)
{
	RepOriginId originid;
	XLogRecPtr	start_lsn;
	TimestampTz last_commit_time;
	bool		known;
	char	   *name;

	StartTransactionCommand();
	name = mmr_peer_object_name(MyDatabaseId, peer.node_id);
	originid = replorigin_by_name(name, true);
	if (originid == InvalidRepOriginId)
		originid = replorigin_create(name);
	replorigin_session_setup(originid);
	replorigin_session_origin = originid;
	start_lsn = replorigin_session_get_progress(false);
	CommitTransactionCommand();

	/*
	 * After a server restart the slot knows no applied commit time yet (a
	 * worker restart keeps it): this node's horizon for the peer, and the
	 * lag, start from the last commit applied before.
	 */
	SpinLockAcquire(&mmr_apply_slot->mutex);
	known = mmr_apply_slot->max_applied_commit_time != 0;
	SpinLockRelease(&mmr_apply_slot->mutex);
	if (!known)
	{
		last_commit_time = mmr_progress_last_commit_time(originid);
		SpinLockAcquire(&mmr_apply_slot->mutex);
		if (mmr_apply_slot->max_applied_commit_time < last_commit_time)
			mmr_apply_slot->max_applied_commit_time = last_commit_time;
		if (mmr_apply_slot->last_applied_commit_time == 0)
			mmr_apply_slot->last_applied_commit_time = last_commit_time;
		SpinLockRelease(&mmr_apply_slot->mutex);
	}

	return start_lsn;
}

/*
 * apply_connect opens the replication connection to the peer, makes sure
 * our slot exists there, and starts streaming from start_lsn (0/0: from
 * the slot's confirmed position).
 */
static void
apply_connect(XLogRecPtr start_lsn)
{
	char	   *appname = psprintf("mmr apply %s", peer.name);
	PGresult   *res;
	Oid			peer_dboid;
	char	   *slot_name;
	char	   *cmd;
	MmrError	err;

	decoder = mmr_decoder_create(&err);
	if (decoder == NULL)
		mmr_core_raise(&err);

	peer_conn = mmr_remote_connect(peer.dsn, true, appname);
	on_proc_exit(apply_shutdown, (Datum) 0);

	res = mmr_remote_exec_expect(peer_conn,
								 "SELECT oid FROM pg_database WHERE datname = current_database()",
								 PGRES_TUPLES_OK);
	if (PQntuples(res) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not determine the database of peer \"%s\"", peer.name)));
	peer_dboid = (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);

	apply_check_not_parted();
	slot_name = mmr_peer_object_name(peer_dboid, peer.local_node_id);
	apply_check_slot(slot_name);

	/* Where the peer's WAL ends now: until we get there we catch up. */
	res = mmr_remote_exec_expect(peer_conn, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK);
	catchup_target = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
													 CStringGetDatum(PQgetvalue(res, 0, 2))));
	PQclear(res);

	cmd = psprintf("START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '%d', binary 'on')",
				   quote_identifier(slot_name), LSN_FORMAT_ARGS(start_lsn),
				   MMR_PROTO_VERSION_MAX);
	res = mmr_remote_exec(peer_conn, cmd);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		char	   *msg = res ? pchomp(PQresultErrorMessage(res)) :
			mmr_remote_error(peer_conn);

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not start streaming from replication slot \"%s\" on peer \"%s\"",
						slot_name, peer.name),
				 errdetail_internal("%s", msg)));
	}
	PQclear(res);

	last_received = start_lsn;
	last_received_at = GetCurrentTimestamp();
	sent_write = sent_flush = sent_apply = start_lsn;
	mmr_progress_init(start_lsn);

	SpinLockAcquire(&mmr_apply_slot->mutex);
	mmr_apply_slot->received_lsn = start_lsn;
	if (mmr_apply_slot->sender_wal_end < catchup_target)
		mmr_apply_slot->sender_wal_end = catchup_target;
	if (mmr_apply_slot->applied_lsn < start_lsn)
		mmr_apply_slot->applied_lsn = start_lsn;
	SpinLockRelease(&mmr_apply_slot->mutex);
	apply_set_state(MMR_APPLY_CATCHING_UP);

	ereport(LOG,
			(errmsg("mmr apply worker for peer \"%s\" started streaming from %X/%X",
					peer.name, LSN_FORMAT_ARGS(start_lsn)),
			 errhidecontext(true)));
}

/*
 * apply_check_not_parted stops the worker when the peer has parted this
 * node: its slot there was dropped on purpose and must not come back.
 * (A peer that has not heard of this node yet is fine: a join registers
 * a node on one member and the others learn of it through replication.)
 */
static void
apply_check_not_parted(void)
{
	char	   *cmd = psprintf("SELECT status FROM mmr.node WHERE node_id = %d",
							   peer.local_node_id);
	PGresult   *res = mmr_remote_exec_expect(peer_conn, cmd, PGRES_TUPLES_OK);
	bool		parted = PQntuples(res) > 0 &&
		strcmp(PQgetvalue(res, 0, 0), "parted") == 0;

	PQclear(res);
	if (!parted)
		return;

	SpinLockAcquire(&mmr_apply_slot->mutex);
	snprintf(mmr_apply_slot->last_error, MMR_LAST_ERROR_SIZE,
			 "peer \"%s\" has parted this node from the group", peer.name);
	mmr_apply_slot->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&mmr_apply_slot->mutex);
	ereport(LOG,
			(errmsg("mmr apply worker for peer \"%s\" stops: the peer has parted this node",
					peer.name),
			 errhint("Run mmr.part_node() for the peer on this node, or part this node and join again.")));
	proc_exit(0);
}

/*
 * apply_check_slot makes sure our slot exists on the peer.  Only a join
 * creates it: a slot created now would start at the peer's current
 * position and silently skip every change since the old one was lost.
 */
static void
apply_check_slot(const char *slot_name)
{
	PGresult   *res;
	char	   *cmd;
	bool		exists;

	cmd = psprintf("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
				   quote_literal_cstr(slot_name));
	res = mmr_remote_exec_expect(peer_conn, cmd, PGRES_TUPLES_OK);
	exists = PQntuples(res) > 0;
	PQclear(res);
	if (!exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("replication slot \"%s\" does not exist on peer \"%s\"",
						slot_name, peer.name),
				 errdetail("The peer's changes since the slot was lost cannot be streamed; mmr does not re-create the slot at the current position, which would skip them."),
				 errhint("Part this node (mmr.part_node) and join it again with a data copy.")));
}

/*
 * apply_shutdown closes the connection at process exit, so that the peer's
 * walsender ends at once instead of at its timeout.
 */
static void
apply_shutdown(int code, Datum arg)
{
	if (peer_conn != NULL)
		PQfinish(peer_conn);
	peer_conn = NULL;
	if (decoder != NULL)
		mmr_decoder_destroy(decoder);
	decoder = NULL;
}

/*
 * apply_loop receives and applies until an error or a signal ends the
 * process.
 */
static void
apply_loop(void)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (!mmr_apply_in_remote_xact())
			apply_wait_while_paused();

		/* Apply everything that is there. */
		for (;;)
		{
			char	   *buf;
			int			len = PQgetCopyData(peer_conn, &buf, 1);
			bool		committed;

			if (len == 0)
			{
				if (!PQconsumeInput(peer_conn))
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("lost the connection to peer \"%s\"", peer.name),
							 errdetail_internal("%s", mmr_remote_error(peer_conn))));
				len = PQgetCopyData(peer_conn, &buf, 1);
				if (len == 0)
					break;
			}
			if (len == -1)
				apply_stream_ended();
			if (len < -1)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("lost the connection to peer \"%s\"", peer.name),
						 errdetail_internal("%s", mmr_remote_error(peer_conn))));

			MemoryContextSwitchTo(mmr_apply_message_context);
			committed = apply_copy_data(buf, len);
			PQfreemem(buf);
			MemoryContextReset(mmr_apply_message_context);

			/*
			 * A busy stream never lets the outer loop run: report progress
			 * from here too (also inside a long remote transaction, so that
			 * the walsender does not time us out), and honour a pause at
			 * the end of each transaction.
			 */
			if (TimestampDifferenceExceeds(sent_at, last_received_at,
										   APPLY_FEEDBACK_MIN_INTERVAL_MS))
				send_feedback(false, false);
			if (committed && mmr_apply_paused(MyDatabaseId, peer.node_id))
				break;
			CHECK_FOR_INTERRUPTS();
		}

		send_feedback(false, false);
		apply_check_timeout();

		mmr_remote_wait(peer_conn, false,
						flush_pending ? APPLY_WAIT_FLUSH_PENDING_MS : APPLY_WAIT_IDLE_MS);
	}
}

/*
 * apply_copy_data handles one CopyData message of the stream: XLogData
 * ('w', a batch of mmr messages) or a primary keepalive ('k').  Returns true when
 * it committed a remote transaction.
 */
static bool
apply_copy_data(char *buf, int len)
{
	StringInfoData s;
	char		type;

	s.data = buf;
	s.len = len;
	s.cursor = 0;
	s.maxlen = -1;

	type = pq_getmsgbyte(&s);
	if (type == 'w')
	{
		XLogRecPtr	wal_end;
		bool		committed = false;

		(void) pq_getmsgint64(&s);	/* data start */
		wal_end = pq_getmsgint64(&s);

		(void) pq_getmsgint64(&s);	/* send time */
		/* Only a COMMIT (below) moves the received position. */
		apply_note_received(InvalidXLogRecPtr, wal_end);

		/* One or more whole messages, a COMMIT only at the end. */
		while (s.cursor < s.len)
		{
			MmrMessage	msg;
			MmrError	err;
			size_t		consumed;

			if (committed)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("peer \"%s\" sent data after COMMIT in the same message",
								peer.name)));
			if (mmr_decoder_decode_first(decoder, MMR_PROTO_VERSION_MAX,
										 s.data + s.cursor, s.len - s.cursor,
										 &msg, &consumed, &err) != MMR_OK)
				mmr_core_raise(&err);
			s.cursor += (int) consumed;
			mmr_apply_handle_message(&msg);
			committed = msg.kind == MMR_MSG_COMMIT;
			if (committed)
				apply_note_received(msg.u.commit.end_lsn, wal_end);

			/*
			 * Reset per message, not per batch: a 64 kB batch of a big
			 * transaction holds hundreds of changes, and letting their
			 * memory pile up until the batch ends makes the context grow
			 * and give its blocks back to malloc (which trims them back to
			 * the kernel) once per batch, a page fault storm.  Per message
			 * the context stays within the blocks it keeps.
			 */
			MemoryContextReset(mmr_apply_message_context);
		}
		if (committed)
			apply_check_caught_up();
		return committed;
	}
	else if (type == 'k')
	{
		XLogRecPtr	wal_end = pq_getmsgint64(&s);
		bool		reply_requested;

		(void) pq_getmsgint64(&s);	/* send time */
		reply_requested = pq_getmsgbyte(&s) != 0;

		apply_note_received(wal_end, wal_end);
		apply_check_caught_up();

		if (reply_requested)
			send_feedback(true, false);
		return false;
	}

	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("unexpected message type 0x%02x in the replication stream of peer \"%s\"",
					(unsigned char) type, peer.name)));
	return false;				/* keep compiler quiet */
}

/*
 * apply_stream_ended reports the end of the COPY stream, which only the
 * peer can cause (it shut down, or the slot went away).
 */
static void
apply_stream_ended(void)
{
	PGresult   *res = PQgetResult(peer_conn);
	char	   *msg = NULL;

	if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR &&
		PQresultErrorMessage(res)[0] != '\0')
		msg = pchomp(PQresultErrorMessage(res));
	PQclear(res);

	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("replication stream from peer \"%s\" ended", peer.name),
			 msg ? errdetail_internal("%s", msg) : 0));
}

/*
 * apply_check_caught_up moves from catching_up to streaming once we have
 * received everything the peer had flushed when we connected.  (Only the
 * end of a transaction or a keepalive can get us there: a keepalive
 * carries the walsender's position past what it filtered out.)
 */
static void
apply_check_caught_up(void)
{
	if (apply_state == MMR_APPLY_CATCHING_UP && last_received >= catchup_target)
		apply_set_state(MMR_APPLY_STREAMING);
}

static void
apply_set_state(MmrApplyState state)
{
	apply_state = state;
	mmr_slot_set_state(mmr_apply_slot, state);
}

/*
 * apply_note_received advances the received position and shows it (and
 * the peer's WAL end) in the slot.
 */
static void
apply_note_received(XLogRecPtr lsn, XLogRecPtr wal_end)
{
	TimestampTz now = GetCurrentTimestamp();

	if (lsn > last_received)
		last_received = lsn;
	last_received_at = now;
	ping_sent = false;

	SpinLockAcquire(&mmr_apply_slot->mutex);
	mmr_apply_slot->received_lsn = last_received;
	if (wal_end > mmr_apply_slot->sender_wal_end)
		mmr_apply_slot->sender_wal_end = wal_end;
	mmr_apply_slot->last_received_at = now;
	SpinLockRelease(&mmr_apply_slot->mutex);
}

/*
 * apply_wait_while_paused blocks while mmr.apply_pause() is in effect.
 * Called only between remote transactions.  The socket is not read, so
 * the peer's changes wait in its slot; status updates keep going so that
 * its walsender keeps us.  mmr.apply_resume() sets our latch.
 */
static void
apply_wait_while_paused(void)
{
	MmrApplyState resume_state = apply_state;

	if (!mmr_apply_paused(MyDatabaseId, peer.node_id))
		return;

	apply_set_state(MMR_APPLY_PAUSED);
	while (mmr_apply_paused(MyDatabaseId, peer.node_id))
	{
		send_feedback(false, false);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 flush_pending ? APPLY_WAIT_FLUSH_PENDING_MS : APPLY_WAIT_IDLE_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	apply_set_state(resume_state);

	/* Silence while paused was ours, not the peer's. */
	last_received_at = GetCurrentTimestamp();
	ping_sent = false;
}

/*
 * apply_check_timeout gives up on a peer that sent nothing (not even a
 * keepalive) for wal_receiver_timeout, and asks it for a sign of life at
 * half that time, like PostgreSQL's walreceiver.
 */
static void
apply_check_timeout(void)
{
	TimestampTz now;

	if (wal_receiver_timeout <= 0)
		return;

	now = GetCurrentTimestamp();
	if (TimestampDifferenceExceeds(last_received_at, now, wal_receiver_timeout))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("terminating mmr apply worker for peer \"%s\" due to timeout",
						peer.name),
				 errdetail("Nothing was received from the peer for %d ms (wal_receiver_timeout).",
						   wal_receiver_timeout)));
	if (!ping_sent &&
		TimestampDifferenceExceeds(last_received_at, now, wal_receiver_timeout / 2))
	{
		send_feedback(true, true);
		ping_sent = true;
	}
}

static int
feedback_interval_ms(void)
{
	if (wal_receiver_status_interval > 0)
		return wal_receiver_status_interval * 1000;
	return APPLY_FEEDBACK_DEFAULT_INTERVAL_MS;
}

/*
 * send_feedback sends a standby status update: received (write), flushed
 * and applied positions.  The flushed position is the one that moves the
 * peer's slot, so it only covers transactions whose local commit is on
 * disk; when nothing waits for the disk and no remote transaction is open,
 * everything received is done and all three are the received position.
 * Without force, sends only when a position moved or the status interval
 * passed.
 */
static void
send_feedback(bool force, bool request_reply)
{
	static StringInfo reply = NULL;
	XLogRecPtr	applied;
	XLogRecPtr	flushed;
	XLogRecPtr	write = last_received;
	TimestampTz now;

	flush_pending = mmr_progress_get(&applied, &flushed);
	if (!flush_pending && !mmr_apply_in_remote_xact())
		applied = flushed = last_received;

	/* Positions never go backwards. */
	write = Max(write, sent_write);
	flushed = Max(flushed, sent_flush);
	applied = Max(applied, sent_apply);

	now = GetCurrentTimestamp();
	if (!force && write == sent_write && flushed == sent_flush &&
		applied == sent_apply &&
		!TimestampDifferenceExceeds(sent_at, now, feedback_interval_ms()))
		return;

	if (reply == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		reply = makeStringInfo();
		MemoryContextSwitchTo(oldcxt);
	}
	resetStringInfo(reply);
	pq_sendbyte(reply, 'r');
	pq_sendint64(reply, write);
	pq_sendint64(reply, flushed);
	pq_sendint64(reply, applied);
	pq_sendint64(reply, now);
	pq_sendbyte(reply, request_reply ? 1 : 0);

	if (PQputCopyData(peer_conn, reply->data, reply->len) <= 0 ||
		PQflush(peer_conn) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not send a status update to peer \"%s\"", peer.name),
				 errdetail_internal("%s", mmr_remote_error(peer_conn))));

	sent_write = write;
	sent_flush = flushed;
	sent_apply = applied;
	sent_at = now;
}

/*
 * mmr_apply_send_status sends a status update when one is due, for the
 * handlers' own waits.
 */
void
mmr_apply_send_status(void)
{
	send_feedback(false, false);
}

/*
 * apply_error_callback names the peer, and the message, table, column and
 * remote transaction being applied, in every error and log line.
 */
static void
apply_error_callback(void *arg)
{
	MmrApplyErrorContext *e = &mmr_apply_errctx;
	StringInfoData buf;

	if (e->peer_name == NULL)
		return;
	if (e->message_type == NULL)
	{
		errcontext("mmr apply worker for peer \"%s\"", e->peer_name);
		return;
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "applying %s from peer \"%s\"",
					 e->message_type, e->peer_name);
	if (e->relname != NULL)
		appendStringInfo(&buf, " to table \"%s.%s\"", e->nspname, e->relname);
	if (e->column != NULL)
		appendStringInfo(&buf, " column \"%s\"", e->column);
	if (TransactionIdIsValid(e->remote_xid))
		appendStringInfo(&buf, " in remote transaction %u committed at %X/%X",
						 e->remote_xid, LSN_FORMAT_ARGS(e->final_lsn));
	errcontext("%s", buf.data);
}
