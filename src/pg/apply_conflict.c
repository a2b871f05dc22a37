/*-------------------------------------------------------------------------
 *
 * apply_conflict.c
 *	  Gather, decide, carry out (docs/conflicts.md): for each remote INSERT,
 *	  UPDATE and DELETE, the facts about the local state it meets (the local
 *	  row's version, its tombstone's, the rows or registers holding its
 *	  unique values),
 *	  the remote change's version and its sender's horizon, and the table's
 *	  resolvers; mmr_conflict_decide says what to do, and this file does it
 *	  through apply_exec.c: custom resolvers, tombstones, unique value
 *	  registers (tombstone.c), the conflict log rows (conflict_log.c) and
 *	  the conflict count.
 *
 * NOTES
 *	  No conflict rule is written here: every outcome comes from the core.
 *	  The one thing decided here is what a custom resolver's result means
 *	  (SPEC 5: NULL skip, the remote row apply_remote, the local row
 *	  keep_local, another row merged).
 *
 *	  The common path costs no catalog access: the resolvers are copied
 *	  into the relation map once per remote transaction, and the version of
 *	  a local row that this worker applied itself (an UPDATE or DELETE of a
 *	  row written by the same peer) comes from a small cache of the local
 *	  xids of our own recent commits instead of commit_ts.  Only rows whose
 *	  origin may differ are looked up in commit_ts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "utils/datum.h"
#include "utils/rel.h"

#include "apply_internal.h"
#include "conflict_log.h"
#include "mmr.h"
#include "node_cache.h"
#include "resolvers.h"
#include "tombstone.h"
#include "truncate.h"

/* Local xids of this worker's recent commits (a power of two). */
#define OWN_XID_CACHE_SIZE 4096

typedef struct OwnXid
{
	TransactionId xid;
	TimestampTz commit_time;	/* the origin's, as commit_ts has it */
} OwnXid;

static OwnXid own_xids[OWN_XID_CACHE_SIZE];

/* One remote change being applied. */
typedef struct ChangeState
{
	MmrApplyExec *ex;
	MmrApplyRelation *rel;
	MmrChangeKind kind;
	const MmrChange *change;
	MmrConflictFacts base;		/* what every decision of the change shares */
	AttrNumber	keyattrs[INDEX_MAX_KEYS];	/* the lookup key, for the log */
	int			nkeyattrs;
	List	   *log;			/* MmrConflictLogRow, written after the change */
} ChangeState;

/*
 * One unique value of a remote new row, claimed against who holds it here
 * (docs/conflicts.md, "Unique keys"): a local row, or the value's register.
 */
typedef struct Claim
{
	const MmrUniqueIndex *index;
	TupleTableSlot *holder;		/* the local row holding it, or NULL */
	bool		own;			/* holder is the change's own row */
	bool		has_version;	/* a holder row or a register */
	MmrVersion	version;		/* theirs */
	char	   *value;			/* text form (registers), rendered when
								 * first needed (claim_value) */
	MmrConflictDecision d;		/* mmr_unique_claim's */
} Claim;

static void state_init(ChangeState *cs, MmrApplyRelation *rel,
					   MmrChangeKind kind, const MmrChange *change);
static void row_version(ChangeState *cs, TupleTableSlot *slot, MmrVersion *out);
static char *find_tombstone(ChangeState *cs, TupleTableSlot *keyslot,
							MmrConflictFacts *f);
static void decide(const MmrConflictFacts *f, MmrConflictDecision *d);
static bool insert_new(ChangeState *cs, TupleTableSlot *remote);
static void apply_insert(ChangeState *cs);
static void apply_update(ChangeState *cs);
static void apply_delete(ChangeState *cs);
static void carry_out_write(ChangeState *cs, MmrConflictFacts *f,
							MmrConflictDecision *d, TupleTableSlot *local,
							TupleTableSlot *remote, TupleTableSlot *keyslot,
							MmrUniqueHits *hits);
static int	claim_values(ChangeState *cs, TupleTableSlot *row,
						 TupleTableSlot *local, const MmrConflictFacts *f,
						 bool writes, MmrUniqueHits *initial,
						 Claim **claims_out);
static const char *claim_value(ChangeState *cs, Claim *c, TupleTableSlot *row);
static void remove_row(ChangeState *cs, TupleTableSlot *row,
					   const MmrVersion *version);
static void record_tombstone_ordered(ChangeState *cs, const char *key,
									 const MmrVersion *version);
static bool has_secondary_unique(const MmrApplyRelation *rel);
static TupleTableSlot *run_custom(ChangeState *cs, MmrConflictDecision *d,
								  const MmrVersion *local_version,
								  TupleTableSlot *local, TupleTableSlot *remote,
								  TupleTableSlot *keyslot,
								  const AttrNumber *keyattrs, int nkeyattrs);
static bool rows_equal(TupleTableSlot *a, TupleTableSlot *b);
static void log_conflict(ChangeState *cs, const MmrConflictDecision *d,
						 const MmrVersion *local_version,
						 TupleTableSlot *keyslot, const AttrNumber *keyattrs,
						 int nkeyattrs, TupleTableSlot *local,
						 TupleTableSlot *remote, TupleTableSlot *resolved);
static void raise_conflict_error(ChangeState *cs, const MmrConflictDecision *d,
								 const MmrVersion *local_version,
								 TupleTableSlot *keyslot,
								 const AttrNumber *keyattrs, int nkeyattrs,
								 TupleTableSlot *local, TupleTableSlot *remote)
			pg_attribute_noreturn();
static int	index_keyattrs(const MmrUniqueIndex *ui, AttrNumber *out);

/*
 * mmr_apply_row_change applies one remote INSERT, UPDATE or DELETE to the
 * open relation rel, within the apply transaction's current step.
 */
void
mmr_apply_row_change(MmrApplyRelation *rel, MmrChangeKind kind,
					 const MmrChange *change)
{
	ChangeState cs;
	ListCell   *lc;

	state_init(&cs, rel, kind, change);
	switch (kind)
	{
		case MMR_CHANGE_INSERT:
			apply_insert(&cs);
			break;
		case MMR_CHANGE_UPDATE:
			apply_update(&cs);
			break;
		case MMR_CHANGE_DELETE:
			apply_delete(&cs);
			break;
	}
	mmr_exec_end(cs.ex);

	foreach(lc, cs.log)
		mmr_conflict_log_write((MmrConflictLogRow *) lfirst(lc));
	mmr_remote_xact.nconflicts += list_length(cs.log);
}

/*
 * mmr_conflict_note_commit remembers that local transaction xid applied
 * the current remote transaction (called just before its commit).
 */
void
mmr_conflict_note_commit(TransactionId xid)
{
	OwnXid	   *entry;

	if (!TransactionIdIsNormal(xid))
		return;
	entry = &own_xids[xid & (OWN_XID_CACHE_SIZE - 1)];
	entry->xid = xid;
	entry->commit_time = mmr_remote_xact.commit_time;
}

static void
state_init(ChangeState *cs, MmrApplyRelation *rel, MmrChangeKind kind,
		   const MmrChange *change)
{
	memset(cs, 0, sizeof(*cs));
	cs->rel = rel;
	cs->kind = kind;
	cs->change = change;
	cs->ex = mmr_exec_begin(rel);

	if (rel->resolvers_xact != mmr_remote_xact.seq)
	{
		rel->resolvers = *mmr_table_resolvers(rel->localrel);
		rel->resolvers_xact = mmr_remote_xact.seq;
	}

	cs->base.change = kind;
	mmr_version_for_node(mmr_apply_slot->peer_node_id,
						 mmr_remote_xact.commit_time, &cs->base.remote);
	cs->base.horizon = mmr_remote_xact.horizon;
	cs->base.nhorizon = mmr_remote_xact.nhorizon;
	cs->base.local_node = mmr_local_node_id();
	memcpy(cs->base.resolvers, rel->resolvers.resolvers,
		   sizeof(cs->base.resolvers));

	for (int i = 0; i < rel->natts; i++)
		if (rel->local[i].lookup_key && cs->nkeyattrs < INDEX_MAX_KEYS)
			cs->keyattrs[cs->nkeyattrs++] = i + 1;
}

/*
 * row_version: who wrote the local row in slot, and when.  A row of the
 * apply transaction itself is the remote change's; a row of one of our
 * own recent commits is the peer's; anything else asks commit_ts.
 */
static void
row_version(ChangeState *cs, TupleTableSlot *slot, MmrVersion *out)
{
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, NULL);
	TransactionId xmin = HeapTupleHeaderGetXmin(tuple->t_data);
	OwnXid	   *own = &own_xids[xmin & (OWN_XID_CACHE_SIZE - 1)];

	if (TransactionIdIsCurrentTransactionId(xmin))
		*out = cs->base.remote;
	else if (TransactionIdIsNormal(xmin) && own->xid == xmin)
		mmr_version_for_node(mmr_apply_slot->peer_node_id, own->commit_time, out);
	else
		mmr_version_from_xid(xmin, out);
}

/*
 * find_key_tombstone looks up the tombstone of the key in keyslot into f and
 * returns the key's text form (NULL when the table keeps no tombstones).
 *
 * An INSERT of a new key, the common path, first asks whether the table
 * has any tombstone at all, once until a tombstone is written anywhere
 * (MmrShmemData.tombstone_writes): most INSERTs then cost no lookup.  Once
 * the table had some, every key is looked up.
 */
static char *
find_key_tombstone(ChangeState *cs, TupleTableSlot *keyslot, MmrConflictFacts *f)
{
	MmrApplyRelation *rel = cs->rel;
	char	   *key;

	if (!rel->has_tombstones)
		return NULL;
	if (cs->kind == MMR_CHANGE_INSERT && !rel->tombstones_seen)
	{
		uint64		writes = mmr_tombstone_writes();

		if (rel->no_tombstones_at == writes + 1)
			return NULL;
		if (!mmr_tombstone_any(rel->localrel))
		{
			rel->no_tombstones_at = writes + 1;
			return NULL;
		}
		rel->tombstones_seen = true;
	}
	key = mmr_tombstone_key(rel->localrel, keyslot);
	if (key != NULL)
		f->tombstone_exists = mmr_tombstone_find(cs->rel->localrel, key,
												 &f->tombstone);
	return key;
}

/*
 * find_tombstone: the key's tombstone (find_key_tombstone), or the table's
 * TRUNCATE tombstone when that one keeps the change out (truncate_apply.c).
 */
static char *
find_tombstone(ChangeState *cs, TupleTableSlot *keyslot, MmrConflictFacts *f)
{
	char	   *key = find_key_tombstone(cs, keyslot, f);

	mmr_truncate_tombstone_meet(cs->rel, f);
	return key;
}

static void
decide(const MmrConflictFacts *f, MmrConflictDecision *d)
{
	MmrError	err;

	if (mmr_conflict_decide(f, d, &err) != MMR_OK)
		mmr_core_raise(&err);
}

/*
 * insert_new: the common case of a remote INSERT, a key that has no
 * tombstone and whose decision, meeting nothing, is to insert: the row is
 * inserted at once (mmr_exec_insert_new).  Returns false, having changed
 * nothing, when a unique index holds one of its values, one of them has a
 * register, or the key has a tombstone: the change then takes the probing
 * path.  Registers are looked for only once the table had one.
 */
static bool
insert_new(ChangeState *cs, TupleTableSlot *remote)
{
	MmrConflictFacts f = cs->base;
	MmrConflictDecision d;

	(void) find_tombstone(cs, remote, &f);
	if (f.tombstone_exists)
		return false;
	if (has_secondary_unique(cs->rel) && mmr_unique_claim_may_exist(cs->rel->localrel))
	{
		Oid		   *indexoids;
		int			n = mmr_unique_indexes(cs->rel->localrel, &indexoids);

		/* A released value's register is met on the probing path. */
		for (int i = 0; i < n; i++)
		{
			char	   *value = mmr_unique_value(cs->rel->localrel, indexoids[i], remote);
			MmrVersion	version;

			if (value != NULL &&
				mmr_unique_claim_find(cs->rel->localrel, indexoids[i], value, &version))
				return false;
		}
	}
	decide(&f, &d);
	return d.conflict == MMR_CONFLICT_NONE && d.action == MMR_ACTION_INSERT &&
		!d.call_custom && mmr_exec_insert_new(cs->ex, remote);
}

/*
 * apply_insert: the remote row meets the row with its key (the target),
 * other rows holding its unique values, its key's tombstone, or nothing.
 */
static void
apply_insert(ChangeState *cs)
{
	TupleTableSlot *remote = mmr_exec_new_row(cs->ex, MMR_CHANGE_INSERT,
											  cs->change, NULL);
	MmrConflictFacts f = cs->base;
	MmrConflictDecision d;
	MmrUniqueHits hits;

	if (insert_new(cs, remote))
		return;
	mmr_exec_find_unique(cs->ex, remote, NULL, &hits);
	if (hits.target != NULL)
	{
		f.row_exists = 1;
		row_version(cs, hits.target, &f.row);
	}
	else
		(void) find_tombstone(cs, remote, &f);
	decide(&f, &d);
	carry_out_write(cs, &f, &d, hits.target, remote, remote, &hits);
}

/*
 * apply_update: the local row found by the old key, or its tombstone, or
 * nothing; then other rows holding the new row's unique values.
 */
static void
apply_update(ChangeState *cs)
{
	MmrConflictFacts f = cs->base;
	MmrConflictDecision d;
	TupleTableSlot *searchslot;
	TupleTableSlot *local;
	TupleTableSlot *remote;

	if (mmr_exec_find_row(cs->ex, cs->change, "update", &searchslot, &local))
	{
		remote = mmr_exec_new_row(cs->ex, MMR_CHANGE_UPDATE, cs->change, local);
		f.row_exists = 1;
		row_version(cs, local, &f.row);
		decide(&f, &d);
	}
	else
	{
		(void) find_tombstone(cs, searchslot, &f);
		decide(&f, &d);

		/* The row is new here: built only when it is stored or shown. */
		remote = d.conflict != MMR_CONFLICT_NONE || d.action == MMR_ACTION_INSERT ?
			mmr_exec_new_row(cs->ex, MMR_CHANGE_UPDATE, cs->change, NULL) : NULL;
	}

	/* Unchanged TOAST values the decision needs from the origin. */
	mmr_exec_complete_row(cs->ex, cs->change, remote, &f, &d);
	carry_out_write(cs, &f, &d, local, remote, searchslot, NULL);
}

/*
 * carry_out_write carries out the decision d about a remote INSERT or
 * UPDATE that met local (or no row): a custom resolver, then the claims of
 * the unique values of its new row (initial: the INSERT's probe), then the
 * write.  The change is stored only if d stores it and it claimed every
 * value; a claimed value's other holder goes; a value lost while d stored
 * the change takes the key's row with it (docs/conflicts.md, "Unique keys").
 */
static void
carry_out_write(ChangeState *cs, MmrConflictFacts *f, MmrConflictDecision *d,
				TupleTableSlot *local, TupleTableSlot *remote,
				TupleTableSlot *keyslot, MmrUniqueHits *initial)
{
	const MmrVersion *local_version = f->row_exists ? &f->row :
		f->tombstone_exists ? &f->tombstone : NULL;
	TupleTableSlot *store = remote;
	TupleTableSlot *claimer;
	Claim	   *claims = NULL;
	int			nclaims = 0;
	bool		writes;
	bool		claimed_all = true;
	bool		stored;

	if (d->call_custom)
		store = run_custom(cs, d, local_version, local, remote, keyslot,
						   cs->keyattrs, cs->nkeyattrs);
	if (d->action == MMR_ACTION_ERROR)
		raise_conflict_error(cs, d, local_version, keyslot, cs->keyattrs,
							 cs->nkeyattrs, local, remote);
	writes = d->action == MMR_ACTION_INSERT || d->action == MMR_ACTION_UPDATE;

	/* Whatever d said about the key, the change claims its values. */
	claimer = writes ? store : remote;
	if (claimer != NULL)
		nclaims = claim_values(cs, claimer, local, f, writes,
							   claimer == remote ? initial : NULL, &claims);
	for (int i = 0; i < nclaims; i++)
		claimed_all = claimed_all && claims[i].d.action == MMR_ACTION_DELETE_OTHER;
	stored = writes && claimed_all;

	/* A claimed value's other holder goes, with its own version. */
	for (int i = 0; i < nclaims; i++)
	{
		Claim	   *c = &claims[i];
		bool		gone = false;

		if (c->d.action != MMR_ACTION_DELETE_OTHER || c->holder == NULL || c->own)
			continue;
		for (int j = 0; j < i; j++)
			gone = gone || (claims[j].holder == c->holder &&
							claims[j].d.action == MMR_ACTION_DELETE_OTHER);
		if (!gone)
			remove_row(cs, c->holder, &c->version);
	}

	if (writes && !claimed_all)
	{
		/* The key's latest write lost a value: so did it on the winner's node. */
		char	   *key;

		if (d->action == MMR_ACTION_UPDATE)
		{
			mmr_unique_release(cs->rel->localrel, local, NULL, &f->row);
			mmr_exec_delete(cs->ex, local);
		}
		key = cs->rel->has_tombstones ? mmr_tombstone_key(cs->rel->localrel, claimer) : NULL;
		if (key != NULL)
			record_tombstone_ordered(cs, key, &cs->base.remote);
		d->action = MMR_ACTION_NOTHING;
	}
	if (!stored)
		for (int i = 0; i < nclaims; i++)
			if (claims[i].d.action == MMR_ACTION_DELETE_OTHER &&
				claim_value(cs, &claims[i], claimer) != NULL)
				mmr_unique_claim_record(cs->rel->localrel, claims[i].index->indexoid,
										claims[i].value, &cs->base.remote);

	if (d->conflict != MMR_CONFLICT_NONE)
		log_conflict(cs, d, local_version, keyslot, cs->keyattrs, cs->nkeyattrs,
					 local, remote,
					 stored ? store : writes ? NULL : local);
	for (int i = 0; i < nclaims; i++)
	{
		Claim	   *c = &claims[i];
		AttrNumber	keyattrs[INDEX_MAX_KEYS];
		int			nkeyattrs = index_keyattrs(c->index, keyattrs);
		bool		claimed = c->d.action == MMR_ACTION_DELETE_OTHER;

		/* A claim against the key's own row is the key's conflict. */
		if (c->d.conflict == MMR_CONFLICT_NONE || c->own)
			continue;
		log_conflict(cs, &c->d, &c->version, claimer, keyattrs, nkeyattrs,
					 c->holder, remote,
					 claimed ? (stored ? store : NULL) : c->holder);
	}

	switch (d->action)
	{
		case MMR_ACTION_INSERT:
			mmr_exec_insert(cs->ex, store);
			break;
		case MMR_ACTION_UPDATE:
			if (has_secondary_unique(cs->rel))
				mmr_unique_release(cs->rel->localrel, local, store, &f->row);
			mmr_exec_update(cs->ex, local, store);
			break;
		case MMR_ACTION_NOTHING:
			break;
		default:
			elog(ERROR, "unexpected conflict action %d for a remote %s",
				 d->action, cs->kind == MMR_CHANGE_INSERT ? "INSERT" : "UPDATE");
	}
}

/*
 * claim_value: the text form of c's value in row, rendered at its first
 * use, where a register is looked up or recorded (NULL: the index keeps
 * none; a lookup index's value is never claimed from a register).
 */
static const char *
claim_value(ChangeState *cs, Claim *c, TupleTableSlot *row)
{
	if (c->value == NULL && !c->index->is_lookup)
		c->value = mmr_unique_value(cs->rel->localrel, c->index->indexoid, row);
	return c->value;
}

/*
 * claim_values decides the claim of each unique value of row (the remote
 * new row) against who holds it here: the local row holding it, else its
 * register (mmr_unique_claim, step 1 and 2 of docs/conflicts.md's list).
 * local is the change's own row (or NULL), f the key's facts, writes what
 * the key's decision does.  A value the key's own row holds is claimed as
 * the key was decided (the same order under last_update_wins; the key's
 * resolver otherwise).  A lookup index value is claimed only from another
 * row (an UPDATE that moved its key onto an existing one).
 */
static int
claim_values(ChangeState *cs, TupleTableSlot *row, TupleTableSlot *local,
			 const MmrConflictFacts *f, bool writes, MmrUniqueHits *initial,
			 Claim **claims_out)
{
	MmrApplyRelation *rel = cs->rel;
	MmrUniqueHits hits;
	Claim	   *claims = NULL;
	int			n = 0;
	bool		may_have_registers = false;
	bool		registers_asked = false;

	if (rel->nunique == 0)
		return 0;
	if (initial != NULL)
		hits = *initial;
	else
		mmr_exec_find_unique(cs->ex, row,
							 cs->kind == MMR_CHANGE_UPDATE ? local : NULL, &hits);
	for (int u = 0; u < rel->nunique; u++)
	{
		const MmrUniqueIndex *ui = &rel->unique[u];
		TupleTableSlot *holder = hits.holder[u];
		bool		own = holder != NULL && local != NULL &&
			ItemPointerEquals(&holder->tts_tid, &local->tts_tid);
		Claim	   *c;
		MmrError	err;

		if (!hits.has_value[u] || (ui->is_lookup && (holder == NULL || own)))
			continue;
		/* Allocated only when there is a value to claim (not for key-only tables). */
		if (claims == NULL)
			claims = palloc0(sizeof(Claim) * rel->nunique);
		c = &claims[n];
		c->index = ui;
		c->holder = holder;
		c->own = own;
		if (c->own)
		{
			c->has_version = true;
			c->version = f->row;
			c->d.action = writes ? MMR_ACTION_DELETE_OTHER : MMR_ACTION_NOTHING;
			n++;
			continue;
		}
		if (c->holder != NULL)
		{
			c->has_version = true;
			row_version(cs, c->holder, &c->version);
		}
		else
		{
			if (!registers_asked)
				may_have_registers = mmr_unique_claim_may_exist(rel->localrel);
			registers_asked = true;
			c->has_version = may_have_registers &&
				claim_value(cs, c, row) != NULL &&
				mmr_unique_claim_find(rel->localrel, ui->indexoid, c->value,
									  &c->version);
		}

		if (mmr_unique_claim(&cs->base, c->has_version ? &c->version : NULL,
							 &c->d, &err) != MMR_OK)
			mmr_core_raise(&err);
		if (c->d.action == MMR_ACTION_ERROR)
		{
			AttrNumber	keyattrs[INDEX_MAX_KEYS];
			int			nkeyattrs = index_keyattrs(ui, keyattrs);

			raise_conflict_error(cs, &c->d, &c->version, row, keyattrs,
								 nkeyattrs, c->holder, row);
		}
		n++;
	}
	*claims_out = claims;
	return n;
}

/*
 * remove_row deletes a local row that lost a unique value to the change:
 * the values it held are released, and its key gets a tombstone, all at
 * its own version (its key's older writes stay out, later ones come back).
 */
static void
remove_row(ChangeState *cs, TupleTableSlot *row, const MmrVersion *version)
{
	char	   *key;

	mmr_unique_release(cs->rel->localrel, row, NULL, version);
	key = cs->rel->has_tombstones ? mmr_tombstone_key(cs->rel->localrel, row) : NULL;
	mmr_exec_delete(cs->ex, row);
	if (key != NULL)
		record_tombstone_ordered(cs, key, version);
}

/*
 * record_tombstone_ordered stores the key's tombstone at version unless the
 * one there wins against it, in the order of the table's delete_missing
 * resolver (as an applied delete's is kept).
 */
static void
record_tombstone_ordered(ChangeState *cs, const char *key,
						 const MmrVersion *version)
{
	MmrConflictFacts tf;
	MmrConflictDecision td;

	memset(&tf, 0, sizeof(tf));
	tf.change = MMR_CHANGE_DELETE;
	tf.remote = *version;
	memcpy(tf.resolvers, cs->base.resolvers, sizeof(tf.resolvers));
	tf.tombstone_exists = mmr_tombstone_find(cs->rel->localrel, key, &tf.tombstone);
	if (tf.tombstone_exists)
	{
		decide(&tf, &td);
		if (!td.record_tombstone)
			return;
	}
	mmr_tombstone_record_version(cs->rel->localrel, key, version);
}

/* Has the table a unique index besides its lookup key? */
static bool
has_secondary_unique(const MmrApplyRelation *rel)
{
	for (int u = 0; u < rel->nunique; u++)
		if (!rel->unique[u].is_lookup)
			return true;
	return false;
}

/*
 * apply_delete: the local row found by the key, or its tombstone, or
 * nothing.  Applied deletes and delete_missing leave a tombstone when the
 * decision says so.
 */
static void
apply_delete(ChangeState *cs)
{
	MmrConflictFacts f = cs->base;
	MmrConflictDecision d;
	TupleTableSlot *searchslot;
	TupleTableSlot *local;
	const MmrVersion *local_version;
	char	   *key = NULL;

	if (mmr_exec_find_row(cs->ex, cs->change, "delete", &searchslot, &local))
	{
		f.row_exists = 1;
		row_version(cs, local, &f.row);
		local_version = &f.row;
	}
	else
	{
		key = find_tombstone(cs, searchslot, &f);
		local_version = f.tombstone_exists ? &f.tombstone : NULL;
	}
	decide(&f, &d);
	if (d.action == MMR_ACTION_ERROR)
		raise_conflict_error(cs, &d, local_version, searchslot, cs->keyattrs,
							 cs->nkeyattrs, local, NULL);

	if (d.conflict != MMR_CONFLICT_NONE)
		log_conflict(cs, &d, local_version, searchslot, cs->keyattrs,
					 cs->nkeyattrs, local, NULL,
					 d.action == MMR_ACTION_DELETE ? NULL : local);
	if (d.action == MMR_ACTION_DELETE)
	{
		if (has_secondary_unique(cs->rel))
			mmr_unique_release(cs->rel->localrel, local, NULL, &f.row);
		mmr_exec_delete(cs->ex, local);
	}
	else if (d.action != MMR_ACTION_NOTHING)
		elog(ERROR, "unexpected conflict action %d for a remote DELETE", d.action);

	if (d.record_tombstone && cs->rel->has_tombstones)
	{
		if (key == NULL)
			key = mmr_tombstone_key(cs->rel->localrel,
									local != NULL ? local : searchslot);
		if (key != NULL)
			mmr_tombstone_record(cs->rel->localrel, key);
	}
}

/*
 * run_custom runs the table's custom resolver for the conflict d and sets
 * d's resolution (and action) from its result, which it returns as the
 * row to store (NULL when nothing is stored).  An ERROR inside the
 * function is the error resolution: its log row is kept aside first.
 */
static TupleTableSlot *
run_custom(ChangeState *cs, MmrConflictDecision *d,
		   const MmrVersion *local_version, TupleTableSlot *local,
		   TupleTableSlot *remote, TupleTableSlot *keyslot,
		   const AttrNumber *keyattrs, int nkeyattrs)
{
	TupleTableSlot *result = mmr_exec_extra_slot(cs->ex);
	MmrConflictDecision failed = *d;
	bool		returned;

	failed.resolution = MMR_RESOLUTION_ERROR;
	failed.call_custom = 0;
	mmr_conflict_log_set_error(mmr_conflict_log_row(cs->rel, &failed,
													local_version,
													&cs->base.remote, keyslot,
													keyattrs, nkeyattrs,
													local, remote, NULL));
	returned = mmr_call_custom_resolver(cs->rel->localrel,
										cs->rel->resolvers.functions[d->conflict],
										local, remote,
										mmr_conflict_type_name(d->conflict),
										result);
	mmr_conflict_log_clear_error();
	d->call_custom = 0;

	if (!returned)
	{
		d->resolution = MMR_RESOLUTION_SKIP;
		d->action = MMR_ACTION_NOTHING;
		return NULL;
	}
	if (rows_equal(result, remote))
	{
		d->resolution = MMR_RESOLUTION_APPLY_REMOTE;
		return remote;
	}
	if (local != NULL && rows_equal(result, local))
	{
		d->resolution = MMR_RESOLUTION_KEEP_LOCAL;
		d->action = MMR_ACTION_NOTHING;
		return NULL;
	}
	d->resolution = MMR_RESOLUTION_MERGED;
	return result;
}

/*
 * rows_equal compares two rows of the table value by value, by their
 * binary image (as record_image_eq does), whatever their TOAST state.
 */
static bool
rows_equal(TupleTableSlot *a, TupleTableSlot *b)
{
	TupleDesc	desc = a->tts_tupleDescriptor;

	slot_getallattrs(a);
	slot_getallattrs(b);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (a->tts_isnull[i] != b->tts_isnull[i])
			return false;
		if (a->tts_isnull[i])
			continue;
		if (att->attlen == -1)
		{
			struct varlena *va = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(a->tts_values[i]));
			struct varlena *vb = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(b->tts_values[i]));

			if (VARSIZE_ANY_EXHDR(va) != VARSIZE_ANY_EXHDR(vb) ||
				memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) != 0)
				return false;
		}
		else if (!datumIsEqual(a->tts_values[i], b->tts_values[i],
							   att->attbyval, att->attlen))
			return false;
	}
	return true;
}

static void
log_conflict(ChangeState *cs, const MmrConflictDecision *d,
			 const MmrVersion *local_version, TupleTableSlot *keyslot,
			 const AttrNumber *keyattrs, int nkeyattrs, TupleTableSlot *local,
			 TupleTableSlot *remote, TupleTableSlot *resolved)
{
	cs->log = lappend(cs->log,
					  mmr_conflict_log_row(cs->rel, d, local_version,
										   &cs->base.remote, keyslot,
										   keyattrs, nkeyattrs, local, remote,
										   resolved));
}

/*
 * raise_conflict_error stops apply for an error resolution.  Its log row
 * is written by the worker's error path, after the rollback.
 */
static void
raise_conflict_error(ChangeState *cs, const MmrConflictDecision *d,
					 const MmrVersion *local_version, TupleTableSlot *keyslot,
					 const AttrNumber *keyattrs, int nkeyattrs,
					 TupleTableSlot *local, TupleTableSlot *remote)
{
	mmr_conflict_log_set_error(mmr_conflict_log_row(cs->rel, d, local_version,
													&cs->base.remote, keyslot,
													keyattrs, nkeyattrs,
													local, remote, NULL));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("conflict %s on table \"%s.%s\" is resolved as error",
					mmr_conflict_type_name(d->conflict),
					cs->rel->nspname, cs->rel->relname),
			 errdetail("The remote change is not applied; apply from this peer stops and retries. The conflict is in mmr.conflict_log."),
			 errhint("Change the local data, or the table's resolver with mmr.set_conflict_resolver().")));
}

/* The table columns of a unique index, for the conflict log's key. */
static int
index_keyattrs(const MmrUniqueIndex *ui, AttrNumber *out)
{
	int			n = 0;

	for (int i = 0; i < ui->nkeys; i++)
		if (ui->attnums[i] > 0)
			out[n++] = ui->attnums[i];
	return n;
}
