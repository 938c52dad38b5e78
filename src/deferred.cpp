/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * The nolock calls and the deferred frees behind them (seeds 000 and 003;
 * slub.c: kmalloc_nolock(), kfree_nolock(), defer_free(), free_deferred_objects()).
 *
 * Re-entry: every dslab call that writes per-lcore state (sheaves, rcu
 * lists, remote batches, per-lcore counters) runs with the lcore's busy
 * mark set (BusyScope; dslab_enter_() for the inline remote batch), except
 * the inline alloc, free, bulk alloc, bulk free and kfree_rcu, which use
 * only the near end of main and of the rcu sheaf (dslab_pcs.h). A
 * *_nolock call that finds the mark clear interrupted at most one of those,
 * so it may do what a regular call does, as long as it never waits and
 * keeps off the near ends: it sets the mark, uses the far ends, the spare
 * and the barn (try-lock), try-locks the slabs, and never maps memory. One
 * that finds the mark set touches nothing but the deferred list.
 *
 * Deferred list: a Treiber stack of words, pushed with compare-and-swap (a
 * nested handler may push between our load and our CAS) and emptied whole
 * with one exchange, by the owner at its safe points or by a barrier on any
 * thread. A plain object is linked through its first word (it is free);
 * an rcu object through its dslab_rcu_head (readers may still use it),
 * tagged with bit 0. Pushes never look at the next word, so neither the
 * exchange nor a re-push of the same address can confuse them (no ABA).
 *
 * Counting: a deferred free is counted (free_nolock_deferred) in the shared
 * atomic counter slot, as a busy lcore's own slot may be in the middle of
 * a plain update; the free itself is counted when done, by the path it
 * takes then.
 *
 * A kfree_rcu_nolock of another socket's object on an online lcore goes
 * home by ring (remote.cpp, rcu entries): from the nolock call itself when
 * the lcore is not busy (in its own counter slot), else from the deferred
 * run; it stays a deferred free until it is drained from the ring.
 */
#include <cstring>

#include "internal.h"

struct dslab_lcore dslab_lcores[RTE_MAX_LCORE];
__thread uint32_t dslab_busy_ __attribute__((tls_model("initial-exec")));

namespace dslab {

std::atomic<uintptr_t> g_deferred_nonlcore{0};
std::atomic<uint64_t> g_bad_count{0};

namespace {

constexpr uintptr_t kRcuTag = 1;

/* A pointer a nolock call could not place: reported at a safe point
 * (logging is not async-signal-safe). */
std::atomic<const void *> g_bad_ptr{nullptr};

/*
 * Lists taken whole and being run, by any thread (RunScope). A barrier
 * empties every list, but a list its owner (or another thread) took just
 * before is still being run: the barrier waits for those runs
 * (deferred_wait_runs), counted in two phases (PhaseCount: a run that
 * exchanged a list before the barrier's own exchange is in the phase the
 * barrier waits for; runs that begin later cannot starve it).
 */
PhaseCount g_runs;
/* Runs under way on this thread: it must not answer a barrier from inside
 * one (a kfree_rcu in it reaches service()), as the rest of the list would
 * then be done after the barrier went on. */
__thread uint32_t t_runs;
/* A barrier is under way: lcores leave the shared list to it (an lcore
 * that answered the barrier already would put its entries into its own
 * sheaves and batches, which the barrier no longer looks at). */
std::atomic<bool> g_barrier_on{false};

inline std::atomic<uintptr_t> *list_of(unsigned lc)
{
	static_assert(sizeof(std::atomic<uintptr_t>) == sizeof(uintptr_t), "atomic word");
	return lc < RTE_MAX_LCORE
		? reinterpret_cast<std::atomic<uintptr_t> *>(&dslab_lcores[lc].deferred)
		: &g_deferred_nonlcore;
}

void push(unsigned lc, uintptr_t word, void *link)
{
	std::atomic<uintptr_t> *head = list_of(lc);
	uintptr_t old = head->load(std::memory_order_relaxed);
	do {
		memcpy(link, &old, sizeof(old));
		/* Release: the link (and the object's last contents) are
		 * visible to whoever takes the list. */
	} while (!head->compare_exchange_weak(old, word, std::memory_order_release,
					      std::memory_order_relaxed));
}

/* A busy lcore's counters may be mid-update: count in the shared slot. */
inline void count_deferred(dslab_cache_impl *c)
{
	if (c != nullptr)
		stat_add(c, RTE_MAX_LCORE, STAT_free_nolock_deferred, 1);
}

void note_bad(const void *ptr)
{
	g_bad_ptr.store(ptr, std::memory_order_relaxed);
	g_bad_count.fetch_add(1, std::memory_order_relaxed);
}

} // namespace

void report_bad()
{
	if (likely(g_bad_count.load(std::memory_order_relaxed) == 0))
		return; /* no read-modify-write on the quiescent path */
	uint64_t n = g_bad_count.exchange(0, std::memory_order_relaxed);
	if (n != 0) {
		DSLAB_LOG(ERR, "dslab_kfree_nolock/kfree_rcu_nolock: %" PRIu64 " pointer(s) dslab "
			  "never handed out (last %p): ignored", n,
			  g_bad_ptr.load(std::memory_order_relaxed));
	}
}

namespace {

/* Do the frees of a list taken whole. Runs at a safe point, marked busy. */
void run_list(uintptr_t w, unsigned lc)
{
	while (w != 0) {
		if (w & kRcuTag) {
			auto *h = reinterpret_cast<dslab_rcu_head *>(w & ~kRcuTag);
			memcpy(&w, &h->next, sizeof(w));
			uintptr_t e = dslab_pm_entry_(h->obj);
			Chunk *ch = reinterpret_cast<Chunk *>(e & ~(uintptr_t)DSLAB_PM_TAG_MASK);
			if (ch != nullptr && ch->pub.cache != nullptr) {
				/* Another socket's object, on its own online
				 * lcore: home by ring, still deferred
				 * (remote.cpp); not in a barrier's run of
				 * another lcore's list (lc is then the
				 * barrier's caller, whose batch it sends
				 * anyway: equally covered). */
				if (lc == rte_lcore_id() && rcu_caller_online() &&
				    remote_send_rcu(lc, e & DSLAB_PM_TAG_MASK, h, true)) {
					stat_add(ch->impl, lc, STAT_free_rcu_remote_ring, 1);
					continue;
				}
				stat_add(ch->impl, lc, STAT_free_deferred_done, 1);
			}
			rcu_free_verified(h->obj, h);
			continue;
		}
		void *obj = reinterpret_cast<void *>(w);
		memcpy(&w, obj, sizeof(w));
		uintptr_t e = dslab_pm_entry_(obj);
		Chunk *ch = reinterpret_cast<Chunk *>(e & ~(uintptr_t)DSLAB_PM_TAG_MASK);
		if (ch->pub.cache == nullptr) {
			large_free(ch, obj);
			continue;
		}
#if DSLAB_CHECKED
		/* Verified and poisoned when deferred; the link word was ours. */
		memset(obj, 0x6b, sizeof(uintptr_t));
#endif
		stat_add(ch->impl, lc, STAT_free_deferred_done, 1);
		/* The regular free, without a second check. */
		dslab_free_entry_(ch->pub.cache, obj, e);
	}
}

/* The chunk of a pointer given to a nolock free, page-map entry in *e;
 * nullptr, noted for the report, when dslab did not hand it out: unknown,
 * inside a large allocation, or (unchecked builds; checked ones find it in
 * their own check) not the start of an object. */
Chunk *nolock_chunk(const void *ptr, uintptr_t *e)
{
	*e = dslab_pm_entry_(ptr);
	Chunk *ch = reinterpret_cast<Chunk *>(*e & ~(uintptr_t)DSLAB_PM_TAG_MASK);
	bool bad = ch == nullptr ||
		   (ch->pub.cache == nullptr ? ptr != ch->region.base
					     : !DSLAB_CHECKED &&
						       obj_index(ch->impl, ch, ptr) == UINT32_MAX);
	if (unlikely(bad)) {
		note_bad(ptr);
		return nullptr;
	}
	return ch;
}

/* Not inside dslab on this thread: its per-lcore state is ours. */
inline bool may_use_lcore()
{
	return __atomic_load_n(&dslab_busy_, __ATOMIC_RELAXED) == 0;
}

} // namespace

void deferred_run(unsigned lc)
{
	BusyScope busy; /* nested: its end is no second safe point */
	const unsigned self = rte_lcore_id();
	const bool shared_on_lcore = lc >= RTE_MAX_LCORE && self < RTE_MAX_LCORE;
	/* One run per list taken (a barrier waits for the one under way,
	 * not for a burst of pushes that keeps refilling the list). */
	while (deferred_pending(lc)) {
		if (shared_on_lcore && g_barrier_on.load(std::memory_order_seq_cst))
			break;
		RunScope run;
		uintptr_t w = list_of(lc)->exchange(0, std::memory_order_seq_cst);
		if (w == 0)
			break;
		run_list(w, lc < RTE_MAX_LCORE ? lc : self);
		/* An offline lcore's remote frees: no barrier asks it for
		 * its batches, so they leave with the run. */
		if (self < RTE_MAX_LCORE && !rcu_caller_online())
			remote_flush(self);
	}
	report_bad();
}

void deferred_run_once(unsigned lc)
{
	uintptr_t w = list_of(lc)->exchange(0, std::memory_order_seq_cst);
	if (w != 0)
		run_list(w, lc);
}

void deferred_run_all()
{
	BusyScope busy;
	unsigned self = rte_lcore_id();
	RunScope run;
	for (unsigned lc = 0; lc <= RTE_MAX_LCORE; lc++) {
		/* Taken from its owner: the exchange makes it ours alone. */
		uintptr_t w = list_of(lc)->exchange(0, std::memory_order_seq_cst);
		if (w != 0)
			run_list(w, self);
	}
	report_bad();
}

void deferred_hand_to_shared(unsigned lc)
{
	/* Counted as a run: between the exchange and the last push the
	 * entries are in neither list, where a barrier's sweep misses them;
	 * the barrier waits for this, then takes the shared list again
	 * (deferred_wait_runs()). */
	RunScope run;
	race_window(DSLAB_RACE_HAND_OVER_BEGIN, lc);
	uintptr_t w = list_of(lc)->exchange(0, std::memory_order_seq_cst);
	if (w != 0)
		race_window(DSLAB_RACE_HAND_OVER_TAKEN, lc);
	while (w != 0) {
		void *link = (w & kRcuTag) ? static_cast<void *>(&reinterpret_cast<dslab_rcu_head *>(
						  w & ~kRcuTag)->next)
					  : reinterpret_cast<void *>(w);
		uintptr_t next;
		memcpy(&next, link, sizeof(next));
		push(RTE_MAX_LCORE, w, link);
		w = next;
	}
}

void deferred_barrier_begin() { g_barrier_on.store(true, std::memory_order_seq_cst); }

void deferred_barrier_end() { g_barrier_on.store(false, std::memory_order_release); }

bool deferred_barrier_on() { return g_barrier_on.load(std::memory_order_seq_cst); }

void deferred_wait_runs()
{
	g_runs.flip_and_wait("barrier: a run of deferred frees another thread took");
	/* A hand-over (deferred_hand_to_shared()) the wait covered took an
	 * lcore's list before the barrier's sweep did and put it on the
	 * shared list after the sweep took that: take it once more. One that
	 * begins after the wait holds only frees pushed after the sweep,
	 * which are newer than the barrier. */
	RunScope run;
	uintptr_t w = g_deferred_nonlcore.exchange(0, std::memory_order_seq_cst);
	if (w != 0) {
		run_list(w, rte_lcore_id());
		report_bad();
	}
}

bool deferred_running_here() { return t_runs != 0; }

RunScope::RunScope() noexcept : phase_(g_runs.enter()) { t_runs++; }

RunScope::~RunScope()
{
	t_runs--;
	g_runs.exit(phase_);
}

} // namespace dslab

using namespace dslab;

extern "C" void *dslab_kmalloc_nolock(size_t size, unsigned flags, int socket)
{
	if (!initialised() || size == 0 || size > DSLAB_KMALLOC_MAX_SIZE ||
	    (socket != SOCKET_ID_ANY && !topo_socket_valid(socket))) {
		rte_errno = EINVAL;
		return nullptr;
	}
	dslab_cache *cache = size <= DSLAB_KMALLOC_FAST_MAX ? dslab_kmalloc_fast[(size - 1) >> 3]
							     : kmalloc_class(size);
	dslab_cache_impl *c = cache->impl;
	unsigned lc = rte_lcore_id();
	if (!may_use_lcore()) {
		stat_add(c, RTE_MAX_LCORE, STAT_alloc_nolock_fail, 1);
		rte_errno = EAGAIN;
		return nullptr;
	}
	void *obj = nullptr;
	{
		BusyMark mark;
		if (lc < RTE_MAX_LCORE) {
			/* The lcore's own socket: main's far end, the spare, or
			 * a full sheaf of the barn, if its lock is free. */
			dslab_pcs *p = &cache->pcs[lc];
			if (p->capacity != 0 && (socket == SOCKET_ID_ANY ||
						 (uint32_t)DSLAB_PM_TAG(socket) == p->socket_tag))
				obj = nolock_pcs_alloc(c, p, lc);
		}
		if (obj == nullptr) {
			if (socket == SOCKET_ID_ANY)
				socket = topo_caller_socket();
			if (node_alloc_try(c, socket, 1, &obj) == 0)
				obj = nullptr;
		}
		stat_add(c, lc, obj != nullptr ? STAT_alloc_nolock : STAT_alloc_nolock_fail, 1);
	}
	if (obj == nullptr) {
		rte_errno = EAGAIN;
		return nullptr;
	}
	return hand_out(c, obj, flags);
}

extern "C" void dslab_kfree_nolock_slow(const void *cptr)
{
	void *ptr = const_cast<void *>(cptr);
	if (ptr == nullptr)
		return;
	uintptr_t e;
	Chunk *ch = nolock_chunk(ptr, &e);
	if (ch == nullptr)
		return;
	dslab_cache *cache = ch->pub.cache;
	dslab_cache_impl *c = cache != nullptr ? ch->impl : nullptr;
#if DSLAB_CHECKED
	if (cache != nullptr && !dslab_check_free_(cache, ptr))
		return;
#endif
	unsigned lc = rte_lcore_id();
	if (c != nullptr && lc < RTE_MAX_LCORE && may_use_lcore()) {
		dslab_pcs *p = &cache->pcs[lc];
		BusyMark mark;
		if ((e & DSLAB_PM_TAG_MASK) == p->socket_tag) {
			/* Main's far end, the spare, or an empty sheaf of the
			 * barn as the spare; else the slab, if its lock is
			 * free, so that a loop of nolock calls on an lcore
			 * that reaches no safe point does not pile up
			 * deferred frees. */
			if (nolock_pcs_free(c, p, lc, ptr))
				return;
			if (node_free_try(c, ch->socket, ptr)) {
				stat_add(c, lc, STAT_free_nolock, 1);
				return;
			}
		}
	}
	if (c != nullptr && lc >= RTE_MAX_LCORE && may_use_lcore()) {
		/* No sheaves here: the home slab, if its lock is free. */
		BusyMark mark;
		if (node_free_try(c, ch->socket, ptr)) {
			stat_add(c, lc, STAT_free_nolock, 1);
			return;
		}
	}
	count_deferred(c);
	push(lc, reinterpret_cast<uintptr_t>(ptr), ptr);
}

extern "C" void dslab_kfree_rcu_nolock_head(void *obj, struct dslab_rcu_head *head)
{
	if (obj == nullptr)
		return;
	uintptr_t e;
	Chunk *ch = head != nullptr ? nolock_chunk(obj, &e) : nullptr;
	if (ch == nullptr) {
		if (head == nullptr)
			note_bad(obj);
		return;
	}
	dslab_cache *cache = ch->pub.cache;
	dslab_cache_impl *c = cache != nullptr ? ch->impl : nullptr;
#if DSLAB_CHECKED
	if (c != nullptr && !checked_rcu_free(c, obj))
		return;
#endif
	unsigned lc = rte_lcore_id();
	if (c != nullptr && lc < RTE_MAX_LCORE && may_use_lcore()) {
		dslab_pcs *p = &cache->pcs[lc];
		BusyMark mark;
		/* rcu_limit is nonzero only on an online lcore with an open
		 * sheaf (stamped, linked) that the next object does not fill.
		 * Its far end, as kfree_nolock uses main's: leave free the slot
		 * at rcu_size, which a kfree_rcu we interrupted may be writing,
		 * and the one above it, so that the sheaf does not fill here
		 * (the object that fills it submits it); then lower rcu_limit
		 * below the far end for the fast path's next call. */
		const uint32_t n = p->rcu_size, lim = p->rcu_limit;
		const uint32_t top = lim != 0 ? p->rcu_free->capacity - p->rcu_nl : 0;
		if ((e & DSLAB_PM_TAG_MASK) == p->socket_tag && n + 2 < top) {
			p->rcu_objs[top - 1] = obj;
			/* Counted by rcu_nl (dslab_pcs.free_rcu_sheaf). */
			__atomic_store_n(&p->rcu_nl, p->rcu_nl + 1, __ATOMIC_RELAXED);
			__atomic_store_n(&p->rcu_limit, RTE_MIN(lim, top - 2), __ATOMIC_RELAXED);
			return;
		}
		/* Another socket's object, on an online lcore (whose
		 * batches a barrier asks for): home by ring, a deferred
		 * free done there; unless it would fill the batch, as
		 * sending may wait. */
		head->obj = obj;
		if (rcu_caller_online() && remote_send_rcu(lc, e & DSLAB_PM_TAG_MASK, head, false)) {
			stat_add(c, lc, STAT_free_nolock_deferred, 1);
			stat_add(c, lc, STAT_free_rcu_remote_ring, 1);
			return;
		}
	}
	count_deferred(c);
	head->obj = obj;
	push(lc, reinterpret_cast<uintptr_t>(head) | kRcuTag, &head->next);
}

extern "C" void dslab_deferred_barrier(void)
{
	if (initialised())
		rcu_deferred_barrier();
}
