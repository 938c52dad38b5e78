/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_INTERNAL_H
#define DSLAB_INTERNAL_H

/*
 * Internal declarations shared by the library's source files.
 *
 * Glossary
 *   chunk  a chunk_size (2 MiB) aligned region from the memory source; owned by
 *          one cache and one socket, or one large (kvmalloc) allocation.
 *   slab   a power-of-two slice of a chunk holding objects of one size; free
 *          objects are linked through their first word.
 *   node   a cache's slabs on one socket (SLUB's kmem_cache_node).
 *   barn   a cache's full and empty sheaves on one socket.
 *   pcs    an lcore's sheaves of one cache (struct dslab_pcs, dslab_pcs.h).
 *
 * Lock order (never take them the other way round):
 *   1. registry_lock (cache.cpp; pthread mutex; create/destroy/walk/telemetry)
 *   2. Barn::lock    (spin lock; sheaf lists only, no allocation under it)
 *   3. Node::lock    (spin lock; slabs and chunks of one cache on one socket)
 * PhaseCount::flips (a mutex, below) is taken with none of those held (a
 * barrier holds only its own g_barrier, rcu.cpp).
 * A pcs is never locked: only its lcore writes it, except in destroy, fini
 * and the lcore uninit callback, which run when its lcore cannot (a remote
 * drain leaves the sheaves of a cache being reaped alone: remote.cpp).
 */

#include <atomic>
#include <cstddef>
#include <cinttypes>
#include <cstdint>
#include <mutex>

#include <sched.h>

#include <rte_cycles.h>
#include <rte_debug.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_memory.h>
#include <rte_pause.h>

/* The inline fast paths, used inside the library, nest in slow paths. */
#define DSLAB_LIB_INTERNAL_ 1
#include "dslab.h"
#include "dslab_fault.h"

namespace dslab {

/* ---- logging --------------------------------------------------------- */
extern int logtype;
#define DSLAB_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, dslab::logtype, "dslab: " fmt "\n", ##__VA_ARGS__)

/* Set rte_errno and return the negative value (for int-returning APIs). */
static inline int fail(int err) { rte_errno = err; return -err; }

/* ---- locks ------------------------------------------------------------ */
/*
 * Test-and-test-and-set spin lock that yields the CPU after a short spin:
 * lcores may share a core (--lcores 0@0,2@0), and spinning on a preempted
 * holder for a whole time slice is the dataplane's classic stall.
 */
class SpinLock {
public:
	void lock() noexcept
	{
		for (unsigned spins = 0;; spins++) {
			/* A1: pairs with R1 in unlock(). */
			if (!locked_.exchange(true, std::memory_order_acquire))
				return;
			while (locked_.load(std::memory_order_relaxed)) {
				if (spins++ < 64)
					rte_pause();
				else
					yield();
			}
		}
	}
	bool try_lock() noexcept
	{
		return !locked_.load(std::memory_order_relaxed) &&
		       !locked_.exchange(true, std::memory_order_acquire); /* A1 */
	}
	void unlock() noexcept { locked_.store(false, std::memory_order_release); /* R1 */ }

private:
	static void yield() noexcept { sched_yield(); }
	std::atomic<bool> locked_{false};
};

/* dslab_config.rcu_stall_ms: how often long waits log (rcu.cpp). */
uint64_t rcu_stall_ms();

/*
 * Operations under way, counted in one of two phases (as SRCU counts its
 * readers): a waiter (barriers, a cache's reap; one at a time) flips the
 * phase and waits for the old phase's count to drain, so operations that
 * begin after the flip cannot starve it. enter() counts in the phase it
 * read, then reads the phase again and moves to the new one if a flip came
 * in between (it may not have seen the count); all sequentially
 * consistent, so that an operation whose first access to shared state
 * (a list exchange, a ring dequeue) precedes a waiter's own access to it
 * is counted in the phase that waiter waits for. On a line of its own.
 */
struct alignas(RTE_CACHE_LINE_SIZE) PhaseCount {
	std::atomic<uint32_t> phase{0};
	std::atomic<uint32_t> n[2];
	std::mutex flips; /* flippers only */

	uint32_t enter() noexcept
	{
		uint32_t ph = phase.load(std::memory_order_seq_cst);
		for (;;) {
			n[ph & 1].fetch_add(1, std::memory_order_seq_cst);
			uint32_t again = phase.load(std::memory_order_seq_cst);
			if (again == ph)
				return ph & 1;
			n[ph & 1].fetch_sub(1, std::memory_order_release);
			ph = again;
		}
	}
	void exit(uint32_t i) noexcept { n[i].fetch_sub(1, std::memory_order_release); }
	/* Flip, then wait for the old phase; names the wait (what) in the log
	 * every rcu_stall_ms. One flipper at a time: a second flip while the first
	 * waits would move new entrants into the phase the first waits for,
	 * and leave the second waiting for the wrong one. */
	void flip_and_wait(const char *what)
	{
		std::lock_guard<std::mutex> one(flips);
		const uint64_t stall_ms = rcu_stall_ms();
		const uint32_t old = phase.fetch_add(1, std::memory_order_seq_cst) & 1;
		const uint64_t hz = rte_get_timer_hz(), start = rte_get_timer_cycles();
		uint64_t next_warn = start + stall_ms * hz / 1000;
		while (n[old].load(std::memory_order_seq_cst) != 0) {
			uint64_t now = rte_get_timer_cycles();
			if (now >= next_warn) {
				DSLAB_LOG(WARNING, "%s has lasted %" PRIu64 " ms", what,
					  (now - start) * 1000 / hz);
				next_warn = now + stall_ms * hz / 1000;
			}
			sched_yield();
		}
	}
};

template <class L> class Guard {
public:
	explicit Guard(L &l) noexcept : l_(l) { l_.lock(); }
	~Guard() { l_.unlock(); }
	Guard(const Guard &) = delete;
	Guard &operator=(const Guard &) = delete;

private:
	L &l_;
};

/* ---- stats ------------------------------------------------------------- */
enum Stat : unsigned {
#define DSLAB_STAT_ENUM_(name, doc) STAT_##name,
	DSLAB_STATS_FIELDS(DSLAB_STAT_ENUM_)
#undef DSLAB_STAT_ENUM_
	NR_STATS
};

/* Slow-path counters of one lcore; slot RTE_MAX_LCORE is shared by threads
 * with no lcore id and is updated with atomic adds. */
struct alignas(RTE_CACHE_LINE_SIZE) LcoreStats {
	uint64_t v[NR_STATS];
	/* The most allocations from the lcore's main read so far: written by
	 * the statistics' readers only (stats.cpp), on a line of its own. */
	alignas(RTE_CACHE_LINE_SIZE) uint64_t alloc_seen;
};

/* ---- re-entry marks and deferred frees (deferred.cpp) ------------------ */
/* Shared deferred list of threads with no lcore id. */
extern std::atomic<uintptr_t> g_deferred_nonlcore;
extern std::atomic<uint64_t> g_bad_count; /* report_bad() has work */
/* Do deferred frees: the lcore's own (lc valid) or the shared list. */
void deferred_run(unsigned lc);
/* Barrier: do every lcore's deferred frees and the shared list. */
void deferred_run_all();
/* Move the lcore's list to the shared one (an lcore leaving: any lcore's
 * dslab_quiescent() runs the shared list). */
void deferred_hand_to_shared(unsigned lc);
/* The lcore's own list as it is now, once (busy mark set, in a RunScope):
 * what is pushed meanwhile waits for the next safe point. */
void deferred_run_once(unsigned lc);
/* Barrier (serialized): wait for the runs of lists taken before, naming
 * a long one every rcu_stall_ms (hand-overs to the shared list included),
 * then take the shared list once more. */
void deferred_wait_runs();
/* A barrier is under way (begin before it asks any lcore): lcores leave
 * the shared list to it. */
void deferred_barrier_begin();
void deferred_barrier_end();
bool deferred_barrier_on();
/* The calling thread is inside a run of a deferred list. */
bool deferred_running_here();
/* A run of deferred frees (or a hand-over that a barrier must wait for as
 * for one), counted so that a barrier waits for it (deferred.cpp). */
class RunScope {
public:
	RunScope() noexcept;
	~RunScope();
	RunScope(const RunScope &) = delete;
	RunScope &operator=(const RunScope &) = delete;

private:
	uint32_t phase_;
};
/* Log the pointers nolock calls could not place (dslab_quiescent()). */
void report_bad();
/* Deferred frees wait: the lcore's own (lc valid) or the shared list. */
static inline bool deferred_pending(unsigned lc)
{
	return (lc < RTE_MAX_LCORE
		? __atomic_load_n(&dslab_lcores[lc].deferred, __ATOMIC_RELAXED)
		: g_deferred_nonlcore.load(std::memory_order_relaxed)) != 0;
}
static inline void deferred_poll(unsigned lc)
{
	if (unlikely(deferred_pending(lc)))
		deferred_run(lc);
}

/* The thread's busy mark (dslab_busy_) for a scope: dslab_enter_() and
 * dslab_leave_() of dslab_pcs.h, which save and restore it in here. */
class BusyMark {
public:
	BusyMark() noexcept : prev_(dslab_enter_()) {}
	~BusyMark() { dslab_leave_(prev_); }
	BusyMark(const BusyMark &) = delete;
	BusyMark &operator=(const BusyMark &) = delete;

private:
	uint32_t prev_;
};

/*
 * The mark for the scope of a dslab call that is not an inline fast path;
 * the outermost scope ends at a safe point and does the frees that *_nolock
 * calls deferred meanwhile. (A nolock call uses BusyMark alone: its end is
 * no safe point, it may be in a signal handler.)
 */
class BusyScope {
public:
	BusyScope() noexcept : lc_(rte_lcore_id()), prev_(dslab_enter_()) {}
	~BusyScope()
	{
		dslab_leave_(prev_);
		if (prev_ == 0)
			deferred_poll(lc_);
	}
	BusyScope(const BusyScope &) = delete;
	BusyScope &operator=(const BusyScope &) = delete;

private:
	unsigned lc_;
	uint32_t prev_;
};

/* ---- fault injection (fault.cpp): true when this attempt must fail -- */
bool fault_hit(dslab_fault_site site);
/* Race windows (dslab_race_hook_set()): a relaxed load when unset. */
extern std::atomic<dslab_race_hook_t> g_race_hook;
void race_call(dslab_race_hook_t fn, dslab_race_point p, unsigned arg);
inline void race_window(dslab_race_point p, unsigned arg)
{
	dslab_race_hook_t fn = g_race_hook.load(std::memory_order_acquire);
	if (unlikely(fn != nullptr))
		race_call(fn, p, arg);
}

/* ---- topology (topology.cpp) ------------------------------------------ */
int topo_init(const char *override_spec);
void topo_fini();
bool topo_overridden();
unsigned topo_socket_count();
bool topo_socket_valid(int socket);
int topo_lcore_socket(unsigned lcore);   /* a valid socket for any lcore id */
int topo_caller_socket();                /* the calling thread's socket;
					    async-signal-safe */
bool topo_socket_has_lcores(int socket);
int topo_numa_node(int socket);          /* NUMA node backing a socket, -1: none */
/* Whether the CPU has a write prefetch: x86 PREFETCHW (CPUID PRFCHW, which
 * -march=corei7 does not let the compiler assume); elsewhere
 * __builtin_prefetch(p, 1) is one. Read once. */
bool cpu_has_prefetchw();

/* ---- page map (pagemap.cpp) ------------------------------------------ */
struct Chunk;
bool pm_ready();
/* tag: DSLAB_PM_TAG(socket) for slabs; a bare socket for large regions, so
 * that the free fast path never takes them for a sheaf's object. */
void pm_set(uintptr_t base, size_t size, Chunk *chunk, uint32_t tag);
void pm_clear(uintptr_t base, size_t size);
/* NULL when dslab never mapped it. Inline: every slab free looks it up. */
static inline Chunk *pm_chunk(const void *addr)
{
	return reinterpret_cast<Chunk *>(dslab_pm_entry_(addr) & ~(uintptr_t)DSLAB_PM_TAG_MASK);
}

/* ---- memory source (memsrc.cpp) ------------------------------------- */
enum class Source : uint8_t { Dpdk, Mmap };
struct Region {
	void *base;
	size_t size;
	Source source;
};
void memsrc_init(enum dslab_mem_source mode, size_t chunk_size);
size_t chunk_size();
/* size: a multiple of chunk_size(); aligned to chunk_size(). */
bool memsrc_alloc(size_t size, int socket, Region *out);
void memsrc_free(const Region &r);
bool memsrc_can_release_pages(Source s);
void memsrc_release_pages(void *addr, size_t len);

/* ---- slabs (slab.cpp) -------------------------------------------------- */
struct Chunk;
struct Slab {
	Slab *prev, *next;   /* node partial list, when on_partial */
	Chunk *chunk;
	char *base;
	uint64_t *freemap;   /* bit per object: freed back into the slab (in the
			      * chunk descriptor, not in the objects: taking a
			      * free object reads no object memory) */
	uint32_t scan;       /* freemap words below this one are zero */
	uint32_t inuse;      /* objects outside the slab (sheaves or users) */
	uint32_t carved;     /* objects [0, carved) were handed out at least once
			      * since the slab was last empty */
	bool on_partial;
	bool active;         /* backed by memory and counted in the node: false
			      * after shrink gave its pages back, until reuse */
#if DSLAB_CHECKED
	std::atomic<uint64_t> *allocated; /* bit per object: in a user's hands */
#endif
};

struct Node;
struct alignas(64) Chunk {
	dslab_chunk_pub pub;         /* cache, NULL for a large region; first */
	dslab_cache_impl *impl;
	Node *node;
	Chunk *next;                 /* node's chunk list */
	Region region;
	size_t user_size;            /* large regions: size asked for */
	int socket;
	uint32_t slab_shift;
	uint32_t nslabs;
	uint32_t carved_slabs;       /* slabs [0, carved_slabs) set up */
	uint32_t busy_slabs;         /* slabs with inuse > 0 */
	Slab slabs[];
};

struct alignas(RTE_CACHE_LINE_SIZE) Node {
	SpinLock lock;
	int socket;
	Slab *partial;        /* slabs with free objects, empty ones included */
	Chunk *chunks;
	uint64_t inuse;       /* objects outside slabs */
	uint64_t nr_slabs;    /* active slabs */
	uint64_t bytes;       /* chunk bytes held, less pages given back */
	uint64_t released;    /* bytes given back so far (for shrink's return) */
	uint32_t nr_chunks;
	uint32_t idle_chunks; /* chunks with no busy slab (at most one kept) */
};

/* ---- barn (barn.cpp) ---------------------------------------------------- */
struct alignas(RTE_CACHE_LINE_SIZE) Barn {
	SpinLock lock;
	dslab_sheaf *full;
	dslab_sheaf *empty;
	uint32_t nr_full;
	uint32_t nr_empty;
	/* The sheaf that threads with no lcore id share (barn.cpp): its own
	 * line and lock, taken before the barn's and the node's. */
	alignas(RTE_CACHE_LINE_SIZE) SpinLock shared_lock;
	dslab_sheaf *shared;
};

} // namespace dslab

/* ---- cache ------------------------------------------------------------- */
struct dslab_cache_impl {
	char name[DSLAB_NAME_SIZE];
	uint32_t obj_size;       /* stride, a multiple of align */
	uint32_t size;           /* usable bytes: the stride, less the redzone of
				    checked builds */
	uint32_t align;
	uint32_t capacity;       /* sheaf capacity, 0: no sheaves */
	uint32_t max_full, max_empty;
	uint32_t flags;
	uint32_t slab_shift;
	uint32_t objs_per_slab;
	uint32_t map_words;      /* freemap words per slab */
	uint64_t recip;          /* ceil(2^42 / obj_size): offset -> index */
	bool kmalloc;            /* a kmalloc size class (not user visible) */
	dslab_cache *pub;
	dslab_cache_impl *next;  /* registry, creation order */
	dslab::Node *node[RTE_MAX_NUMA_NODES];
	dslab::Barn *barn[RTE_MAX_NUMA_NODES];
	dslab::LcoreStats *stats; /* [RTE_MAX_LCORE + 1] */
	bool dying;              /* reap begun (atomic; cache_dying()): remote
				    drains put its objects into slabs, not
				    sheaves */
};

namespace dslab {

/* The cache is being reaped, or kept after a leak (remote_reap_begin()). */
static inline bool cache_dying(const dslab_cache_impl *c) noexcept
{
	return __atomic_load_n(&c->dying, __ATOMIC_RELAXED);
}

/* Counter updates: plain per lcore, atomic for threads with no lcore id. */
static inline void stat_add(dslab_cache_impl *c, unsigned lc, Stat s, uint64_t n) noexcept
{
	if (lc < RTE_MAX_LCORE) {
		uint64_t &v = c->stats[lc].v[s];
		__atomic_store_n(&v, v + n, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&c->stats[RTE_MAX_LCORE].v[s], n, __ATOMIC_RELAXED);
	}
}

/* Object index inside its slab, or UINT32_MAX for an interior pointer. */
static inline uint32_t obj_index(const dslab_cache_impl *c, const Chunk *ch, const void *obj)
{
	uintptr_t off = ((uintptr_t)obj - (uintptr_t)ch->region.base) &
			(((uintptr_t)1 << c->slab_shift) - 1);
	uint32_t idx = (uint32_t)((off * c->recip) >> 42);

	if ((uintptr_t)idx * c->obj_size != off || idx >= c->objs_per_slab)
		return UINT32_MAX;
	return idx;
}

static inline Slab *slab_of(Chunk *ch, const void *obj)
{
	return &ch->slabs[((uintptr_t)obj - (uintptr_t)ch->region.base) >> ch->slab_shift];
}

/* slab.cpp: all take and release Node::lock themselves. */
unsigned node_alloc(dslab_cache_impl *c, int socket, unsigned n, void **objs);
/* Never waits: try-locks the node and takes only objects of slabs it has
 * (no new chunk; checked builds carve no new slab). 0: none. */
unsigned node_alloc_try(dslab_cache_impl *c, int socket, unsigned n, void **objs);
void node_free(dslab_cache_impl *c, int socket, unsigned n, void *const *objs);
/* Never waits: false when the node's lock is taken. Keeps chunks that
 * become idle (giving memory back is a system call). */
bool node_free_try(dslab_cache_impl *c, int socket, void *obj);
void node_shrink(dslab_cache_impl *c, int socket);
/* Bytes the node gave back to the memory source so far (shrink's return). */
uint64_t node_released(dslab_cache_impl *c, int socket);
/* Destroy: free every chunk; returns objects still in use (leaks kept). */
uint64_t node_destroy(dslab_cache_impl *c, int socket);
Node *node_create(int socket);

/* barn.cpp */
dslab_sheaf *sheaf_alloc(dslab_cache_impl *c, unsigned lc, int socket, uint32_t capacity);
void sheaf_free(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s);
void sheaf_flush(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s);
bool sheaf_refill(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s, uint32_t want);
dslab_sheaf *barn_get_full(dslab_cache_impl *c, unsigned lc, int socket);
dslab_sheaf *barn_get_empty(dslab_cache_impl *c, unsigned lc, int socket);
dslab_sheaf *barn_replace_empty(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *empty);
bool barn_replace_full(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *full,
		       dslab_sheaf **empty);
dslab_sheaf *barn_exchange_try(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *empty);
dslab_sheaf *barn_exchange_empty_try(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *full);
bool barn_put_full(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s);
/* Keeps an empty sheaf in the barn or frees it. */
void barn_put_empty(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s);
/* Flush every full sheaf and free every empty one. */
void barn_drain(dslab_cache_impl *c, int socket);
/* Threads with no lcore id, caches with sheaves: the socket's shared sheaf.
 * shared_alloc: n objects or 0 (nothing taken). shared_flush: its objects
 * to the slabs, the sheaf freed (shrink, destroy). */
unsigned shared_alloc(dslab_cache_impl *c, int socket, unsigned n, void **objs);
void shared_free(dslab_cache_impl *c, int socket, unsigned n, void *const *objs);
void shared_flush(dslab_cache_impl *c, int socket);
Barn *barn_create();

/* pcs.cpp */
void pcs_flush(dslab_cache_impl *c, unsigned lc);
/* Main and spare trade places (pointers only: nothing that could wait). */
void swap_main_spare(dslab_cache_impl *c, dslab_pcs *p, unsigned lc);
/* kmalloc_nolock on an lcore set up and not busy (its own mark held): an
 * object from main's far end, the spare, or a full sheaf of the barn made
 * the spare if the barn's lock is free; NULL when none is to be had
 * without waiting. Never main's near end (a fast path it interrupted may
 * be using it). */
void *nolock_pcs_alloc(dslab_cache_impl *c, dslab_pcs *p, unsigned lc);
/* kfree_nolock of a local object on such an lcore: main's far end, the
 * spare if it has room, or an empty sheaf of the barn made the spare in
 * exchange for a full one if the barn's lock is free; false if none could
 * take it. */
bool nolock_pcs_free(dslab_cache_impl *c, dslab_pcs *p, unsigned lc, void *obj);
/* Move main's far end (nolock frees) down onto its near end (busy). */
void pcs_settle_main(dslab_pcs *p);
/* Set the lcore's sheaves up on first use; false: no sheaves to be had. */
bool pcs_ready(dslab_cache_impl *c, dslab_pcs *p, unsigned lc);
void *hand_out(dslab_cache_impl *c, void *obj, unsigned flags);
/* A remote free of the lcore's socket came home: into its main sheaf, not
 * counted as a free (it was, when sent). False: no sheaves. */
bool pcs_take_home(dslab_cache_impl *c, unsigned lc, void *obj);
bool valid_cache(const dslab_cache *cache);

/* cache.cpp */
dslab_cache *cache_create(const char *name, size_t size, const dslab_cache_args *args, bool kmalloc);
/* Unlink from the registry (name and telemetry entry go at once). */
bool cache_unlink(dslab_cache_impl *c);
/* Flush every lcore's sheaves and the barns, report leaks, free. */
void cache_reap(dslab_cache_impl *c);
bool initialised();
/* The caller is inside a dslab_cache_walk() callback, which holds the
 * registry: fn is refused there (logged, rte_errno = EDEADLK) rather than
 * deadlock on that lock or wait for a grace period under it. */
bool refused_in_walk(const char *fn);
/* Inside a walk callback (no log): a soft wait is skipped there. */
bool in_walk();
void registry_lock();
void registry_unlock();
dslab_cache_impl *registry_first();

/* kmalloc.cpp */
int kmalloc_init();
dslab_cache *kmalloc_class(size_t size); /* size <= DSLAB_KMALLOC_MAX_SIZE */
void kmalloc_fini();
void *large_alloc(size_t size, unsigned flags, int socket);
void large_free(Chunk *ch, const void *obj);

/* rcu.cpp */
int rcu_init(uint64_t flush_us, uint64_t stall_ms);
void rcu_fini();
/* An lcore stops: submit and hand over its rcu work, take it offline. */
void rcu_lcore_gone(unsigned lc);
/* An lcore id is released (thread unregistered, EAL cleanup): as gone, and
 * its per-thread settings (dslab_rcu_set_max_pending()) are reset. */
void rcu_lcore_uninit(unsigned lc);
/* A pcs is flushed: its rcu sheaf is freed, or submitted if not empty. */
void rcu_pcs_gone(dslab_cache_impl *c, unsigned lc);
bool cache_rcu_busy(dslab_cache_impl *c);
bool rcu_caller_online();
/* Online in the QSBR variable, through dslab or directly (caller_in_qsbr()). */
bool rcu_caller_in_qsbr();
/* kfree_rcu of an object already verified (a deferred kfree_rcu_nolock). */
void rcu_free_verified(void *obj, dslab_rcu_head *head);
/* dslab_deferred_barrier(): the rcu barrier's hand-over, no grace period. */
void rcu_deferred_barrier();
/* A kfree_rcu_nolock of another socket's object came home by ring (a
 * deferred free, done now): into kfree_rcu's fallback batches. Never calls
 * service(): drains run inside slow paths. */
void rcu_take_home(void *obj, dslab_rcu_head *head, unsigned lc);

/* remote.cpp: objects of another socket go home by ring batches. */
int remote_init(uint32_t mode, uint32_t ring_size);
void remote_fini();
/* An lcore frees an object of another socket: false when it must go
 * straight to that socket's slabs (direct mode, no ring, no lcore there). */
bool remote_send(dslab_cache_impl *c, unsigned lc, void *obj, int socket);
/* kfree_rcu_nolock of another socket's object: head (head->obj set) into
 * the lcore's batch for the socket of page-map tag, tagged as an rcu entry.
 * may_send false (a nolock call): only if that does not fill the batch, as
 * sending may wait for other producers or take a lock. False: not sent. */
bool remote_send_rcu(unsigned lc, uintptr_t tag, dslab_rcu_head *head, bool may_send);
/* Send the lcore's partly filled batches. */
void remote_flush(unsigned lc);
/* Lcore id lc is released (lcore_uninit()): send its batches and disarm
 * them, for the next thread given the id to arm for its own socket. */
void remote_lcore_release(unsigned lc);
/* Take up to max objects home from the socket's ring into its slabs. */
unsigned remote_drain(int socket, unsigned lc, unsigned max);
/* Take home what every ring holds now (barriers, fini). */
void remote_drain_all(unsigned lc);
bool remote_waiting(int socket);
/* Lcore lc (an lcore id) has no partly filled batch and its socket's ring
 * is empty: a hint, for dslab_quiescent()'s idle path. */
bool remote_idle(unsigned lc);
/* Barrier, reap: wait for drains that dequeued objects and still place
 * them, and for sends into the slabs, naming a long one every
 * rcu_stall_ms. */
void remote_drain_wait();
/* A reap of cache c begins (cache_reap()): from the return on, no drain
 * puts c's objects into sheaves (they go to c's slabs), so the reap owns
 * c's sheaves. Late arrivals: remote.cpp. */
void remote_reap_begin(dslab_cache_impl *c);
void rcu_barrier_on(dslab_cache_impl *c);
/* Start the reaper thread if it does not run: 0 or -errno (the cache must
 * not be unlinked then). destroy_async() hands it an unlinked cache. */
int reaper_start();
void destroy_async(dslab_cache_impl *c);

/* stats.cpp */
void stats_read(const dslab_cache_impl *c, struct dslab_cache_stats *s);
void telemetry_init();

/* checked.cpp */
#if DSLAB_CHECKED
bool checked_slab_init(const dslab_cache_impl *c, Slab *s);
void checked_slab_fini(Slab *s);
/* Poison every object of a new slab and write the redzones. */
void checked_slab_poison(const dslab_cache_impl *c, Slab *s);
/* kfree_rcu of an object: verify and mark it free, without poisoning it
 * (readers may still look at it). */
bool checked_rcu_free(dslab_cache_impl *c, const void *obj);
/* A kfree_rcu that could not take the object (it stays the caller's). */
void checked_rcu_unfree(const void *obj);
/* Its grace period is over: poison it (checked at its next allocation). */
void checked_poison(const dslab_cache_impl *c, void *obj);
#endif
bool report_foreign(const char *what, const void *obj);

} // namespace dslab

#endif /* DSLAB_INTERNAL_H */
