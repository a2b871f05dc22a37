/*
 * convergence_sim.cpp
 *	  A convergence simulator for mmr's conflict rules (docs/conflicts.md,
 *	  "Simulator").  Simulated nodes make random local INSERT/UPDATE/DELETE
 *	  transactions on a few keys and send them over per-link FIFO queues,
 *	  delivered in random interleavings; every remote change is decided by
 *	  the real mmr_conflict_decide, every clock-skew wait by the real
 *	  mmr_clock_skew_decide and every tombstone collection by the real
 *	  mmr_tombstone_collectable.  After writes stop and the queues drain,
 *	  every node must hold the same rows and, after a round of heartbeats,
 *	  no tombstone and no unique value register.  Half the seeds give rows
 *	  two UNIQUE columns besides the key, resolved by mmr_unique_claim.
 *
 *	  What the glue does is modelled as src/pg does it: a local write reads
 *	  the node's state (update and delete only existing rows, insert only
 *	  absent keys, unique values only when free); a local delete stores or
 *	  replaces the key's tombstone (the trigger); an applied change carries
 *	  its origin's commit time; a tombstone stays when its key is inserted
 *	  again, until collected.
 *
 *	  mmr_sim concurrent N    random concurrent writes, clocks skewed and
 *	                          waited out: asserts convergence
 *	  mmr_sim causal N        each write made after the previous one reached
 *	                          every node, skew without waits: asserts
 *	                          convergence and that no conflict is logged
 *	  mmr_sim nowait N        concurrent writes, skew without waits: reports
 *	                          how many seeds diverge (expected: some)
 *	  mmr_sim unique_release N  as concurrent, UNIQUE columns in every
 *	                          seed, registers stored only when a value
 *	                          loses its holder (the glue's storage,
 *	                          src/pg/apply_conflict.c): asserts convergence
 *	  mmr_sim rounds N        rounds: some nodes write from the state they
 *	                          all share, then everything is delivered:
 *	                          asserts convergence
 *	  mmr_sim two_nodes N     concurrent writes on two nodes, exact
 *	                          horizons: asserts convergence
 *	  mmr_sim truncate N      as concurrent, key only, with TRUNCATEs among
 *	                          the writes (table tombstones, the rules of
 *	                          truncate_rules.cpp): asserts convergence
 *	  ... N RESOLVER          the same under first_update_wins or
 *	                          origin_wins (three priority levels), key only
 *	                          in rounds and two_nodes: causal and rounds
 *	                          asserted, two_nodes under origin_wins only,
 *	                          concurrent reported
 *	  mmr_sim trace MODE SEED prints one seed's trace
 *	  mmr_sim scenarios       scripted cases (issue 6's causality cases)
 */
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "mmr_core.h"

namespace
{

constexpr int64_t kSecond = 1000000;
constexpr int kKeys = 4;
constexpr int kUniqueColumns = 2;	/* UNIQUE columns besides the key */
constexpr int kUniqueValues = 3;	/* values 0..2; -1 is NULL */

enum class Mode
{
	CONCURRENT,
	CAUSAL,
	NOWAIT,
	UNIQUE_RELEASE,
	ROUNDS,
	TWO_NODES,
	TRUNCATE
};

/* seq orders the changes of one transaction (unique value registers) */
struct Version
{
	int32_t		node;
	int64_t		time;
	int			seq;
};

struct Row
{
	int64_t		value;
	int			unique[kUniqueColumns];
	Version		version;
};

struct Op
{
	MmrChangeKind kind;
	int			key;
	Row			row;			/* the new row (INSERT, UPDATE) */
	bool		truncate = false;	/* a TRUNCATE of the table (mode truncate) */
};

/* A transaction, or a heartbeat (no ops), as it travels on a link. */
struct Txn
{
	int32_t		origin;
	int64_t		time;
	std::vector<MmrHorizonEntry> horizon;	/* the origin's, at commit */
	std::vector<Op> ops;
	bool		heartbeat;
};

struct Node
{
	int32_t		id;
	std::string name;
	int32_t		priority;		/* origin_wins */
	int64_t		offset;			/* clock = global time + offset */
	int64_t		last_commit;
	std::map<int, Row> rows;
	std::map<int, Version> tombstones;
	std::map<std::pair<int, int>, Version> registers;	/* (column, value) -> holder */
	std::map<int32_t, int64_t> applied;	/* origin -> latest applied commit time */
	std::deque<std::vector<MmrHorizonEntry>> past_horizons;	/* before the last applies */
	std::map<int32_t, std::vector<MmrHorizonEntry>> peer_horizons;
	std::optional<Version> truncate_tombstone;	/* mode truncate */
};

struct Totals
{
	long		seeds = 0;
	long		operations = 0;
	long		conflicts = 0;
	long		ties = 0;			/* conflicts between equal commit times */
	long		unique_conflicts = 0;	/* concurrent claims of a unique value */
	long		kills = 0;			/* rows deleted for a later unique value */
	long		tombstones_collected = 0;
	long		registers_stored = 0;	/* unique_release: written, */
	long		registers_skipped = 0;	/* not written, already collectable */
	long		waits = 0;
	long		warnings = 0;
	long		diverged = 0;
};

class Sim
{
public:
	Sim(Mode mode, uint64_t seed, bool tracing, MmrResolverKind resolver)
		: mode_(mode), resolver_(resolver), rng_(seed), tracing_(tracing)
	{
		static const char *const names[] = {"n1", "n10", "n2", "b", "a"};
		std::vector<std::string> pool(std::begin(names), std::end(names));

		std::shuffle(pool.begin(), pool.end(), rng_);
		nnodes_ = pick(3, 5);
		if (mode_ == Mode::TWO_NODES)
			nnodes_ = 2;
		/*
		 * Coarse clocks make equal commit times (ties) frequent; fine ones
		 * with tiny steps make the skew dominate; fine ones with steps of
		 * up to 2 s let real time and skew interplay.
		 */
		int			clocks = pick(0, 3);

		unit_ = clocks < 2 ? kSecond : 1;
		step_ = clocks < 2 ? kSecond : clocks == 2 ? 1 : 2 * kSecond;
		unique_ = mode_ == Mode::UNIQUE_RELEASE || pick(0, 1);
		/*
		 * The unique value registers replay writes in commit time order,
		 * which is last_update_wins's: rounds and two nodes under the other
		 * resolvers are key only.
		 */
		if ((mode_ == Mode::ROUNDS || mode_ == Mode::TWO_NODES) &&
			resolver_ != MMR_RESOLVER_LAST_UPDATE_WINS)
			unique_ = false;
		/* TRUNCATE is checked against keys only. */
		if (mode_ == Mode::TRUNCATE)
			unique_ = false;
		for (int i = 0; i < nnodes_; i++)
		{
			Node		node;

			node.id = i + 1;
			node.name = pool[static_cast<size_t>(i)];
			node.offset = pick(-10, 10) * kSecond + (unit_ == 1 ? pick(-999999, 999999) : 0);
			/* three priority levels; other resolvers leave the seeds as they were */
			node.priority = resolver_ == MMR_RESOLVER_ORIGIN_WINS ? pick(0, 2) : 0;
			node.last_commit = 0;
			nodes_.push_back(node);
		}
		links_.resize(static_cast<size_t>(nnodes_ * nnodes_));
		global_ = 1000 * kSecond;
		if (waits())
		{
			/* Waits are silent within max_skew; beyond it, only with "wait". */
			bool		wide = pick(0, 1);

			max_skew_ = wide ? 30 * kSecond : 5 * kSecond;
			action_ = wide ? MMR_SKEW_ACTION_WARN : MMR_SKEW_ACTION_WAIT;
		}
		else
		{
			max_skew_ = 0;
			action_ = MMR_SKEW_ACTION_WARN;
		}
	}

	/*
	 * A scripted run (scenarios): nodes n1..nN with these clock offsets in
	 * seconds (and priorities, if given), microsecond clocks, skew handled
	 * as in mode.
	 */
	Sim(Mode mode, const std::vector<int> &offsets, bool unique, MmrResolverKind resolver,
		const std::vector<int> &priorities)
		: mode_(mode), resolver_(resolver), rng_(0), tracing_(true), scripted_(true)
	{
		nnodes_ = static_cast<int>(offsets.size());
		unique_ = unique;
		for (int i = 0; i < nnodes_; i++)
		{
			Node		node;

			node.id = i + 1;
			node.name = "n" + std::to_string(i + 1);
			node.offset = offsets[static_cast<size_t>(i)] * kSecond;
			node.priority = priorities.empty() ? 0 : priorities[static_cast<size_t>(i)];
			node.last_commit = 0;
			nodes_.push_back(node);
		}
		links_.resize(static_cast<size_t>(nnodes_ * nnodes_));
		global_ = 1000 * kSecond;
		max_skew_ = waits() ? 5 * kSecond : 0;
		action_ = waits() ? MMR_SKEW_ACTION_WAIT : MMR_SKEW_ACTION_WARN;
	}

	/* One local statement on node id, as its own transaction; u: the first UNIQUE column. */
	void write(int32_t id, MmrChangeKind kind, int key, int u = -1)
	{
		Node	   &n = node(id);
		Txn			txn = begin_local(n);
		Op			op;

		op.kind = kind;
		op.key = key;
		if (kind != MMR_CHANGE_DELETE)
			op.row = Row{++next_value_, {u, -1}, Version{n.id, txn.time, 0}};
		if ((n.rows.count(key) != 0) != (kind != MMR_CHANGE_INSERT))
			failure_ = "scenario: " + n.name + " cannot " + kind_name(kind) + " k" +
				std::to_string(key);
		local_op(n, txn, op);
		send(n, txn);
		global_ += kSecond;
	}

	/* Delivers everything queued from one node to another. */
	void send_to(int32_t from, int32_t to)
	{
		while (!link(from, to).empty() && failure_.empty())
			deliver(from, to);
	}

	/* Delivers everything, then checks contents and tombstone collection. */
	bool settle()
	{
		for (int32_t from = 1; from <= nnodes_; from++)
			for (int32_t to = 1; to <= nnodes_; to++)
				if (from != to)
					send_to(from, to);
		if (failure_.empty())
			check_converged();
		if (failure_.empty())
			check_collected();
		return failure_.empty();
	}

	std::string contents_of(int32_t id) const { return contents(nodes_[static_cast<size_t>(id - 1)]); }

	/* Runs the seed; returns false (with the reason in failure_) if it diverged. */
	bool run()
	{
		/* A round is a step of every node. */
		int			steps = mode_ == Mode::ROUNDS ? pick(5, 20) : pick(20, 80);

		trace("seed: %d nodes, unit %lld us, max_skew %lld us, action %s, %s, %s", nnodes_,
			  static_cast<long long>(unit_), static_cast<long long>(max_skew_),
			  action_ == MMR_SKEW_ACTION_WAIT ? "wait" : "warn",
			  unique_ ? "2 unique columns" : "key only", mmr_resolver_name(resolver_));
		for (auto &n : nodes_)
			trace("  node %d '%s' clock offset %lld us, priority %d", n.id, n.name.c_str(),
				  static_cast<long long>(n.offset), n.priority);
		for (int i = 0; i < steps && failure_.empty(); i++)
		{
			global_ += step_ == kSecond ? pick(0, 3) * kSecond :
				std::uniform_int_distribution<int64_t>(0, 3 * step_)(rng_) / 3;
			if (mode_ == Mode::CAUSAL)
			{
				local_txn(node_at(pick(0, nnodes_ - 1)));
				drain();
			}
			else if (mode_ == Mode::ROUNDS)
				round();
			else
				random_step();
			if (pick(0, 9) == 0)
				collect(node_at(pick(0, nnodes_ - 1)));
		}
		drain();
		if (failure_.empty())
			check_converged();
		if (failure_.empty())
			check_collected();
		return failure_.empty();
	}

	const std::string &failure() const { return failure_; }
	const std::vector<std::string> &log() const { return log_; }
	const Totals &totals() const { return totals_; }
	bool unique() const { return unique_; }

private:
	bool waits() const
	{
		return mode_ == Mode::CONCURRENT || mode_ == Mode::UNIQUE_RELEASE || mode_ == Mode::ROUNDS ||
			mode_ == Mode::TWO_NODES || mode_ == Mode::TRUNCATE;
	}

	int pick(int lo, int hi)
	{
		return std::uniform_int_distribution<int>(lo, hi)(rng_);
	}

	Node &node_at(int i) { return nodes_[static_cast<size_t>(i)]; }
	Node &node(int32_t id) { return nodes_[static_cast<size_t>(id - 1)]; }
	std::deque<Txn> &link(int32_t from, int32_t to)
	{
		return links_[static_cast<size_t>((from - 1) * nnodes_ + (to - 1))];
	}

	/*
	 * One round: some nodes write from the state they all share, none
	 * hearing of the others' writes before its own, then everything is
	 * delivered in a random interleaving.  Every two writes of a key in a
	 * round are concurrent, and each is causally later than every write of
	 * the rounds before.
	 */
	void round()
	{
		for (auto &n : nodes_)
		{
			global_ += std::uniform_int_distribution<int64_t>(0, step_)(rng_);
			if (pick(0, 1))
				local_txn(n);
		}
		drain();
	}

	void random_step()
	{
		int			choice = pick(0, 9);

		if (choice < 4)
			local_txn(node_at(pick(0, nnodes_ - 1)));
		else if (choice == 4)
			heartbeat(node_at(pick(0, nnodes_ - 1)));
		else
			deliver_random();
	}

	int64_t clock(const Node &n) const { return global_ + n.offset; }

	/* The node's next commit time: its clock, at the unit's granularity, strictly increasing. */
	int64_t commit_time(Node &n)
	{
		int64_t		now = clock(n);
		int64_t		t = (now + unit_ - 1) / unit_ * unit_;

		t = std::max(t, n.last_commit + unit_);
		n.last_commit = t;
		return t;
	}

	std::vector<MmrHorizonEntry> horizon_of(const Node &n) const
	{
		std::vector<MmrHorizonEntry> h;

		for (const auto &[origin, time] : n.applied)
			h.push_back(MmrHorizonEntry{origin, time});
		return h;
	}

	Txn begin_local(Node &n)
	{
		Txn			txn;

		txn.origin = n.id;
		txn.time = commit_time(n);
		txn.horizon = horizon_of(n);
		/*
		 * The glue logs the horizon at the transaction's first write: remote
		 * transactions applied after it, which the transaction may still see,
		 * are missing from it.  A horizon may say less, never more.  (Not in
		 * causal and rounds modes, where nothing is applied during a local
		 * transaction, nor with two nodes, which models exact horizons.)
		 */
		if (mode_ != Mode::CAUSAL && mode_ != Mode::ROUNDS && mode_ != Mode::TWO_NODES &&
			!scripted_ && !n.past_horizons.empty() && pick(0, 3) == 0)
			txn.horizon = n.past_horizons[static_cast<size_t>(
				pick(0, static_cast<int>(n.past_horizons.size()) - 1))];
		txn.heartbeat = false;
		return txn;
	}

	void local_txn(Node &n)
	{
		Txn			txn = begin_local(n);
		int			nops = pick(1, 3);

		for (int i = 0; i < nops; i++)
		{
			Op			op;

			if (mode_ == Mode::TRUNCATE && pick(0, 9) == 0)
			{
				local_op(n, txn, truncate_op());
				continue;
			}
			op.key = pick(0, kKeys - 1);
			auto		row = n.rows.find(op.key);

			if (row == n.rows.end())
				op.kind = MMR_CHANGE_INSERT;
			else
				op.kind = pick(0, 4) < 3 ? MMR_CHANGE_UPDATE : MMR_CHANGE_DELETE;
			if (op.kind != MMR_CHANGE_DELETE)
				op.row = new_row(n, op.key, Version{n.id, txn.time, i});
			local_op(n, txn, op);
		}
		send(n, txn);
	}

	void local_op(Node &n, Txn &txn, const Op &op)
	{
		int			seq = static_cast<int>(txn.ops.size());

		if (op.truncate)
			local_truncate(n, Version{n.id, txn.time, seq});
		else if (op.kind == MMR_CHANGE_DELETE)
		{
			release(n, n.rows[op.key], nullptr);
			n.rows.erase(op.key);
			n.tombstones[op.key] = Version{n.id, txn.time, seq};	/* the trigger */
		}
		else if (release_only())
		{
			/* the trigger: what the old row held and the new one does not */
			auto		old = n.rows.find(op.key);

			if (old != n.rows.end())
				release(n, old->second, &op.row);
			n.rows[op.key] = op.row;
		}
		else
		{
			n.rows[op.key] = op.row;
			/* a local write has seen every holder of its values here */
			for (int c = 0; c < kUniqueColumns; c++)
				if (op.row.unique[c] >= 0)
					n.registers[{c, op.row.unique[c]}] = op.row.version;
		}
		txn.ops.push_back(op);
		totals_.operations++;
		trace("%s: local %s %s at %lld", n.name.c_str(), kind_name(op.kind),
			  describe(op).c_str(), static_cast<long long>(txn.time));
	}

	/*
	 * A new version of key's row as SQL could write it on n: a fresh value,
	 * and unique values that no other row of n holds (or NULL).
	 */
	Row new_row(const Node &n, int key, Version version)
	{
		Row			row{++next_value_, {-1, -1}, version};

		for (int c = 0; unique_ && c < kUniqueColumns; c++)
		{
			int			value = pick(-1, kUniqueValues - 1);

			for (const auto &[other_key, other] : n.rows)
				if (other_key != key && other.unique[c] == value)
					value = -1;
			row.unique[c] = value;
		}
		return row;
	}

	void heartbeat(Node &n)
	{
		Txn			hb;

		hb.origin = n.id;
		hb.time = 0;
		hb.horizon = horizon_of(n);
		hb.heartbeat = true;
		send(n, hb);
	}

	void send(Node &n, const Txn &txn)
	{
		for (auto &peer : nodes_)
			if (peer.id != n.id)
				link(n.id, peer.id).push_back(txn);
	}

	void deliver_random()
	{
		std::vector<std::pair<int32_t, int32_t>> busy;

		for (int32_t from = 1; from <= nnodes_; from++)
			for (int32_t to = 1; to <= nnodes_; to++)
				if (from != to && !link(from, to).empty())
					busy.emplace_back(from, to);
		if (busy.empty())
			return;
		auto [from, to] = busy[static_cast<size_t>(pick(0, static_cast<int>(busy.size()) - 1))];

		deliver(from, to);
	}

	void drain()
	{
		for (;;)
		{
			bool		any = false;

			for (const auto &q : links_)
				any = any || !q.empty();
			if (!any || !failure_.empty())
				return;
			deliver_random();
		}
	}

	void deliver(int32_t from, int32_t to)
	{
		Txn			txn = link(from, to).front();
		Node	   &r = node(to);

		link(from, to).pop_front();
		r.peer_horizons[from] = txn.horizon;
		if (txn.heartbeat)
			return;

		MmrSkewDecision skew{};

		mmr_clock_skew_decide(txn.time, clock(r), max_skew_, action_, &skew);
		totals_.warnings += skew.warn;
		/* Without waits (causal, nowait) not even the microsecond of equal times. */
		if (waits() && skew.wait_until != 0 && skew.wait_until > clock(r))
		{
			r.offset += skew.wait_until - clock(r);
			totals_.waits++;
		}
		for (size_t i = 0; i < txn.ops.size() && failure_.empty(); i++)
			apply(r, txn, txn.ops[i], Version{txn.origin, txn.time, static_cast<int>(i)});
		r.past_horizons.push_front(horizon_of(r));
		if (r.past_horizons.size() > 2)
			r.past_horizons.pop_back();
		r.applied[from] = txn.time;
	}

	MmrVersion version_of(const Version &v)
	{
		MmrVersion	mv{};
		const std::string &name = node(v.node).name;

		mv.origin_node = v.node;
		mv.commit_time = v.time;
		mv.time_known = 1;
		mv.priority = node(v.node).priority;
		mv.origin_name = MmrBytes{name.data(), static_cast<uint32_t>(name.size())};
		return mv;
	}

	/* Facts about key's row and tombstone on r, for op from txn. */
	MmrConflictFacts facts(const Node &r, const Txn &txn, const Op &op)
	{
		const Version remote{txn.origin, txn.time, 0};
		MmrConflictFacts f{};
		auto		row = r.rows.find(op.key);
		auto		tomb = r.tombstones.find(op.key);

		f.change = static_cast<uint8_t>(op.kind);
		if (row != r.rows.end())
		{
			f.row_exists = 1;
			f.row = version_of(row->second.version);
		}
		/* As src/pg/apply_conflict.c: the tombstone is looked up only when no row is there. */
		if (tomb != r.tombstones.end() && row == r.rows.end())
		{
			f.tombstone_exists = 1;
			f.tombstone = version_of(tomb->second);
		}
		f.remote = version_of(remote);
		f.horizon = txn.horizon.empty() ? nullptr : txn.horizon.data();
		f.nhorizon = static_cast<uint32_t>(txn.horizon.size());
		f.local_node = r.id;
		std::fill(std::begin(f.resolvers), std::end(f.resolvers),
				  static_cast<uint8_t>(resolver_));
		meet_truncate(r, f);
		return f;
	}

	bool decide(const MmrConflictFacts &f, MmrConflictDecision *d, const Txn &txn)
	{
		MmrError	err{};

		if (mmr_conflict_decide(&f, d, &err) != MMR_OK)
		{
			failure_ = std::string("mmr_conflict_decide failed: ") + err.message;
			return false;
		}
		if (d->conflict != MMR_CONFLICT_NONE)
		{
			const MmrVersion &local = f.row_exists ? f.row : f.tombstone;

			totals_.conflicts++;
			totals_.ties += (f.row_exists || f.tombstone_exists) &&
				local.commit_time == txn.time;
		}
		if (d->action == MMR_ACTION_ERROR)
		{
			failure_ = std::string(mmr_resolver_name(resolver_)) + " decided error";
			return false;
		}
		return true;
	}

	void apply(Node &r, const Txn &txn, const Op &op, const Version &remote)
	{
		if (op.truncate)
			return apply_truncate(r, txn, remote);
		MmrConflictFacts f = facts(r, txn, op);
		MmrConflictDecision d{};

		if (!decide(f, &d, txn))
			return;
		trace("%s: apply %s %s from %s at %lld -> %s, %s%s", r.name.c_str(),
			  kind_name(op.kind), describe(op).c_str(), node(txn.origin).name.c_str(),
			  static_cast<long long>(txn.time),
			  d.conflict ? mmr_conflict_type_name(d.conflict) : "no conflict",
			  action_name(d.action), d.record_tombstone ? ", tombstone" : "");
		bool		store = true;

		if (op.kind != MMR_CHANGE_DELETE && unique_)
			store = release_only() ? unique_release(r, txn, op, remote, d)
				: unique_registers(r, txn, op, remote);
		switch (d.action)
		{
			case MMR_ACTION_NOTHING:
				break;
			case MMR_ACTION_INSERT:
			case MMR_ACTION_UPDATE:
				if (store)
				{
					auto		old = r.rows.find(op.key);

					if (old != r.rows.end())
						release(r, old->second, &op.row);
					r.rows[op.key] = op.row;
					r.rows[op.key].version = remote;
				}
				else if (!release_only())
				{
					/* the change is the key's latest, and lost its value: the key is gone */
					trace("%s:   k%d lost a unique value: deleted", r.name.c_str(), op.key);
					r.rows.erase(op.key);
					record_tombstone(r, op.key, remote);
				}
				break;
			case MMR_ACTION_DELETE:
				release(r, r.rows[op.key], nullptr);
				r.rows.erase(op.key);
				break;
			default:
				failure_ = std::string("unexpected action ") + action_name(d.action);
				return;
		}
		if (d.record_tombstone)
			r.tombstones[op.key] = remote;
	}

	/* A tombstone of version v, unless the one there wins (the resolver's order). */
	void record_tombstone(Node &r, int key, const Version &v)
	{
		auto		t = r.tombstones.find(key);
		MmrConflictFacts f{};

		std::fill(std::begin(f.resolvers), std::end(f.resolvers),
				  static_cast<uint8_t>(resolver_));

		if (t == r.tombstones.end())
		{
			r.tombstones[key] = v;
			return;
		}
		/* the core's own order: a delete_missing of v against the tombstone */
		f.change = MMR_CHANGE_DELETE;
		f.tombstone_exists = 1;
		f.tombstone = version_of(t->second);
		f.remote = version_of(v);
		MmrConflictDecision d{};
		MmrError	err{};

		if (mmr_conflict_decide(&f, &d, &err) != MMR_OK)
			failure_ = std::string("mmr_conflict_decide failed: ") + err.message;
		else if (d.record_tombstone)
			r.tombstones[key] = v;
	}

	bool holds(const Row &row, int c, int value) const
	{
		return value >= 0 && row.unique[c] == value;
	}

	/*
	 * Unique value registers: for each unique column and value, the version
	 * of the latest write known to have held it.  A change claims each of
	 * its values (mmr_unique_claim: seen, or last_update_wins), whether or
	 * not it wins on its own key.  A row whose value was claimed by a later
	 * write is deleted, with a tombstone of its own version; a change that
	 * fails to claim a value is not stored (the caller deletes its key).
	 * The final rows are then those of a replay of every write in commit
	 * time order, on every node.
	 */
	bool unique_registers(Node &r, const Txn &txn, const Op &op, const Version &remote)
	{
		bool		claimed_all = true;

		for (int c = 0; c < kUniqueColumns; c++)
		{
			int			value = op.row.unique[c];

			if (value < 0)
				continue;
			auto		reg = r.registers.find({c, value});

			if (reg == r.registers.end() || claims(r, txn, op, reg->second))
				r.registers[{c, value}] = remote;
			else
				claimed_all = false;
		}
		for (auto it = r.rows.begin(); it != r.rows.end();)
		{
			if (it->first == op.key || !lost_a_value(r, it->second))
			{
				++it;
				continue;
			}
			trace("%s:   k%d lost a unique value to k%d: deleted", r.name.c_str(), it->first,
				  op.key);
			int			key = it->first;
			Version		v = it->second.version;

			it = r.rows.erase(it);
			record_tombstone(r, key, v);
			totals_.kills++;
		}
		return claimed_all;
	}

	bool release_only() const { return mode_ == Mode::UNIQUE_RELEASE; }

	/*
	 * unique_release: the same rule as unique_registers, with the storage
	 * the glue has (docs/conflicts.md, "Design: registers in the glue"): a
	 * row's version stands for the registers of the values it holds, and a
	 * register is stored only when a value is left without the row that
	 * held it (release), or taken by a change that is not stored.
	 */
	bool unique_release(Node &r, const Txn &txn, const Op &op, const Version &remote,
						const MmrConflictDecision &own)
	{
		bool		goes_on = own.action == MMR_ACTION_INSERT || own.action == MMR_ACTION_UPDATE;
		std::vector<int> claimed;

		for (int c = 0; c < kUniqueColumns; c++)
		{
			int			value = op.row.unique[c];

			if (value < 0)
				continue;
			const Version *holder = holder_of(r, c, value);

			if (holder == nullptr || claims(r, txn, op, *holder))
				claimed.push_back(c);
		}
		bool		claimed_all = claimed.size() == static_cast<size_t>(
			std::count_if(std::begin(op.row.unique), std::end(op.row.unique),
						  [](int v) { return v >= 0; }));

		for (int c : claimed)
			for (auto it = r.rows.begin(); it != r.rows.end(); ++it)
				if (it->first != op.key && holds(it->second, c, op.row.unique[c]))
				{
					trace("%s:   k%d lost a unique value to k%d: deleted", r.name.c_str(),
						  it->first, op.key);
					int			key = it->first;
					Version		v = it->second.version;

					release(r, it->second, nullptr);
					r.rows.erase(it);
					record_tombstone(r, key, v);
					totals_.kills++;
					break;
				}
		if (goes_on && !claimed_all)
		{
			auto		row = r.rows.find(op.key);

			trace("%s:   k%d lost a unique value: deleted", r.name.c_str(), op.key);
			if (row != r.rows.end())
			{
				release(r, row->second, nullptr);
				r.rows.erase(row);
			}
			record_tombstone(r, op.key, remote);
		}
		if (!goes_on || !claimed_all)
			for (int c : claimed)
				store_register(r, c, op.row.unique[c], remote);
		return claimed_all;
	}

	/* The version standing for value's register: its holder's, else the stored one. */
	const Version *holder_of(const Node &r, int c, int value) const
	{
		for (const auto &[key, row] : r.rows)
			if (holds(row, c, value))
				return &row.version;
		auto		reg = r.registers.find({c, value});

		return reg == r.registers.end() ? nullptr : &reg->second;
	}

	/* Registers of the values old holds and now (if any) does not. */
	void release(Node &r, const Row &old, const Row *now)
	{
		if (!release_only())
			return;
		for (int c = 0; c < kUniqueColumns; c++)
			if (old.unique[c] >= 0 && (now == nullptr || now->unique[c] != old.unique[c]))
				store_register(r, c, old.unique[c], old.version);
	}

	/* Replacing; not stored at all when already collectable. */
	void store_register(Node &r, int c, int value, const Version &v)
	{
		if (collectable(r, v))
		{
			r.registers.erase({c, value});
			totals_.registers_skipped++;
			return;
		}
		r.registers[{c, value}] = v;
		totals_.registers_stored++;
	}

	/* Does the change take the value from its register's holder (mmr_unique_claim)? */
	bool claims(const Node &r, const Txn &txn, const Op &op, const Version &holder)
	{
		MmrConflictFacts f = facts(r, txn, op);
		MmrVersion	h = version_of(holder);
		MmrConflictDecision d{};
		MmrError	err{};

		if (mmr_unique_claim(&f, &h, &d, &err) != MMR_OK)
		{
			failure_ = std::string("mmr_unique_claim failed: ") + err.message;
			return false;
		}
		totals_.unique_conflicts += d.conflict != MMR_CONFLICT_NONE;
		return d.action == MMR_ACTION_DELETE_OTHER;
	}

	bool lost_a_value(const Node &r, const Row &row) const
	{
		for (int c = 0; c < kUniqueColumns; c++)
		{
			if (row.unique[c] < 0)
				continue;
			auto		reg = r.registers.find({c, row.unique[c]});

			if (reg != r.registers.end() && !same(reg->second, row.version))
				return true;
		}
		return false;
	}

	static bool same(const Version &a, const Version &b)
	{
		return a.node == b.node && a.time == b.time && a.seq == b.seq;
	}

	/* ---- TRUNCATE (mode truncate; docs/conflicts.md, "TRUNCATE") ---- */

	static Op truncate_op()
	{
		Op			op;

		op.kind = MMR_CHANGE_DELETE;
		op.key = -1;
		op.truncate = true;
		return op;
	}

	/* Every row goes; the trigger stores the table tombstone. */
	void local_truncate(Node &n, const Version &v)
	{
		n.rows.clear();
		n.truncate_tombstone = v;
	}

	/*
	 * As truncate_apply.c: each row is deleted unless it wins, then the
	 * table tombstone is replaced unless the one there wins.
	 */
	void apply_truncate(Node &r, const Txn &txn, const Version &remote)
	{
		MmrError	err{};

		trace("%s: apply TRUNCATE from %s at %lld", r.name.c_str(),
			  node(txn.origin).name.c_str(), static_cast<long long>(txn.time));
		for (auto it = r.rows.begin(); it != r.rows.end() && failure_.empty();)
		{
			Op			del;

			del.kind = MMR_CHANGE_DELETE;
			del.key = it->first;
			MmrConflictFacts f = facts(r, txn, del);
			MmrConflictDecision d{};

			if (mmr_truncate_row_decide(&f, &d, &err) != MMR_OK)
				failure_ = std::string("mmr_truncate_row_decide failed: ") + err.message;
			totals_.conflicts += d.conflict != MMR_CONFLICT_NONE;
			trace("%s:   k%d -> %s", r.name.c_str(), it->first, action_name(d.action));
			it = d.action == MMR_ACTION_DELETE ? r.rows.erase(it) : std::next(it);
		}
		Op			del;

		del.kind = MMR_CHANGE_DELETE;
		del.key = -1;
		MmrConflictFacts f = facts(r, txn, del);
		int			replace = 0;

		if (r.truncate_tombstone)
		{
			f.tombstone_exists = 1;
			f.tombstone = version_of(*r.truncate_tombstone);
		}
		if (mmr_truncate_tombstone_replace(&f, &replace, &err) != MMR_OK)
			failure_ = std::string("mmr_truncate_tombstone_replace failed: ") + err.message;
		if (replace)
			r.truncate_tombstone = remote;
	}

	/* As find_tombstone: the table tombstone, when it alone keeps the change out. */
	void meet_truncate(const Node &r, MmrConflictFacts &f)
	{
		MmrError	err{};
		int			use = 0;

		if (!r.truncate_tombstone || f.row_exists ||
			(f.change != MMR_CHANGE_INSERT && f.change != MMR_CHANGE_UPDATE))
			return;
		MmrVersion	t = version_of(*r.truncate_tombstone);

		if (mmr_truncate_tombstone_answers(&f, &t, &use, &err) != MMR_OK)
			failure_ = std::string("mmr_truncate_tombstone_answers failed: ") + err.message;
		if (use)
		{
			f.tombstone_exists = 1;
			f.tombstone = t;
		}
	}

	/* ---- end of TRUNCATE ---- */

	std::string describe(const Op &op) const
	{
		std::string s = "k" + std::to_string(op.key);

		if (op.kind == MMR_CHANGE_DELETE)
			return s;
		if (op.truncate)
			return "the table";
		s += "=" + std::to_string(op.row.value);
		for (int c = 0; unique_ && c < kUniqueColumns; c++)
			s += op.row.unique[c] < 0 ? " u=null" : " u=" + std::to_string(op.row.unique[c]);
		return s;
	}

	/* What r knows of its peers' horizons (pointing into r.peer_horizons). */
	std::vector<MmrPeerHorizon> peers_of(const Node &r) const
	{
		std::vector<MmrPeerHorizon> peers;

		for (const auto &p : nodes_)
		{
			if (p.id == r.id)
				continue;
			auto		h = r.peer_horizons.find(p.id);

			if (h == r.peer_horizons.end())
				peers.push_back(MmrPeerHorizon{p.id, nullptr, 0});
			else
				peers.push_back(MmrPeerHorizon{p.id, h->second.data(),
											   static_cast<uint32_t>(h->second.size())});
		}
		return peers;
	}

	/* Could r's manager collect a tombstone or register of version v now? */
	bool collectable(const Node &r, const Version &v)
	{
		std::vector<MmrPeerHorizon> peers = peers_of(r);
		MmrVersion	mv = version_of(v);

		return mmr_tombstone_collectable(&mv, r.id, peers.data(),
										 static_cast<uint32_t>(peers.size()));
	}

	/* The manager's periodic collection on one node, with what it knows of its peers. */
	void collect(Node &r)
	{
		std::vector<MmrPeerHorizon> peers = peers_of(r);
		for (auto it = r.tombstones.begin(); it != r.tombstones.end();)
		{
			MmrVersion	v = version_of(it->second);

			if (mmr_tombstone_collectable(&v, r.id, peers.data(),
										  static_cast<uint32_t>(peers.size())))
			{
				trace("%s: collect tombstone k%d (%s at %lld)", r.name.c_str(), it->first,
					  node(it->second.node).name.c_str(),
					  static_cast<long long>(it->second.time));
				it = r.tombstones.erase(it);
				totals_.tombstones_collected++;
			}
			else
				++it;
		}
		/* Registers go by the same rule: nothing concurrent with them can still arrive. */
		for (auto it = r.registers.begin(); it != r.registers.end();)
		{
			MmrVersion	v = version_of(it->second);

			if (mmr_tombstone_collectable(&v, r.id, peers.data(),
										  static_cast<uint32_t>(peers.size())))
				it = r.registers.erase(it);
			else
				++it;
		}
		if (r.truncate_tombstone && collectable(r, *r.truncate_tombstone))
		{
			trace("%s: collect the truncate tombstone", r.name.c_str());
			r.truncate_tombstone.reset();
		}
	}

	/* Every write has its own value, so equal values mean equal rows. */
	void check_converged()
	{
		const Node &first = nodes_[0];

		for (const auto &n : nodes_)
		{
			bool		same = n.rows.size() == first.rows.size();

			for (const auto &[key, row] : n.rows)
			{
				auto		other = first.rows.find(key);

				same = same && other != first.rows.end() && other->second.value == row.value;
			}
			if (!same)
			{
				failure_ = "diverged: " + contents(first) + " vs " + contents(n);
				return;
			}
		}
	}

	/* After quiesce every node's heartbeat reaches every peer: no tombstone may stay. */
	void check_collected()
	{
		for (auto &n : nodes_)
			heartbeat(n);
		drain();
		for (auto &n : nodes_)
		{
			collect(n);
			if (!n.tombstones.empty() || !n.registers.empty())
			{
				failure_ = n.name + " keeps " + std::to_string(n.tombstones.size()) +
					" tombstones and " + std::to_string(n.registers.size()) +
					" unique value registers after heartbeats";
				return;
			}
			if (n.truncate_tombstone)
			{
				failure_ = n.name + " keeps its truncate tombstone after heartbeats";
				return;
			}
		}
	}

	std::string contents(const Node &n) const
	{
		std::string s = n.name + " {";

		for (const auto &[key, row] : n.rows)
			s += " k" + std::to_string(key) + "=" + std::to_string(row.value);
		return s + " }";
	}

	static const char *kind_name(MmrChangeKind kind)
	{
		return kind == MMR_CHANGE_INSERT ? "INSERT" : kind == MMR_CHANGE_UPDATE ? "UPDATE" : "DELETE";
	}

	static const char *action_name(int action)
	{
		static const char *const names[] = {"nothing", "insert", "update", "delete",
			"delete_other", "error"};

		return action >= 0 && action <= MMR_ACTION_ERROR ? names[action] : "?";
	}

	template <typename... Args>
	void trace(const char *format, Args... args)
	{
		if (!tracing_)
			return;
		char		line[512];

		std::snprintf(line, sizeof(line), format, args...);
		log_.push_back(line);
	}

	Mode		mode_;
	MmrResolverKind resolver_;
	std::mt19937_64 rng_;
	bool		tracing_;
	int			nnodes_ = 0;
	int64_t		unit_ = 1;		/* clock granularity */
	int64_t		step_ = 1;		/* real time between steps: up to 3 steps */
	bool		unique_ = false;
	bool		scripted_ = false;
	int64_t		max_skew_ = 0;
	int			action_ = MMR_SKEW_ACTION_WARN;
	int64_t		global_ = 0;
	int64_t		next_value_ = 0;
	std::vector<Node> nodes_;
	std::vector<std::deque<Txn>> links_;
	std::string failure_;
	std::vector<std::string> log_;
	Totals		totals_;
};

const struct
{
	const char *name;
	Mode		mode;
}			kModes[] = {
	{"concurrent", Mode::CONCURRENT},
	{"causal", Mode::CAUSAL},
	{"nowait", Mode::NOWAIT},
	{"unique_release", Mode::UNIQUE_RELEASE},
	{"rounds", Mode::ROUNDS},
	{"two_nodes", Mode::TWO_NODES},
	{"truncate", Mode::TRUNCATE},
};

bool
parse_mode(const char *s, Mode *mode)
{
	for (const auto &m : kModes)
		if (std::strcmp(s, m.name) == 0)
		{
			*mode = m.mode;
			return true;
		}
	return false;
}

const char *
mode_name(Mode mode)
{
	for (const auto &m : kModes)
		if (m.mode == mode)
			return m.name;
	return "?";
}

/* The resolvers the simulator runs: the ones that compare versions. */
bool
parse_resolver(const char *s, MmrResolverKind *resolver)
{
	int			r = mmr_resolver_from_name(s);

	if (r != MMR_RESOLVER_LAST_UPDATE_WINS && r != MMR_RESOLVER_FIRST_UPDATE_WINS &&
		r != MMR_RESOLVER_ORIGIN_WINS)
		return false;
	*resolver = static_cast<MmrResolverKind>(r);
	return true;
}

/*
 * Which runs must converge.  last_update_wins: all but nowait.  first_update_wins and origin_wins can order concurrent
 * writes against causality: under both, causal chains and rounds of
 * pairwise concurrent writes converge, and under origin_wins any
 * interleaving on two nodes (docs/conflicts.md, "Convergence of the other
 * resolvers").
 */
bool
asserted(Mode mode, MmrResolverKind resolver)
{
	switch (mode)
	{
		case Mode::NOWAIT:
			return false;
		case Mode::CONCURRENT:
		case Mode::UNIQUE_RELEASE:
		case Mode::TRUNCATE:
			return resolver == MMR_RESOLVER_LAST_UPDATE_WINS;
		case Mode::TWO_NODES:
			return resolver != MMR_RESOLVER_FIRST_UPDATE_WINS;
		case Mode::CAUSAL:
		case Mode::ROUNDS:
			return true;
	}
	return false;
}

void
print_trace(Mode mode, uint64_t seed, MmrResolverKind resolver)
{
	Sim			sim(mode, seed, true, resolver);

	sim.run();
	for (const auto &line : sim.log())
		std::printf("  %s\n", line.c_str());
	std::printf("  => %s\n", sim.failure().empty() ? "converged" : sim.failure().c_str());
}

int
run_seeds(Mode mode, long nseeds, MmrResolverKind resolver)
{
	Totals		all;
	long		unique_seeds = 0;
	long		unique_diverged = 0;
	long		first_failure = -1;
	std::string first_reason;

	for (long seed = 1; seed <= nseeds; seed++)
	{
		Sim			sim(mode, static_cast<uint64_t>(seed), false, resolver);
		bool		ok = sim.run();
		const Totals &t = sim.totals();

		all.seeds++;
		unique_seeds += sim.unique();
		unique_diverged += sim.unique() && !ok;
		all.operations += t.operations;
		all.conflicts += t.conflicts;
		all.ties += t.ties;
		all.unique_conflicts += t.unique_conflicts;
		all.kills += t.kills;
		all.tombstones_collected += t.tombstones_collected;
		all.registers_stored += t.registers_stored;
		all.registers_skipped += t.registers_skipped;
		all.waits += t.waits;
		all.warnings += t.warnings;
		if (!ok)
		{
			all.diverged++;
			if (first_failure < 0)
			{
				first_failure = seed;
				first_reason = sim.failure();
			}
		}
		if (mode == Mode::CAUSAL && t.conflicts + t.unique_conflicts + t.kills != 0 &&
			first_failure < 0)
		{
			first_failure = seed;
			first_reason = std::to_string(t.conflicts + t.unique_conflicts) +
				" conflicts and " + std::to_string(t.kills) + " unique deletes in a causal chain";
		}
	}

	std::string name_s = std::string(mode_name(mode)) + " " + mmr_resolver_name(resolver);
	const char *name = name_s.c_str();

	std::printf("%s: %ld seeds, %ld operations, %ld conflicts (%ld between equal times), "
				"%ld unique value conflicts, %ld rows deleted for a unique value, "
				"%ld tombstones collected, %ld waits, %ld skew warnings\n", name, all.seeds,
				all.operations, all.conflicts, all.ties, all.unique_conflicts, all.kills,
				all.tombstones_collected, all.waits, all.warnings);
	if (mode == Mode::UNIQUE_RELEASE)
		std::printf("%s: %ld unique value registers written, %ld not written (collectable "
					"at release)\n", name, all.registers_stored, all.registers_skipped);
	if (!asserted(mode, resolver))
	{
		/*
		 * Not asserted: without the wait last_update_wins cannot converge,
		 * skipping a change that loses a unique value does not either, nor
		 * do first_update_wins and origin_wins under any interleaving.
		 */
		std::printf("%s: %ld of %ld seeds diverged (key only: %ld of %ld, with UNIQUE "
					"columns: %ld of %ld; first: seed %ld)\n", name, all.diverged, all.seeds,
					all.diverged - unique_diverged, all.seeds - unique_seeds, unique_diverged,
					unique_seeds, first_failure);
		return 0;
	}
	if (first_failure >= 0)
	{
		std::printf("FAILED: seed %ld: %s\ntrace (mmr_sim trace %s %ld %s):\n", first_failure,
					first_reason.c_str(), mode_name(mode), first_failure,
					mmr_resolver_name(resolver));
		print_trace(mode, static_cast<uint64_t>(first_failure), resolver);
		return 1;
	}
	std::printf("%ld seeds, %ld operations, all converged\n", all.seeds, all.operations);
	return 0;
}

/*
 * Scripted cases from issue 6 and docs/conflicts.md, each on nodes n1..nN
 * whose writes are one second apart: the expected rows (values count the
 * writes from 1) and, where it is part of the claim, the number of
 * conflicts logged.
 */
struct Scenario
{
	const char *name;
	Mode		mode;			/* CAUSAL and NOWAIT: no waits */
	std::vector<int> offsets;	/* clock offsets in seconds */
	bool		unique;
	MmrResolverKind resolver;
	std::vector<int> priorities;	/* empty: all 0 */
	std::function<void(Sim &)> script;
	const char *rows;			/* every node's rows at the end */
	long		conflicts;		/* -1: not checked */
	bool		converges;
};

int
run_scenarios()
{
	const MmrChangeKind I = MMR_CHANGE_INSERT, U = MMR_CHANGE_UPDATE, D = MMR_CHANGE_DELETE;
	auto		everywhere = [](Sim &sim, int32_t from, int n) {
		for (int32_t to = 1; to <= n; to++)
			if (to != from)
				sim.send_to(from, to);
	};
	/* Scripts that several scenarios share. */
	auto		update_before_insert = [](Sim &sim) {
		sim.write(1, MMR_CHANGE_INSERT, 0); sim.send_to(1, 2);
		sim.write(2, MMR_CHANGE_UPDATE, 0); sim.send_to(2, 3);
	};
	auto		unique_taken_twice = [&](Sim &sim) {
		sim.write(1, I, 1); everywhere(sim, 1, 2);
		sim.write(1, U, 1, 5);
		sim.write(2, I, 2, 5);
	};
	auto		three_concurrent = [&](Sim &sim) {
		sim.write(1, I, 0); everywhere(sim, 1, 3);
		sim.write(1, U, 0);
		sim.write(2, D, 0);
		sim.write(3, U, 0);
	};
	const std::vector<Scenario> scenarios = {
		{"causal chain n1 -> n2 -> n1 logs no conflict", Mode::CAUSAL, {0, 0, 0}, false,
		 MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); everywhere(sim, 1, 3);
			 sim.write(2, U, 0); everywhere(sim, 2, 3);
			 sim.write(1, U, 0);
		 }, "{ k0=3 }", 0, true},
		{"the same with n2's clock 10 s behind, no waits", Mode::CAUSAL, {0, -10, 0}, false,
		 MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); everywhere(sim, 1, 3);
			 sim.write(2, U, 0); everywhere(sim, 2, 3);
			 sim.write(1, U, 0);
		 }, "{ k0=3 }", 0, true},
		{"an UPDATE reaches n3 before its INSERT, through n2", Mode::CONCURRENT, {0, 0, 0}, false,
		 MMR_RESOLVER_LAST_UPDATE_WINS, {}, update_before_insert, "{ k0=2 }", -1, true},
		{"a DELETE reaches n3 before its INSERT: the late INSERT does not resurrect the row",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); sim.send_to(1, 2);
			 sim.write(2, D, 0); sim.send_to(2, 3);
		 }, "{ }", -1, true},
		{"UPDATE on n1 against a later DELETE on n2: deleted everywhere", Mode::CONCURRENT,
		 {0, 0, 0}, false, MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); everywhere(sim, 1, 3);
			 sim.write(1, U, 0);
			 sim.write(2, D, 0);
		 }, "{ }", -1, true},
		{"DELETE on n2 against a later UPDATE on n1: the row comes back everywhere",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); everywhere(sim, 1, 3);
			 sim.write(2, D, 0);
			 sim.write(1, U, 0);
		 }, "{ k0=2 }", -1, true},
		{"INSERT/INSERT of one key: the later wins", Mode::CONCURRENT, {0, 0}, false,
		 MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0);
			 sim.write(2, I, 0);
		 }, "{ k0=2 }", 2, true},
		{"equal commit times: the greater node name wins", Mode::CONCURRENT, {0, -1}, false,
		 MMR_RESOLVER_LAST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0);
			 sim.write(2, I, 0);
		 }, "{ k0=2 }", 2, true},
		{"UNIQUE: an UPDATE takes u=5, a later INSERT takes it too (registers)",
		 Mode::CONCURRENT, {0, 0}, true, MMR_RESOLVER_LAST_UPDATE_WINS, {}, unique_taken_twice,
		 "{ k2=3 }", -1, true},
		{"UNIQUE: the same with the glue's storage (unique_release)",
		 Mode::UNIQUE_RELEASE, {0, 0}, true, MMR_RESOLVER_LAST_UPDATE_WINS, {}, unique_taken_twice,
		 "{ k2=3 }", -1, true},
		/*
		 * The other resolvers, where they cannot converge (docs/conflicts.md,
		 * "Convergence of the other resolvers").
		 */
		{"first_update_wins: n1 updates twice around n2's concurrent update DIVERGES",
		 Mode::CONCURRENT, {0, 0}, false, MMR_RESOLVER_FIRST_UPDATE_WINS, {},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); everywhere(sim, 1, 2);
			 sim.write(1, U, 0);
			 sim.write(2, U, 0);
			 sim.write(1, U, 0);
		 }, nullptr, -1, false},
		{"first_update_wins: an UPDATE reaches n3 before its INSERT, which overwrites it DIVERGES",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_FIRST_UPDATE_WINS, {},
		 update_before_insert, nullptr, -1, false},
		{"origin_wins: the same with n1 of higher priority DIVERGES",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_ORIGIN_WINS, {1, 0, 0},
		 update_before_insert, nullptr, -1, false},
		{"origin_wins: priorities against a causal chain (n1 2, n2 0, n3 1) DIVERGE",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_ORIGIN_WINS, {2, 0, 1},
		 [&](Sim &sim) {
			 sim.write(1, I, 0); everywhere(sim, 1, 3);
			 sim.write(1, U, 0); sim.send_to(1, 2);
			 sim.write(2, U, 0);
			 sim.write(3, U, 0);
		 }, nullptr, -1, false},
		{"origin_wins: concurrent writes of all three, each after the same state, converge",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_ORIGIN_WINS, {0, 2, 1},
		 three_concurrent, "{ }", -1, true},
		{"first_update_wins: the same converges on the earliest, n1's update",
		 Mode::CONCURRENT, {0, 0, 0}, false, MMR_RESOLVER_FIRST_UPDATE_WINS, {},
		 three_concurrent, "{ k0=2 }", -1, true},
	};
	int			failed = 0;

	for (const Scenario &sc : scenarios)
	{
		Sim			sim(sc.mode, sc.offsets, sc.unique, sc.resolver, sc.priorities);

		sc.script(sim);
		bool		converged = sim.settle();
		std::string rows = sim.contents_of(1);
		bool		ok = converged == sc.converges;

		if (ok && sc.rows != nullptr)
			ok = rows.substr(rows.find('{')) == sc.rows;
		if (ok && sc.conflicts >= 0)
			ok = sim.totals().conflicts + sim.totals().unique_conflicts == sc.conflicts;
		std::printf("%s: %s (%s, %ld conflicts)\n", ok ? "ok" : "FAILED", sc.name,
					converged ? rows.c_str() : sim.failure().c_str(),
					sim.totals().conflicts + sim.totals().unique_conflicts);
		if (!ok)
		{
			failed++;
			for (const auto &line : sim.log())
				std::printf("  %s\n", line.c_str());
		}
	}
	std::printf("%zu scenarios, %d failed\n", scenarios.size(), failed);
	return failed == 0 ? 0 : 1;
}

}							/* namespace */

int
main(int argc, char **argv)
{
	Mode		mode;

	MmrResolverKind resolver = MMR_RESOLVER_LAST_UPDATE_WINS;
	bool		trace = argc >= 2 && std::strcmp(argv[1], "trace") == 0;
	int			nargs = trace ? 4 : 3;	/* without the resolver */

	if (argc == 2 && std::strcmp(argv[1], "scenarios") == 0)
		return run_scenarios();
	if ((argc == nargs || (argc == nargs + 1 && parse_resolver(argv[nargs], &resolver))) &&
		parse_mode(argv[nargs - 2], &mode))
	{
		if (!trace)
			return run_seeds(mode, std::strtol(argv[2], nullptr, 10), resolver);
		print_trace(mode, std::strtoull(argv[3], nullptr, 10), resolver);
		return 0;
	}
	std::fprintf(stderr, "usage: mmr_sim scenarios\n"
				 "       mmr_sim concurrent|causal|nowait|unique_release|rounds|two_nodes|truncate SEEDS [RESOLVER]\n"
				 "       mmr_sim trace concurrent|causal|nowait|unique_release|rounds|two_nodes|truncate SEED [RESOLVER]\n"
				 "RESOLVER: last_update_wins (default), first_update_wins, origin_wins\n");
	return 2;
}
