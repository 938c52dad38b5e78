/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * kfree_rcu over DPDK QSBR (seeds 001, 002, 004; slub.c: __kfree_rcu_sheaf(),
 * rcu_free_sheaf(), flush_rcu_sheaves_on_cache(), kvfree_rcu_barrier()).
 *
 * Per lcore online in the QSBR variable (RcuLcore, owner-only fields):
 *   open list     rcu sheaves holding objects, oldest first object first;
 *                 each is some cache's pcs.rcu_free. Submitted when full, or
 *                 at a dslab_quiescent() once older than rcu_flush_us.
 *   pending FIFO  submitted sheaves, each with one QSBR token (tokens rise
 *                 along the FIFO). Reclaimed by their owner when the token
 *                 has passed: a full one becomes the lcore's spare sheaf
 *                 if that slot is free or empty (keep_in_pcs()), else goes
 *                 to the barn as a full sheaf (either way its objects are
 *                 allocated again without touching slabs); others are
 *                 flushed to slabs.
 * Global, under their locks:
 *   orphans       submitted sheaves handed over by an lcore going offline or
 *                 answering a barrier; reclaimed by anyone polling.
 *   fallback      objects that cannot use a sheaf (remote socket, no sheaves,
 *                 not an online lcore, no empty sheaf): headed ones linked
 *                 through their dslab_rcu_head, headless ones in pointer
 *                 blocks; closed in batches of one token each.
 *
 * Barriers ("ask and wait", DESIGN.md): the barrier raises a request on every
 * online lcore; the owner answers at its next dslab_quiescent() or slow path
 * by submitting its open sheaves (of the cache, or all) and handing its
 * pending ones over, then acknowledges. Because the owner itself detaches and
 * submits in program order, a kfree_rcu() that returned before the barrier
 * began is in a submitted sheaf once the owner has answered: seed 001's
 * flush-versus-fill race cannot happen. The barrier then takes one token
 * after all hand-overs and waits for it, naming any lcore that holds it up.
 * Handshake: R1 (barrier: req store-release) pairs with A1 (owner: req
 * load-acquire); R2 (owner: ack store-release) with A2 (barrier: ack
 * load-acquire), which orders the owner's hand-over before the barrier's
 * reclaim.
 *
 * Lock order: g_barrier (mutex) > Fallback::lock, g_orph_lock > barn, node.
 * Expired global work is taken under its list's lock and freed outside it,
 * counted in g_inflight, which barriers wait for (see poll_global()).
 */
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "internal.h"

namespace dslab {
namespace {

struct alignas(RTE_CACHE_LINE_SIZE) RcuLcore {
	/* Owner's (and fini's). */
	bool online;
	dslab_sheaf *open_head, *open_tail;
	dslab_sheaf *pend_head, *pend_tail;
	uint32_t open_n, pend_n; /* sheaves in each list */
	uint32_t max_waiting;    /* dslab_rcu_set_max_pending(); 0: unbounded */
	uint32_t q_bound;        /* dslab_rcu_set_quiescent_bound(); 0: none */
	/* Barrier handshake, read by other threads. */
	alignas(RTE_CACHE_LINE_SIZE) std::atomic<uint64_t> req{0};
	std::atomic<dslab_cache_impl *> req_cache{nullptr};
	std::atomic<uint64_t> ack{0};
	std::atomic<bool> online_pub{false};
};
RcuLcore g_rl[RTE_MAX_LCORE];

rte_rcu_qsbr *g_v;   /* in use */
rte_rcu_qsbr *g_own; /* dslab's own, if created */
uint64_t g_flush_cycles;
uint64_t g_stall_ms = 1000;

std::mutex g_barrier;
uint64_t g_gen;

SpinLock g_orph_lock;
dslab_sheaf *g_orph_head, *g_orph_tail; /* FIFO through next, tokens almost rising */
std::atomic<uint32_t> g_orph_n{0};
/* Pollers that took expired work off a global list and still free it: a
 * barrier waits for them (R3 on decrement pairs with A3 in the barrier). */
std::atomic<uint32_t> g_inflight{0};

/* ---- fallback ----------------------------------------------------------- */
constexpr uint32_t kBlockPtrs = 126;
struct PtrBlock {
	PtrBlock *next;
	uint32_t n;
	void *ptrs[kBlockPtrs];
};
struct Closed {
	Closed *next;
	uint64_t token;
	dslab_rcu_head *heads;
	PtrBlock *blocks;
};
constexpr unsigned kClosedPool = 64;
constexpr uint32_t kBatchObjs = 64;

struct Fallback {
	SpinLock lock;
	dslab_rcu_head *heads; /* open batch */
	PtrBlock *blocks;      /* open batch, first block has room */
	uint32_t n;
	uint64_t since;
	Closed *closed_head, *closed_tail;
	Closed *free_desc;
	Closed pool[kClosedPool];
	std::atomic<uint32_t> pending{0}; /* open + closed objects, for polling */
} g_fb;

/* ---- async destroy ------------------------------------------------------- */
std::mutex g_reap_mu;
std::condition_variable g_reap_cv;
pthread_t g_reaper;
bool g_reaper_on; /* g_reaper runs; under g_reap_mu */
dslab_cache_impl *g_dying; /* linked through next */
unsigned g_dying_n;        /* unlinked and not yet reaped */
bool g_reap_stop;

inline uint64_t now_cycles() { return rte_get_tsc_cycles(); }
inline int pcs_socket(const dslab_pcs *p) { return (int)(p->socket_tag & ~DSLAB_PM_VALID); }

void open_link(RcuLcore &rl, dslab_sheaf *s)
{
	s->open_next = nullptr;
	s->open_prev = rl.open_tail;
	if (rl.open_tail != nullptr)
		rl.open_tail->open_next = s;
	else
		rl.open_head = s;
	rl.open_tail = s;
	rl.open_n++;
}

void open_unlink(RcuLcore &rl, dslab_sheaf *s)
{
	if (s->open_prev != nullptr)
		s->open_prev->open_next = s->open_next;
	else
		rl.open_head = s->open_next;
	if (s->open_next != nullptr)
		s->open_next->open_prev = s->open_prev;
	else
		rl.open_tail = s->open_prev;
	s->open_prev = s->open_next = nullptr;
	rl.open_n--;
}

/* Make empty sheaf s the lcore's rcu sheaf of cache c (none is there). */
void rcu_sheaf_set(dslab_cache_impl *c, dslab_pcs *p, dslab_sheaf *s)
{
	s->cache = c;
	p->rcu_free = s;
	p->rcu_objs = s->objects;
	__atomic_store_n(&p->rcu_size, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->rcu_nl, 0, __ATOMIC_RELAXED);
	/* The first object goes through sheaf_path(). */
	__atomic_store_n(&p->rcu_limit, 0, __ATOMIC_RELAXED);
}

/* Move the rcu sheaf's far end (kfree_rcu_nolock's objects, dslab_pcs.h)
 * down onto its near end. The caller holds the busy mark, so no nolock
 * call moves it meanwhile; the counts move inside rcu_seq, so that
 * stats_read() counts the objects once. */
void rcu_settle(dslab_pcs *p)
{
	const uint32_t k = p->rcu_nl;
	if (k == 0)
		return;
	const uint32_t n = p->rcu_size, cap = p->rcu_free->capacity, q = p->rcu_seq;
	memmove(&p->rcu_objs[n], &p->rcu_objs[cap - k], k * sizeof(void *));
	__atomic_store_n(&p->rcu_seq, q + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&p->rcu_size, n + k, __ATOMIC_RELAXED);
	__atomic_store_n(&p->rcu_nl, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->rcu_seq, q + 2, __ATOMIC_RELEASE);
}

/*
 * The lcore's own full sheaf, its grace period over: into its spare slot
 * when that is free or holds an empty sheaf, so that the next allocation to
 * empty main swaps with it and the next rcu sheaf is that empty one, with no
 * barn lock. Only the owner does this (a pcs is written by its lcore alone),
 * and the sheaf holds objects of the lcore's socket, as every sheaf there.
 * A writer retiring objects that a reader lcore reads did about 4 barn
 * operations per sheaf without this and 0.002-1.9 with it, and retired 3-5%
 * more objects per second (dslab_kfree_rcu_bench, far state; bench/RESULTS.md).
 */
bool keep_in_pcs(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s)
{
	dslab_pcs *p = &c->pub->pcs[lc];
	dslab_sheaf *sp = p->spare;

	if (p->capacity == 0 || (sp != nullptr && sp->size != 0))
		return false;
	if (sp != nullptr) {
		if (p->rcu_free == nullptr)
			rcu_sheaf_set(c, p, sp);
		else
			barn_put_empty(c, lc, sp);
	}
	p->spare = s;
	return true;
}

/* Objects' grace period is over: back to the barn whole, or to the slabs;
 * the lcore's own sheaves (own) first to its spare slot. */
void retire(dslab_sheaf *s, unsigned lc, bool own = false)
{
	dslab_cache_impl *c = s->cache;

#if DSLAB_CHECKED
	for (uint32_t i = 0; i < s->size; i++)
		checked_poison(c, s->objects[i]);
#endif
	stat_add(c, lc, STAT_rcu_sheaf_reclaim, 1);
	stat_add(c, lc, STAT_rcu_reclaimed, s->size);
	if (s->size == s->capacity && ((own && keep_in_pcs(c, lc, s)) || barn_put_full(c, lc, s)))
		return;
	sheaf_flush(c, lc, s);
	barn_put_empty(c, lc, s);
}

/* Retire up to max expired sheaves of the lcore's pending list (oldest
 * first). Bounded on the dataplane paths: after a long grace period the list
 * can hold thousands of expired sheaves, and retiring them all at once keeps
 * the lcore from its next quiescent report for that long, which delays the
 * next grace period while the other lcores keep submitting (found under TSan
 * with 4 lcores on 2 cores: memory grew without bound). Retiring 2 per
 * submitted sheaf drains any backlog. */
constexpr unsigned kReclaimOnSubmit = 2;
constexpr unsigned kReclaimOnQuiescent = 32;

void reclaim_own(unsigned lc, unsigned max = UINT32_MAX)
{
	RcuLcore &rl = g_rl[lc];
	while (max-- != 0 && rl.pend_head != nullptr &&
	       rte_rcu_qsbr_check(g_v, rl.pend_head->token, false) == 1) {
		dslab_sheaf *s = rl.pend_head;
		rl.pend_head = s->next;
		if (rl.pend_head == nullptr)
			rl.pend_tail = nullptr;
		rl.pend_n--;
		retire(s, lc, true);
	}
}

/* Detach the lcore's rcu sheaf of cache c and give it a token. */
void submit(unsigned lc, dslab_cache_impl *c)
{
	RcuLcore &rl = g_rl[lc];
	dslab_pcs *p = &c->pub->pcs[lc];
	dslab_sheaf *s = p->rcu_free;

	rcu_settle(p);
	uint32_t q = p->rcu_seq;
	s->size = p->rcu_size;
	/* The objects move from rcu_size to free_rcu_sheaf: a seqcount
	 * around it, so that stats_read() counts them once. */
	__atomic_store_n(&p->rcu_seq, q + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&p->free_rcu_sheaf, p->free_rcu_sheaf + s->size, __ATOMIC_RELAXED);
	__atomic_store_n(&p->rcu_size, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->rcu_seq, q + 2, __ATOMIC_RELEASE);
	p->rcu_free = nullptr;
	p->rcu_objs = nullptr;
	__atomic_store_n(&p->rcu_limit, 0, __ATOMIC_RELAXED);
	open_unlink(rl, s);
	s->token = rte_rcu_qsbr_start(g_v);
	s->next = nullptr;
	if (rl.pend_tail != nullptr)
		rl.pend_tail->next = s;
	else
		rl.pend_head = s;
	rl.pend_tail = s;
	rl.pend_n++;
	stat_add(c, lc, STAT_rcu_sheaf_submit, 1);
}

void orphan(dslab_sheaf *s)
{
	Guard<SpinLock> g(g_orph_lock);
	s->next = nullptr;
	if (g_orph_tail != nullptr)
		g_orph_tail->next = s;
	else
		g_orph_head = s;
	g_orph_tail = s;
	g_orph_n.fetch_add(1, std::memory_order_relaxed);
}

/* Submit the lcore's open sheaves of cache want (all: nullptr) and hand the
 * pending ones of that cache over to the orphans. */
void flush_own(unsigned lc, dslab_cache_impl *want)
{
	RcuLcore &rl = g_rl[lc];

	if (want != nullptr) {
		/* The cache's open sheaf on this lcore is its pcs.rcu_free (open
		 * once it holds an object): no walk over other caches' sheaves. */
		const dslab_pcs *p = &want->pub->pcs[lc];
		if (p->rcu_free != nullptr && p->rcu_size + p->rcu_nl != 0)
			submit(lc, want);
	} else {
		while (rl.open_head != nullptr)
			submit(lc, rl.open_head->cache);
	}
	dslab_sheaf **pp = &rl.pend_head, *last = nullptr;
	while (*pp != nullptr) {
		dslab_sheaf *s = *pp;
		if (want == nullptr || s->cache == want) {
			*pp = s->next;
			rl.pend_n--;
			orphan(s);
		} else {
			last = s;
			pp = &s->next;
		}
	}
	rl.pend_tail = last;
}

/* Answer a barrier's request, if one is raised. */
void service(unsigned lc)
{
	RcuLcore &rl = g_rl[lc];
	uint64_t r = rl.req.load(std::memory_order_acquire); /* A1 */

	if (likely(r == rl.ack.load(std::memory_order_relaxed)))
		return;
	if (unlikely(!rl.online)) {
		/* A request raised while this lcore went offline, after it had
		 * read req: the barrier saw it offline and did not wait (it had
		 * handed everything over), so the cache named may be freed by
		 * now. Never follow it; just clear it. */
		rl.ack.store(r, std::memory_order_release);
		return;
	}
	/* Inside a run of deferred frees (one of them a kfree_rcu): answer
	 * once the run is over, or the rest of it would be done after the
	 * barrier went on. */
	if (unlikely(deferred_running_here()))
		return;
	/* Deferred frees first: a deferred kfree_rcu lands in a sheaf that
	 * flush_own() then submits. Remote batches go to their rings, which
	 * the barrier drains. */
	deferred_run(lc);
	remote_flush(lc);
	flush_own(lc, rl.req_cache.load(std::memory_order_relaxed));
	rl.ack.store(r, std::memory_order_release); /* R2 */
}

/* Free one object whose grace period is over (fallback and headless). */
void free_after_gp(void *obj, unsigned lc)
{
	Chunk *ch = pm_chunk(obj);
	if (ch->pub.cache == nullptr) {
		large_free(ch, obj);
		return;
	}
	dslab_cache_impl *c = ch->impl;
#if DSLAB_CHECKED
	checked_poison(c, obj);
#endif
	node_free(c, ch->socket, 1, &obj);
	stat_add(c, lc, STAT_rcu_reclaimed, 1);
}

void free_closed(dslab_rcu_head *heads, PtrBlock *blocks, unsigned lc)
{
	for (dslab_rcu_head *h = heads, *next; h != nullptr; h = next) {
		next = h->next; /* read before the object goes */
		free_after_gp(h->obj, lc);
	}
	for (PtrBlock *b = blocks, *next; b != nullptr; b = next) {
		next = b->next;
		for (uint32_t i = 0; i < b->n; i++)
			free_after_gp(b->ptrs[i], lc);
		free(b);
	}
}

/* Fallback::lock held: close the open batch under one token. */
bool fb_close()
{
	if (g_fb.n == 0)
		return true;
	Closed *d = g_fb.free_desc;
	if (d == nullptr)
		return false; /* all descriptors waiting: the open batch grows */
	g_fb.free_desc = d->next;
	d->next = nullptr;
	d->token = rte_rcu_qsbr_start(g_v);
	d->heads = g_fb.heads;
	d->blocks = g_fb.blocks;
	g_fb.heads = nullptr;
	g_fb.blocks = nullptr;
	g_fb.n = 0;
	if (g_fb.closed_tail != nullptr)
		g_fb.closed_tail->next = d;
	else
		g_fb.closed_head = d;
	g_fb.closed_tail = d;
	return true;
}

/* Fallback::lock held: detach closed batches whose token passed (all of
 * them when all is set). */
void fb_take(dslab_rcu_head **heads, PtrBlock **blocks, bool all)
{
	while (g_fb.closed_head != nullptr &&
	       (all || rte_rcu_qsbr_check(g_v, g_fb.closed_head->token, false) == 1)) {
		Closed *d = g_fb.closed_head;
		g_fb.closed_head = d->next;
		if (g_fb.closed_head == nullptr)
			g_fb.closed_tail = nullptr;
		/* Splice d's lists in front of the collected ones. */
		for (dslab_rcu_head **pp = &d->heads;; pp = &(*pp)->next)
			if (*pp == nullptr) {
				*pp = *heads;
				*heads = d->heads;
				break;
			}
		for (PtrBlock **pp = &d->blocks;; pp = &(*pp)->next)
			if (*pp == nullptr) {
				*pp = *blocks;
				*blocks = d->blocks;
				break;
			}
		d->next = g_fb.free_desc;
		g_fb.free_desc = d;
	}
}

void fb_take_expired(dslab_rcu_head **heads, PtrBlock **blocks) { fb_take(heads, blocks, false); }
void fb_take_all(dslab_rcu_head **heads, PtrBlock **blocks) { fb_take(heads, blocks, true); }

uint32_t count_objs(dslab_rcu_head *heads, PtrBlock *blocks)
{
	uint32_t n = 0;
	for (; heads != nullptr; heads = heads->next)
		n++;
	for (; blocks != nullptr; blocks = blocks->next)
		n += blocks->n;
	return n;
}

/* g_orph_lock held: detach expired orphans. A poll takes the expired
 * prefix only (O(1) when nothing expired; tokens from different lcores are
 * almost in order, so little waits longer than needed); a barrier (all)
 * scans the whole list. */
dslab_sheaf *orph_take(bool all)
{
	dslab_sheaf *ready = nullptr, **tail = &ready;
	dslab_sheaf **pp = &g_orph_head, *last = nullptr;
	/* A dataplane poll takes a bounded share (see reclaim_own); a barrier
	 * takes everything its token covers. */
	unsigned max = all ? UINT32_MAX : kReclaimOnQuiescent;
	while (*pp != nullptr && max-- != 0) {
		dslab_sheaf *s = *pp;
		if (rte_rcu_qsbr_check(g_v, s->token, false) == 1) {
			*pp = s->next;
			s->next = nullptr;
			*tail = s;
			tail = &s->next;
			g_orph_n.fetch_sub(1, std::memory_order_relaxed);
		} else if (!all) {
			break;
		} else {
			last = s;
			pp = &s->next;
		}
	}
	if (g_orph_head == nullptr)
		g_orph_tail = nullptr;
	else if (all)
		g_orph_tail = last;
	return ready;
}

/* Reclaim whatever of the global lists has passed its grace period. Work
 * is taken under the list's lock and freed outside it, counted in
 * g_inflight, so that a barrier can wait for pollers still freeing. */
void poll_global(unsigned lc, bool barrier_scan)
{
	/* A barrier takes each lock even when the list looks empty: a poller
	 * holding it may have just taken the last entries, and counts itself
	 * in g_inflight under it (the barrier must see that count). */
	if (barrier_scan || g_orph_n.load(std::memory_order_relaxed) != 0) {
		if (barrier_scan)
			g_orph_lock.lock();
		if (barrier_scan || g_orph_lock.try_lock()) {
			g_inflight.fetch_add(1, std::memory_order_relaxed);
			dslab_sheaf *ready = orph_take(barrier_scan);
			if (ready != nullptr && !barrier_scan)
				race_window(DSLAB_RACE_GLOBAL_TAKEN, 0);
			g_orph_lock.unlock();
			for (dslab_sheaf *s = ready, *next; s != nullptr; s = next) {
				next = s->next;
				retire(s, lc);
			}
			g_inflight.fetch_sub(1, std::memory_order_release); /* R3 */
		}
	}
	if (barrier_scan || g_fb.pending.load(std::memory_order_relaxed) != 0) {
		if (barrier_scan)
			g_fb.lock.lock();
		if (barrier_scan || g_fb.lock.try_lock()) {
			dslab_rcu_head *heads = nullptr;
			PtrBlock *blocks = nullptr;
			if (g_fb.n != 0 && now_cycles() - g_fb.since > g_flush_cycles)
				fb_close();
			fb_take_expired(&heads, &blocks);
			g_fb.pending.fetch_sub(count_objs(heads, blocks), std::memory_order_relaxed);
			if ((heads != nullptr || blocks != nullptr) && !barrier_scan)
				race_window(DSLAB_RACE_GLOBAL_TAKEN, 1);
			g_inflight.fetch_add(1, std::memory_order_relaxed);
			g_fb.lock.unlock();
			free_closed(heads, blocks, lc);
			g_inflight.fetch_sub(1, std::memory_order_release); /* R3 */
		}
	}
}

void fallback_add(dslab_rcu_head *head, PtrBlock *block_if_needed, void *obj)
{
	/* Fallback::lock held. */
	if (g_fb.n == 0)
		g_fb.since = now_cycles();
	if (head != nullptr) {
		head->obj = obj;
		head->next = g_fb.heads;
		g_fb.heads = head;
	} else {
		if (g_fb.blocks == nullptr || g_fb.blocks->n == kBlockPtrs) {
			block_if_needed->next = g_fb.blocks;
			block_if_needed->n = 0;
			g_fb.blocks = block_if_needed;
		}
		g_fb.blocks->ptrs[g_fb.blocks->n++] = obj;
	}
	g_fb.n++;
	g_fb.pending.fetch_add(1, std::memory_order_relaxed);
	if (g_fb.n >= kBatchObjs || now_cycles() - g_fb.since > g_flush_cycles)
		fb_close();
}

bool caller_online(unsigned lc) { return lc < RTE_MAX_LCORE && g_rl[lc].online; }

/* Thread id t is online in the variable, whoever put it there. */
bool qsbr_thread_online(unsigned t)
{
	return t < g_v->max_threads && __atomic_load_n(&g_v->qsbr_cnt[t].cnt, __ATOMIC_ACQUIRE) !=
						__RTE_QSBR_CNT_THR_OFFLINE;
}

/* lc (the caller) is online in the QSBR variable: through
 * dslab_rcu_online(), or by the application's own
 * rte_rcu_qsbr_thread_online() (thread ids are lcore ids). Either way a
 * grace period needs its report: it must not wait for one without
 * reporting, and it reports at a barrier, a quiescent point of its caller.
 * Only a dslab_rcu_online() lcore has rcu sheaves and answers requests. */
bool caller_in_qsbr(unsigned lc)
{
	return caller_online(lc) || (lc < RTE_MAX_LCORE && g_v != nullptr && qsbr_thread_online(lc));
}

/* The headed or headless fallback. False: no memory for a headless block
 * and the caller may not wait (reported). */
bool fallback(dslab_cache_impl *c, void *obj, dslab_rcu_head *head, unsigned lc)
{
	PtrBlock *spare = nullptr;
	if (head == nullptr) {
		/* A block is needed only when the open one is full: allocated
		 * before locking, racily; returned if unused. */
		bool need;
		{
			Guard<SpinLock> g(g_fb.lock);
			need = g_fb.blocks == nullptr || g_fb.blocks->n == kBlockPtrs;
			if (!need) {
				if (c != nullptr)
					stat_add(c, lc, STAT_free_rcu_sheaf_fail, 1);
				fallback_add(nullptr, nullptr, obj);
				return true;
			}
		}
		spare = unlikely(fault_hit(DSLAB_FAULT_META))
				? nullptr
				: static_cast<PtrBlock *>(malloc(sizeof(PtrBlock)));
		if (spare == nullptr) {
			/* In a walk callback, a wait under the registry lock
			 * could need an online lcore blocked on that lock. */
			if (caller_in_qsbr(lc) || in_walk()) {
				DSLAB_LOG(ERR, "kvfree_rcu(%p): no memory for a pointer array, and %s "
					  "cannot wait for a grace period: object left allocated", obj,
					  in_walk() ? "a dslab_cache_walk() callback"
						    : "an online reader lcore");
				if (c != nullptr) {
					stat_add(c, lc, STAT_kvfree_rcu_nomem, 1);
#if DSLAB_CHECKED
					checked_rcu_unfree(obj); /* still allocated */
#endif
				}
				rte_errno = EDEADLK;
				return false;
			}
			/* Not a reader: wait for a grace period, then free. */
			rte_rcu_qsbr_synchronize(g_v, RTE_QSBR_THRID_INVALID);
			if (c != nullptr)
				stat_add(c, lc, STAT_free_rcu_sheaf_fail, 1);
			free_after_gp(obj, lc);
			return true;
		}
	}
	{
		Guard<SpinLock> g(g_fb.lock);
		if (c != nullptr)
			stat_add(c, lc, STAT_free_rcu_sheaf_fail, 1);
		bool used = head == nullptr && (g_fb.blocks == nullptr || g_fb.blocks->n == kBlockPtrs);
		fallback_add(head, spare, obj);
		if (used)
			spare = nullptr;
	}
	free(spare);
	return true;
}

void wait_token(uint64_t t, unsigned self);

/*
 * dslab_rcu_set_max_pending(): before lcore lc opens one more rcu sheaf,
 * its open and submitted sheaves must number fewer than the bound, so that
 * the objects waiting there never exceed the bound's sheaves' worth. Waits
 * for the oldest submitted sheaf's grace period (reporting the lcore's
 * quiescent state, which the application allowed by setting the bound),
 * submitting the oldest open sheaf first when none is submitted (more
 * caches in use than the bound). A barrier that asks the lcore meanwhile
 * has its answer after the wait; the two cannot wait for each other, since
 * a barrier reports its caller's quiescent states while it waits.
 */
void wait_below(unsigned lc, uint32_t bound)
{
	RcuLcore &rl = g_rl[lc];
	while (rl.open_n + rl.pend_n >= bound) {
		if (rl.pend_head == nullptr)
			submit(lc, rl.open_head->cache);
		wait_token(rl.pend_head->token, lc);
		reclaim_own(lc, kReclaimOnSubmit);
	}
}

__attribute__((noinline)) void wait_for_room(dslab_cache_impl *c, unsigned lc)
{
	stat_add(c, lc, STAT_rcu_max_pending_wait, 1);
	wait_below(lc, g_rl[lc].max_waiting);
}

/*
 * dslab_rcu_set_quiescent_bound(): dslab_quiescent() on lcore lc returns
 * with fewer open and submitted rcu sheaves than the bound. The caller is
 * quiescent there by definition (it has just reported so), so the wait
 * needs no promise from the application, unlike wait_for_room()'s; the
 * lcore reports again while it waits, and a barrier that asks it meanwhile
 * has its answer after the wait, as there.
 */
__attribute__((noinline)) void wait_at_quiescent(unsigned lc)
{
	RcuLcore &rl = g_rl[lc];
	dslab_sheaf *oldest = rl.pend_head != nullptr ? rl.pend_head : rl.open_head;
	stat_add(oldest->cache, lc, STAT_rcu_quiescent_bound_wait, 1);
	wait_below(lc, rl.q_bound);
}

/* Try the lcore's rcu sheaf; false when the object must take the fallback.
 * may_wait: an application's direct call, which may wait at the lcore's
 * bound (not a deferred free run at a safe point inside another call). */
bool sheaf_path(dslab_cache_impl *c, void *obj, int socket, unsigned lc, bool may_wait)
{
	dslab_pcs *p = &c->pub->pcs[lc];
	if (c->capacity == 0 || !pcs_ready(c, p, lc) || socket != pcs_socket(p))
		return false;
	dslab_sheaf *s = p->rcu_free;
	if (s == nullptr || p->rcu_size + p->rcu_nl == 0) {
		/* About to open a sheaf: room for it under the bound? */
		RcuLcore &rl = g_rl[lc];
		if (unlikely(rl.max_waiting != 0) && may_wait &&
		    rl.open_n + rl.pend_n >= rl.max_waiting && !in_walk()) {
			wait_for_room(c, lc);
			/* A reclaimed sheaf may have left an empty one here
			 * (keep_in_pcs()). */
			s = p->rcu_free;
		}
	}
	if (s == nullptr) {
		/* An empty spare first: no barn lock (keep_in_pcs()). */
		if (p->spare != nullptr && p->spare->size == 0) {
			s = p->spare;
			p->spare = nullptr;
		} else if ((s = barn_get_empty(c, lc, socket)) == nullptr &&
			   (s = sheaf_alloc(c, lc, socket, c->capacity)) == nullptr) {
			return false;
		}
		rcu_sheaf_set(c, p, s);
	}
	/* Room for obj: a kfree_rcu_nolock never fills the sheaf. */
	rcu_settle(p);
	uint32_t n = p->rcu_size;
	p->rcu_objs[n++] = obj;
	/* Counted by rcu_size (dslab_pcs.free_rcu_sheaf). */
	__atomic_store_n(&p->rcu_size, n, __ATOMIC_RELAXED);
	if (n == 1) {
		s->since = now_cycles();
		open_link(g_rl[lc], s);
	}
	if (n == s->capacity) {
		submit(lc, c);
		reclaim_own(lc, kReclaimOnSubmit);
	} else {
		__atomic_store_n(&p->rcu_limit, s->capacity - 1, __ATOMIC_RELAXED);
	}
	return true;
}

/* Validate a pointer given to kfree_rcu/kvfree_rcu; its chunk or NULL. */
Chunk *rcu_chunk(const void *obj, const char *fn)
{
	Chunk *ch = pm_chunk(obj);
	if (ch == nullptr) {
		report_foreign(fn, obj);
		return nullptr;
	}
	if (ch->pub.cache == nullptr) {
		if (obj != ch->region.base) {
			DSLAB_LOG(ERR, "%s(%p): inside a large allocation: not freed", fn, obj);
			rte_errno = EINVAL;
			return nullptr;
		}
		return ch;
	}
#if DSLAB_CHECKED
	if (!checked_rcu_free(ch->impl, obj))
		return nullptr;
#endif
	return ch;
}

void free_rcu(void *obj, dslab_rcu_head *head, const char *fn, bool verified = false,
	      bool may_wait = false)
{
	if (obj == nullptr)
		return;
	if (unlikely(g_v == nullptr)) {
		DSLAB_LOG(ERR, "%s(%p) before dslab_init: not freed", fn, obj);
		rte_errno = EINVAL;
		return;
	}
	BusyScope busy;
	Chunk *ch = verified ? pm_chunk(obj) : rcu_chunk(obj, fn);
	if (ch == nullptr)
		return;
	dslab_cache_impl *c = ch->pub.cache != nullptr ? ch->impl : nullptr;
	unsigned lc = rte_lcore_id();
	if (c != nullptr && caller_online(lc) && sheaf_path(c, obj, ch->socket, lc, may_wait)) {
		service(lc);
		return;
	}
	fallback(c, obj, head, lc);
	if (lc < RTE_MAX_LCORE)
		service(lc);
}

/* Wait until token t has passed, reporting for the caller if it is online
 * and naming every second (rcu_stall_ms) the lcores that hold it up. */
void wait_token(uint64_t t, unsigned self)
{
	uint64_t start = rte_get_timer_cycles(), hz = rte_get_timer_hz();
	uint64_t next_warn = start + g_stall_ms * hz / 1000;

	while (rte_rcu_qsbr_check(g_v, t, false) != 1) {
		if (caller_in_qsbr(self))
			rte_rcu_qsbr_quiescent(g_v, self);
		uint64_t now = rte_get_timer_cycles();
		if (now >= next_warn) {
			for (unsigned lc = 0; lc < g_v->max_threads && lc < RTE_MAX_LCORE; lc++) {
				uint64_t c = __atomic_load_n(&g_v->qsbr_cnt[lc].cnt, __ATOMIC_ACQUIRE);
				if (c != 0 && c < t)
					DSLAB_LOG(WARNING, "rcu stall: lcore %u has reported no quiescent "
						  "state for %" PRIu64 " ms", lc, (now - start) * 1000 / hz);
			}
			next_warn = now + g_stall_ms * hz / 1000;
		}
		sched_yield();
	}
}

/* want: the cache (nullptr: all). rcu false: the deferred-work barrier,
 * which hands everything over and waits for no grace period. */
void barrier(dslab_cache_impl *want, bool rcu = true)
{
	BusyScope busy;
	unsigned self = rte_lcore_id();
	/* Barriers are serialized; one running may be waiting for this lcore
	 * to answer (an online reader): answer while waiting for the mutex,
	 * or the two would wait for each other forever. */
	std::unique_lock<std::mutex> g(g_barrier, std::defer_lock);
	while (!g.try_lock()) {
		if (caller_in_qsbr(self))
			rte_rcu_qsbr_quiescent(g_v, self);
		if (caller_online(self))
			service(self);
		sched_yield();
	}

	/* From here, lcores leave the shared deferred list to us. */
	deferred_barrier_begin();
	if (caller_in_qsbr(self))
		rte_rcu_qsbr_quiescent(g_v, self); /* a barrier is a quiescent point */
	if (caller_online(self))
		flush_own(self, want);
	/* Ask every other online lcore, then wait for their answers. */
	uint64_t gen = ++g_gen;
	bool asked[RTE_MAX_LCORE] = {};
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
		/* Sequentially consistent, against dslab_rcu_online(): an
		 * lcore coming online now either is seen here (and asked)
		 * or sees g_barrier_on and hands over by itself. */
		if (lc == self || !g_rl[lc].online_pub.load(std::memory_order_seq_cst))
			continue;
		race_window(DSLAB_RACE_BARRIER_ASK, lc);
		g_rl[lc].req_cache.store(want, std::memory_order_relaxed);
		g_rl[lc].req.store(gen, std::memory_order_seq_cst); /* R1 */
		asked[lc] = true;
	}
	uint64_t start = rte_get_timer_cycles(), hz = rte_get_timer_hz();
	uint64_t next_warn = start + g_stall_ms * hz / 1000;
	for (;;) {
		bool done = true;
		for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
			if (!asked[lc])
				continue;
			/* online_pub after R1, both sequentially consistent:
			 * an lcore gone offline and back (which loaded req in
			 * dslab_rcu_online()) either loaded gen or is seen
			 * online here, so never left holding a request this
			 * barrier stopped waiting for. */
			if (g_rl[lc].ack.load(std::memory_order_acquire) == gen || /* A2 */
			    !g_rl[lc].online_pub.load(std::memory_order_seq_cst))
				asked[lc] = false;
			else
				done = false;
		}
		if (done)
			break;
		if (caller_in_qsbr(self))
			rte_rcu_qsbr_quiescent(g_v, self);
		uint64_t now = rte_get_timer_cycles();
		if (now >= next_warn) {
			for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++)
				if (asked[lc])
					DSLAB_LOG(WARNING, "rcu barrier: lcore %u has not called "
						  "dslab_quiescent() for %" PRIu64 " ms", lc,
						  (now - start) * 1000 / hz);
			next_warn = now + g_stall_ms * hz / 1000;
		}
		sched_yield();
	}
	/* Every lcore has handed its deferred frees over or had them taken;
	 * remote batches are in rings: do the rest here. A deferred kfree_rcu
	 * done here lands in this caller's sheaf or the fallback, both
	 * handed over below. */
	deferred_run_all();
	/* Lists their owners (an offline lcore, a thread with no lcore id)
	 * took before us may still be running: wait for them. */
	deferred_wait_runs();
	deferred_barrier_end();
	if (self < RTE_MAX_LCORE)
		remote_flush(self);
	remote_drain_all(self);
	remote_drain_wait();
	if (caller_online(self))
		flush_own(self, want);
	if (!rcu)
		return;
	/* Close the fallback's open batch; take every batch. */
	dslab_rcu_head *heads = nullptr;
	PtrBlock *blocks = nullptr;
	{
		Guard<SpinLock> gl(g_fb.lock);
		heads = g_fb.heads;
		blocks = g_fb.blocks;
		g_fb.heads = nullptr;
		g_fb.blocks = nullptr;
		g_fb.n = 0;
		fb_take_all(&heads, &blocks); /* all covered by the barrier's token */
		g_fb.pending.fetch_sub(count_objs(heads, blocks), std::memory_order_relaxed);
	}
	/* One token after every hand-over covers them all. */
	wait_token(rte_rcu_qsbr_start(g_v), self);
	free_closed(heads, blocks, self);
	poll_global(self, true);
	/* A poller that took expired work before we took the locks may still
	 * be freeing it: wait, so that everything is freed when we return. */
	while (g_inflight.load(std::memory_order_acquire) != 0) /* A3 */
		sched_yield();
	if (caller_online(self))
		reclaim_own(self);
}

void *reaper_main(void *)
{
	std::unique_lock<std::mutex> lk(g_reap_mu);
	for (;;) {
		g_reap_cv.wait(lk, [] { return g_dying != nullptr || g_reap_stop; });
		if (g_dying == nullptr)
			return nullptr;
		dslab_cache_impl *c = g_dying;
		g_dying = c->next;
		lk.unlock();
		barrier(c);
		cache_reap(c);
		lk.lock();
		g_dying_n--;
	}
}

} // namespace

int rcu_init(uint64_t flush_us, uint64_t stall_ms)
{
	size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	g_own = static_cast<rte_rcu_qsbr *>(rte_zmalloc("dslab_qsbr", sz, RTE_CACHE_LINE_SIZE));
	if (g_own == nullptr || rte_rcu_qsbr_init(g_own, RTE_MAX_LCORE) != 0) {
		rte_free(g_own);
		g_own = nullptr;
		return -ENOMEM;
	}
	g_v = g_own;
	g_flush_cycles = flush_us * rte_get_tsc_hz() / 1000000;
	g_stall_ms = stall_ms;
	g_fb.free_desc = nullptr;
	for (unsigned i = 0; i < kClosedPool; i++) {
		g_fb.pool[i].next = g_fb.free_desc;
		g_fb.free_desc = &g_fb.pool[i];
	}
	return 0;
}

void rcu_lcore_gone(unsigned lc)
{
	if (lc >= RTE_MAX_LCORE || !g_rl[lc].online)
		return;
	RcuLcore &rl = g_rl[lc];
	deferred_run(lc);
	remote_flush(lc);
	flush_own(lc, nullptr);
	uint64_t r = rl.req.load(std::memory_order_acquire);
	rl.online = false;
	rl.online_pub.store(false, std::memory_order_release);
	rl.ack.store(r, std::memory_order_release);
	rte_rcu_qsbr_thread_offline(g_v, lc);
	rte_rcu_qsbr_thread_unregister(g_v, lc);
}

void rcu_lcore_uninit(unsigned lc)
{
	rcu_lcore_gone(lc);
	/* The id may be given to another thread (rte_thread_register()): it
	 * must not inherit this one's bound and wait inside its read-side
	 * sections, reporting quiescent states it is not in. */
	if (lc < RTE_MAX_LCORE) {
		g_rl[lc].max_waiting = 0;
		g_rl[lc].q_bound = 0;
	}
}

void rcu_fini()
{
	if (g_v == nullptr)
		return;
	/* No lcore runs dslab code now: take every lcore offline for it, so
	 * that no barrier (the reaper's included) waits for one. */
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
		rcu_lcore_uninit(lc);
		/* Readers or not, their batches and deferred frees go now. */
		remote_flush(lc);
		deferred_run(lc);
	}
	{
		std::lock_guard<std::mutex> lk(g_reap_mu);
		g_reap_stop = true;
	}
	g_reap_cv.notify_all();
	if (g_reaper_on) {
		pthread_join(g_reaper, nullptr);
		g_reaper_on = false;
	}
	g_reap_stop = false;
	barrier(nullptr);
	g_v = nullptr;
	rte_free(g_own);
	g_own = nullptr;
}

void rcu_pcs_gone(dslab_cache_impl *c, unsigned lc)
{
	dslab_pcs *p = &c->pub->pcs[lc];
	dslab_sheaf *s = p->rcu_free;
	if (s == nullptr)
		return;
	if (p->rcu_size + p->rcu_nl == 0) {
		p->rcu_free = nullptr;
		p->rcu_objs = nullptr;
		__atomic_store_n(&p->rcu_limit, 0, __ATOMIC_RELAXED);
		sheaf_free(c, lc, s);
		return;
	}
	/* Objects still waiting: they keep their grace period. */
	submit(lc, c);
	flush_own(lc, c);
}

bool cache_rcu_busy(dslab_cache_impl *c)
{
	struct dslab_cache_stats s;
	stats_read(c, &s);
	return s.objects_pending_rcu != 0;
}

bool rcu_caller_online() { return caller_online(rte_lcore_id()); }
bool rcu_caller_in_qsbr() { return caller_in_qsbr(rte_lcore_id()); }

uint64_t rcu_stall_ms() { return g_stall_ms; }

int reaper_start()
{
	std::lock_guard<std::mutex> lk(g_reap_mu);
	if (g_reaper_on)
		return 0;
	/* pthread_create, not std::thread: its failure is an error code
	 * (std::thread would throw, and this library is built without
	 * exceptions). */
	int rc = unlikely(fault_hit(DSLAB_FAULT_THREAD))
			 ? EAGAIN
			 : pthread_create(&g_reaper, nullptr, reaper_main, nullptr);
	if (rc != 0)
		return -rc;
	pthread_setname_np(g_reaper, "dslab-reaper");
	g_reaper_on = true;
	return 0;
}

void destroy_async(dslab_cache_impl *c)
{
	std::lock_guard<std::mutex> lk(g_reap_mu);
	c->next = g_dying;
	g_dying = c;
	g_dying_n++;
	g_reap_cv.notify_one();
}

void rcu_barrier_on(dslab_cache_impl *c) { barrier(c); }

void rcu_free_verified(void *obj, dslab_rcu_head *head)
{
	free_rcu(obj, head, "dslab_kfree_rcu_nolock", true);
}

/*
 * A kfree_rcu_nolock of another socket's object travels home by ring
 * (remote.cpp) and is handed to kfree_rcu's fallback by the lcore that
 * drains it (rcu_take_home()). Why every entry E whose nolock call returned
 * before barrier B began is covered by B:
 *  - E is in an online lcore's batch (only online lcores batch rcu entries,
 *    remote_send_rcu's callers), in its deferred list, or in a ring: B's
 *    request makes the owner run its deferred list and send its batches
 *    before it answers (service()); an lcore going offline does the same
 *    before clearing online_pub; B takes the remaining deferred lists
 *    itself. So E is in a ring or dequeued before B drains the rings.
 *  - B then drains every ring and waits for drains under way (g_drains):
 *    whoever took E has put it in the fallback before B takes the fallback
 *    batches, which B's token covers.
 * (An earlier version put E into the home lcore's rcu sheaf when no barrier
 * was running; under QEMU a barrier once returned with such objects still
 * pending. The fallback needs no argument beyond the drains'.)
 */
void rcu_take_home(void *obj, dslab_rcu_head *head, unsigned lc)
{
	Chunk *ch = pm_chunk(obj);
	dslab_cache_impl *c = ch->impl; /* a slab object: only those are batched */
	stat_add(c, lc, STAT_free_deferred_done, 1);
	if (unlikely(g_v == nullptr)) {
		/* After rcu_fini() (remote_fini()'s last drain): no lcore is
		 * online, no reader is left. */
		stat_add(c, lc, STAT_free_rcu_sheaf_fail, 1);
		free_after_gp(obj, lc);
		return;
	}
	fallback(c, obj, head, lc);
}

void rcu_deferred_barrier()
{
	if (g_v != nullptr)
		barrier(nullptr, false);
}

} // namespace dslab

using namespace dslab;

extern "C" void dslab_kfree_rcu_slow(void *obj, struct dslab_rcu_head *head)
{
	free_rcu(obj, head, "dslab_kfree_rcu", false, true);
}

extern "C" void dslab_kvfree_rcu(void *ptr) { free_rcu(ptr, nullptr, "dslab_kvfree_rcu", false, true); }

extern "C" int dslab_rcu_attach(struct rte_rcu_qsbr *v)
{
	if (v == nullptr || g_v == nullptr)
		return fail(EINVAL);
	/* Answered before the lock: a barrier holding it may be waiting for
	 * this (online) lcore to report, which it could not do blocked here. */
	if (caller_in_qsbr(rte_lcore_id()))
		return fail(EBUSY);
	std::lock_guard<std::mutex> g(g_barrier);
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++)
		if (g_rl[lc].online_pub.load(std::memory_order_acquire))
			return fail(EBUSY);
	/* Threads the application put online in the variable itself. */
	for (unsigned t = 0; t < g_v->max_threads; t++)
		if (qsbr_thread_online(t))
			return fail(EBUSY);
	if (g_orph_n.load() != 0 || g_fb.pending.load() != 0 || g_inflight.load() != 0)
		return fail(EBUSY);
	g_v = v;
	return 0;
}

extern "C" struct rte_rcu_qsbr *dslab_rcu_qsbr(void) { return g_v; }

extern "C" int dslab_rcu_online(void)
{
	BusyScope busy;
	unsigned lc = rte_lcore_id();
	if (g_v == nullptr || lc >= RTE_MAX_LCORE || lc >= g_v->max_threads)
		return fail(EINVAL);
	RcuLcore &rl = g_rl[lc];
	if (rl.online)
		return 0;
	if (rte_rcu_qsbr_thread_register(g_v, lc) != 0)
		return fail(EINVAL);
	rte_rcu_qsbr_thread_online(g_v, lc);
	rl.online = true;
	/* Published before req and g_barrier_on are read (all sequentially
	 * consistent; the barrier stores g_barrier_on, then reads online_pub,
	 * then stores req, then reads online_pub again): a barrier under way
	 * either sees this lcore online and waits for its answer, or is seen
	 * here. Seen here, with its request or without (it found the lcore
	 * offline), this lcore hands over now, counted as a run that the
	 * barrier waits for (or after the barrier's own sweep of the deferred
	 * lists): its deferred frees from before, which would otherwise be
	 * run into its sheaves at the end of this call. */
	rl.online_pub.store(true, std::memory_order_seq_cst);
	race_window(DSLAB_RACE_RCU_ONLINE, lc);
	uint64_t r = rl.req.load(std::memory_order_seq_cst);
	if (r != rl.ack.load(std::memory_order_relaxed) || deferred_barrier_on()) {
		RunScope run;
		/* Once: a barrier waits for this run, not for pushes made
		 * meanwhile (a signal handler's), which are newer than it. */
		deferred_run_once(lc);
		remote_flush(lc);
		flush_own(lc, nullptr); /* never the request's cache: may be stale */
	}
	rl.ack.store(r, std::memory_order_release);
	return 0;
}

extern "C" int dslab_rcu_set_max_pending(unsigned sheaves)
{
	unsigned lc = rte_lcore_id();
	if (g_v == nullptr || lc >= RTE_MAX_LCORE)
		return fail(EINVAL);
	g_rl[lc].max_waiting = sheaves;
	return 0;
}

extern "C" int dslab_rcu_set_quiescent_bound(unsigned sheaves)
{
	unsigned lc = rte_lcore_id();
	if (g_v == nullptr || lc >= RTE_MAX_LCORE)
		return fail(EINVAL);
	g_rl[lc].q_bound = sheaves;
	return 0;
}

extern "C" void dslab_rcu_offline(void)
{
	BusyScope busy;
	rcu_lcore_gone(rte_lcore_id());
}

namespace {

/*
 * Nothing for dslab_quiescent() to do on lcore lc but report: no rcu sheaf
 * open or pending, no barrier request, no deferred free, no remote batch to
 * send or take home, nothing global to poll. Relaxed loads of lines that
 * change rarely: a dataplane lcore that only reads (or frees without RCU)
 * pays these loads instead of a dozen calls (callgrind, the kfree_rcu
 * bench's reader: 71 instructions a call, 184 before).
 */
inline bool quiescent_idle(unsigned lc, RcuLcore &rl)
{
	return rl.open_head == nullptr && rl.pend_head == nullptr &&
	       rl.req.load(std::memory_order_relaxed) == rl.ack.load(std::memory_order_relaxed) &&
	       !deferred_pending(lc) && !deferred_pending(RTE_MAX_LCORE) &&
	       g_bad_count.load(std::memory_order_relaxed) == 0 &&
	       g_orph_n.load(std::memory_order_relaxed) == 0 &&
	       g_fb.pending.load(std::memory_order_relaxed) == 0 && remote_idle(lc);
}

/* dslab_quiescent()'s work, out of line: the idle path saves no registers. */
__attribute__((noinline)) void quiescent_work(unsigned lc)
{
	BusyScope busy;
	deferred_poll(lc);
	if (lc < RTE_MAX_LCORE)
		deferred_poll(RTE_MAX_LCORE); /* and threads with no lcore id */
	report_bad();
	if (lc < RTE_MAX_LCORE) {
		RcuLcore &rl = g_rl[lc];
		service(lc);
		/* Remote frees: send this lcore's batches, take its socket's
		 * objects home. */
		remote_flush(lc);
		remote_drain(topo_lcore_socket(lc), lc, 256);
		if (rl.open_head != nullptr) {
			uint64_t now = now_cycles();
			while (rl.open_head != nullptr && now - rl.open_head->since > g_flush_cycles)
				submit(lc, rl.open_head->cache);
		}
		if (rl.pend_head != nullptr)
			reclaim_own(lc, kReclaimOnQuiescent);
		if (unlikely(rl.q_bound != 0) && rl.open_n + rl.pend_n >= rl.q_bound && !in_walk())
			wait_at_quiescent(lc);
	}
	poll_global(lc, false);
}

} // namespace

extern "C" void dslab_quiescent(void)
{
	if (g_v == nullptr)
		return;
	unsigned lc = rte_lcore_id();
	if (likely(lc < RTE_MAX_LCORE)) {
		RcuLcore &rl = g_rl[lc];
		/* Online through dslab, or put online in the variable by the
		 * application (caller_in_qsbr()): the report is the same. */
		if (likely(rl.online) || caller_in_qsbr(lc))
			rte_rcu_qsbr_quiescent(g_v, lc);
		if (likely(quiescent_idle(lc, rl)))
			return;
	}
	quiescent_work(lc);
}

extern "C" void dslab_rcu_barrier(void)
{
	if (g_v != nullptr && !refused_in_walk("dslab_rcu_barrier"))
		barrier(nullptr);
}

extern "C" void dslab_rcu_barrier_on_cache(struct dslab_cache *cache)
{
	if (cache == nullptr || g_v == nullptr)
		return;
	if (!valid_cache(cache)) {
		rte_errno = EINVAL;
		return;
	}
	if (!refused_in_walk("dslab_rcu_barrier_on_cache"))
		barrier(cache->impl);
}

extern "C" unsigned dslab_caches_dying(void)
{
	std::lock_guard<std::mutex> lk(g_reap_mu);
	return g_dying_n;
}
