/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_PCS_H
#define DSLAB_PCS_H

/**
 * @file
 * Per-lcore sheaves: the layout the inline fast paths need, and the fast
 * paths themselves. Include dslab.h, not this file. The structures here are
 * not API: only the functions are.
 *
 * Fast-path budget (mimalloc style): alloc is one TLS read, one cache line of
 * the lcore's own (struct dslab_pcs), one load from the sheaf; free adds one
 * page-map load to learn the object's socket. kfree_rcu stores into the
 * pcs's second line and write-prefetches an object of main
 * (DSLAB_RCU_PREFETCH_AHEAD). A free of another socket's
 * object (ring mode) appends it to the lcore's batch for that socket
 * (struct dslab_remote_lcore: a line of slot pointers and a slot line,
 * and the counter on the pcs's second line, all the lcore's own). No atomic
 * read-modify-write, no fence, no lock. Everything else returns into a
 * *_slow() function.
 *
 * Invariant: an lcore's sheaves hold only objects of that lcore's socket
 * (the free fast path compares the page-map tag with pcs.socket_tag).
 *
 * Re-entry (a *_nolock call from a signal handler that interrupted a fast
 * path on the same thread): the single-object fast paths (alloc, free,
 * kfree_rcu) take no mark. They use the near end of a sheaf only: slots
 * below main_size (rcu_size), which a nolock call never writes, never
 * reads and never moves. A nolock call uses the far end, slots from
 * main_top (capacity - rcu_nl) up, and only while it leaves the slot at
 * main_size (rcu_size) and the one above it free, so that a fast path it
 * interrupted between its load of the size and its store of the new one
 * touches no slot the call used; it lowers the bound the fast paths read
 * afresh (main_top, rcu_limit). The bulk fast paths take no mark either: a
 * bulk alloc reads only slots below main_size; a bulk free first claims
 * its slots by raising main_size, then loads main_top again (a nolock free
 * may have come in between), and gives the claim back if it must go out of
 * line. The slow paths and the remote batch mark the thread busy
 * (dslab_busy_, as the kernel's local_trylock_t marks its owner); a nolock
 * call that finds the mark set touches no sheaf. A slow path first moves
 * the far end down to the near end (pcs_settle_main(), rcu_settle()).
 * Marks on the fast paths were 4 of the 10 stores of a retire in
 * dslab_kfree_rcu_bench, which waits on its stores (bench/RESULTS.md,
 * "kfree_rcu").
 *
 * Counters: a free stores its counter (free_cpu_sheaf), an alloc stores
 * none. The allocations from main are alloc_base + free_cpu_sheaf -
 * main_size: every change of main_size other than an alloc or a free (a new
 * main, a refill, a flush, the far end moved down) moves alloc_base by as
 * much, inside the seqcount main_seq (stats.cpp reads the three). A free
 * stores main_size before its counter (a release store, which on x86 is a
 * plain one), so that a reader, which loads the counter first, may count
 * frees in flight short but never an allocation that has not happened.
 */

#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_lcore.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks for functions on the fast path and out of line (snmalloc style). */
#define DSLAB_FAST_PATH __rte_always_inline
#define DSLAB_SLOW_PATH __rte_noinline __rte_cold

/** Page-map granule: every chunk is a multiple of it and aligned to it. */
#define DSLAB_PM_SHIFT 21
/** Tag bits of a page-map entry: DSLAB_PM_VALID | socket. */
#define DSLAB_PM_TAG_MASK 63u
#define DSLAB_PM_VALID 32u
#define DSLAB_PM_TAG(socket) (DSLAB_PM_VALID | (uint32_t)(socket))

/**
 * The page map: entry i describes the granule at address i << DSLAB_PM_SHIFT.
 * An entry is 0 (not dslab memory) or a chunk descriptor address (64-byte
 * aligned) or'ed with its tag. Entries are published with release stores
 * before any object of the chunk is handed out.
 */
struct dslab_pagemap {
	uintptr_t *map;
	uintptr_t nentries; /**< 0 when the map could not be reserved */
};
extern struct dslab_pagemap dslab_pagemap;

/** The part of a chunk descriptor the fast path reads. */
struct dslab_chunk_pub {
	struct dslab_cache *cache; /**< NULL: a large (kvmalloc) region */
};

/** A sheaf: header and an array of free objects. */
struct dslab_sheaf {
	struct dslab_sheaf *next; /**< link in a barn or rcu pending list */
	uint32_t size;            /**< objects held (stale while main or rcu_free) */
	uint32_t capacity;        /**< slots in objects[] */
	int32_t socket;           /**< socket whose objects it holds */
	uint32_t oversize;        /**< a prefilled sheaf above the cache capacity */
	/* rcu sheaves only (rcu.cpp) */
	struct dslab_cache_impl *cache; /**< owner, for per-lcore lists */
	uint64_t token;           /**< QSBR token once submitted */
	uint64_t since;           /**< TSC of its first object */
	struct dslab_sheaf *open_prev, *open_next; /**< lcore's open list */
	void *objects[];
};

/**
 * One lcore's sheaves of one cache: two cache lines, written only by its
 * lcore (and by destroy, which runs with no concurrent user). The first is
 * all that alloc and free touch; the second is kfree_rcu's.
 */
struct dslab_pcs {
	void **main_objs;     /**< main->objects */
	/** Objects at main's near end; authoritative while main. Stored with
	 *  relaxed atomic stores: the statistics read it (see top). */
	uint32_t main_size;
	uint32_t capacity;    /**< sheaf capacity, 0 until the lcore is set up */
	uint32_t socket_tag;  /**< DSLAB_PM_TAG(lcore's socket), 0 until set up */
	uint16_t zero;        /**< DSLAB_F_ZERO when the cache zeroes objects */
	/** dslab_kfree_rcu() write-prefetches an object of main while main
	 *  holds more than DSLAB_RCU_PREFETCH_AHEAD + prefetch_off: 0 where
	 *  the CPU has a write prefetch (x86: PREFETCHW), else 0xffff, more
	 *  than a main sheaf ever holds (DSLAB_SHEAF_CAPACITY_MAX) */
	uint16_t prefetch_off;
	struct dslab_sheaf *main;
	struct dslab_sheaf *spare;    /**< NULL, or a sheaf holding any number */
	/** With free_cpu_sheaf and main_size, the allocations from main
	 *  (see top); moved only inside main_seq. */
	uint64_t alloc_base;
	uint64_t free_cpu_sheaf;      /**< counter, read with relaxed loads */
	/** main's far end: slots main_top..capacity-1 hold objects a nolock
	 *  call freed; the free fast path pushes while main_size < main_top.
	 *  0 until the lcore is set up. Written by nolock calls (and slow
	 *  paths), so the fast paths load it with an atomic load each time. */
	uint32_t main_top;
	/** Seqcount of alloc_base (odd while a slow path moves it). */
	uint32_t main_seq;
	/* second line: the rcu sheaf (rcu.cpp) */
	void **rcu_objs __rte_cache_aligned; /**< rcu_free->objects */
	uint32_t rcu_size;    /**< objects at the near end of rcu_free; authoritative */
	/** fast path while rcu_size < rcu_limit, 0: slow; lowered by a nolock
	 *  call that fills the far end, so the fast path loads it afresh. */
	uint32_t rcu_limit;
	struct dslab_sheaf *rcu_free; /**< batching kfree_rcu, or NULL */
	/** Counter of the objects of this lcore's submitted rcu sheaves: with
	 *  rcu_size, stat free_rcu_sheaf, so that kfree_rcu() stores no counter
	 *  of its own (one store fewer per object); a submit moves rcu_size
	 *  into it inside rcu_seq, odd meanwhile (a seqcount for readers). */
	uint64_t free_rcu_sheaf;
	/** Counter of the inline remote free: on the lcore's own line, not
	 *  behind cache->impl->stats (two more dependent loads). */
	uint64_t free_remote_ring;
	uint32_t rcu_seq; /**< see free_rcu_sheaf */
	/** Objects kfree_rcu_nolock put at the far end of rcu_free (its last
	 *  rcu_nl slots); counted in free_rcu_sheaf as rcu_size is. */
	uint32_t rcu_nl;
	uint64_t free_nolock; /**< counter of kfree_nolock into main's far end */
} __rte_cache_aligned;

/** Objects per remote-free batch: one rte_ring enqueue sends them home.
 *  Large, because an enqueue costs the sender a few cache-line transfers
 *  (the ring's head and tail, and slot lines the write prefetch has not
 *  brought yet) when a transfer between the lcores takes 200 ns: in that
 *  state a remote free cost 3.7 ns in batches of 128, 3.0-3.3 in batches of
 *  256, 3.0-3.1 in batches of 512, against 1.6 for a local free
 *  (bench/RESULTS.md, "Remote frees and the nolock calls"). 2 KiB per lcore and
 *  remote socket. */
#define DSLAB_REMOTE_BATCH 256

/**
 * One lcore's remote-free batches (remote.cpp), reachable from the inline
 * free. A batch per socket, objs[socket], aligned to its size and filled
 * downwards: next[tag] is the slot the next object of the socket whose
 * page-map tag is tag goes into, so the batch holds the slots above it,
 * and next[tag] is slot 0 (aligned) when one object is missing: that last
 * one goes out of line, which sends the batch. next[tag] is NULL (also
 * aligned) for every tag this lcore does not batch: its own socket, a
 * socket without a ring, direct mode, tags of large regions and of foreign
 * pointers, before dslab_init(), and every tag until the lcore's first
 * batched free arms its batches (out of line, for the socket it runs on
 * then); zeroed memory is "off". Written by its lcore only, under its busy
 * mark (and by init, fini and the lcore uninit callback, when it cannot
 * run).
 */
struct dslab_remote_lcore {
	void **next[DSLAB_PM_TAG_MASK + 1];
	void *objs[DSLAB_PM_VALID][DSLAB_REMOTE_BATCH]
		__rte_aligned(DSLAB_REMOTE_BATCH * sizeof(void *));
} __rte_cache_aligned;
extern struct dslab_remote_lcore dslab_remote_lcores[RTE_MAX_LCORE];

/**
 * Nonzero while a dslab call that writes per-lcore state runs on this
 * thread: a *_nolock call (a signal handler, a nested call) that finds it
 * set leaves the lcore's sheaves alone. Thread-local, initial-exec: one
 * %fs-relative store to set, async-signal-safe to read.
 */
extern __thread uint32_t dslab_busy_ __attribute__((tls_model("initial-exec")));

/** An lcore's deferred frees, on a line of its own. */
struct dslab_lcore {
	/** Frees a *_nolock call deferred (a lock-free list; 0: none), done at
	 *  the lcore's next safe point, or taken by a barrier. Updated with
	 *  atomic operations. */
	uintptr_t deferred;
} __rte_cache_aligned;
extern struct dslab_lcore dslab_lcores[RTE_MAX_LCORE];

/** Out of line: dslab_kfree_nolock()'s other cases (dslab_nolock.h). */
void dslab_kfree_nolock_slow(const void *obj);

/*
 * Mark the lcore busy around the remote batch (the other fast paths need
 * no mark: see the top of this file); a handler runs on this thread, so
 * ordering against it needs only the compiler's cooperation (signal
 * fences). In an application these never nest (they leave before calling
 * out of line): two plain stores. Inside the library (DSLAB_LIB_INTERNAL_)
 * one may run within a slow path, so the mark is saved and restored.
 * Deferred frees are done by the slow paths and dslab_quiescent(), not
 * here.
 */
static DSLAB_FAST_PATH uint32_t
dslab_enter_(void)
{
#ifdef DSLAB_LIB_INTERNAL_
	uint32_t prev = __atomic_load_n(&dslab_busy_, __ATOMIC_RELAXED);
#else
	const uint32_t prev = 0;
#endif
	__atomic_store_n(&dslab_busy_, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return prev;
}

static DSLAB_FAST_PATH void
dslab_leave_(uint32_t prev)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&dslab_busy_, prev, __ATOMIC_RELAXED);
}

/** An object cache: a read-mostly line, then one line per lcore. */
struct dslab_cache {
	uint32_t obj_size; /**< usable bytes of an object */
	uint32_t flags;
	struct dslab_cache_impl *impl;
	struct dslab_pcs pcs[RTE_MAX_LCORE] __rte_cache_aligned;
};

/** kmalloc caches by size for sizes 1..DSLAB_KMALLOC_FAST_MAX, index (size-1)>>3. */
#define DSLAB_KMALLOC_FAST_MAX 1024u
extern struct dslab_cache *dslab_kmalloc_fast[DSLAB_KMALLOC_FAST_MAX / 8];

#if DSLAB_CHECKED
/* Checked builds: verify ownership and allocation state (out of line). */
int dslab_check_free_(struct dslab_cache *cache, const void *obj);
void dslab_check_alloc_(struct dslab_cache *cache, void *obj);
#endif

/** Relaxed counter increment: a plain load/add/store, readable by others. */
#define DSLAB_STAT_ADD_(field, n) \
	__atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
/** The same, ordered after the stores before it: free_cpu_sheaf (see top). */
#define DSLAB_STAT_ADD_REL_(field, n) \
	__atomic_store_n(&(field), (field) + (n), __ATOMIC_RELEASE)

static DSLAB_FAST_PATH uintptr_t
dslab_pm_entry_(const void *obj)
{
	uintptr_t i = (uintptr_t)obj >> DSLAB_PM_SHIFT;

	if (unlikely(i >= dslab_pagemap.nentries))
		return 0;
	return __atomic_load_n(&dslab_pagemap.map[i], __ATOMIC_ACQUIRE);
}

static DSLAB_FAST_PATH void *
dslab_alloc_finish_(struct dslab_cache *cache, void *obj, unsigned flags)
{
#if DSLAB_CHECKED
	if (obj != NULL)
		dslab_check_alloc_(cache, obj);
#endif
	if (unlikely((flags & DSLAB_F_ZERO) && obj != NULL))
		memset(obj, 0, cache->obj_size);
	return obj;
}

/**
 * Allocate an object from a cache.
 *
 * @param cache the cache.
 * @param flags DSLAB_F_* (0: defaults).
 * @return the object, or NULL with rte_errno: EINVAL (NULL cache), ENOMEM.
 * Thread safety: any thread; on an lcore, its own sheaves serve it.
 */
static DSLAB_FAST_PATH void *
dslab_alloc(struct dslab_cache *cache, unsigned flags)
{
	unsigned lc = rte_lcore_id();

	if (likely(lc < RTE_MAX_LCORE && cache != NULL)) {
		struct dslab_pcs *p = &cache->pcs[lc];
		uint32_t n = p->main_size;

		/* No mark: the near end is the fast paths' own (see top). */
		if (likely(n != 0)) {
			void *obj = p->main_objs[n - 1];

			/* Counted by main_size (see top). */
			__atomic_store_n(&p->main_size, n - 1, __ATOMIC_RELAXED);
			return dslab_alloc_finish_(cache, obj, flags | p->zero);
		}
	}
	return dslab_alloc_finish_(cache, dslab_alloc_slow(cache, flags),
				   flags | (cache ? cache->flags & DSLAB_F_ZERO : 0));
}

/* Free with the page-map entry already read. */
static DSLAB_FAST_PATH void
dslab_free_entry_(struct dslab_cache *cache, void *obj, uintptr_t e)
{
	unsigned lc = rte_lcore_id();

	if (likely(lc < RTE_MAX_LCORE)) {
		struct dslab_pcs *p = &cache->pcs[lc];
		uint32_t n = p->main_size;
		uintptr_t t = e & DSLAB_PM_TAG_MASK;

		if (likely(t == p->socket_tag)) {
			/* No mark: below main_top the slots are ours (see top). */
			if (likely(n < __atomic_load_n(&p->main_top, __ATOMIC_RELAXED))) {
				p->main_objs[n] = obj;
				__atomic_store_n(&p->main_size, n + 1, __ATOMIC_RELAXED);
				DSLAB_STAT_ADD_REL_(p->free_cpu_sheaf, 1);
				return;
			}
		} else {
			/* Another socket's object: into this lcore's batch
			 * for its home (ring mode). The batch's last slot,
			 * which sends it, and tags not batched (NULL) go out
			 * of line. Like the local push, this trusts
			 * that obj is one of cache's (checked builds verify
			 * it); the batch itself goes by the page map. */
			struct dslab_remote_lcore *r = &dslab_remote_lcores[lc];
			uint32_t prev = dslab_enter_();
			void **q = r->next[t];

			if (likely((uintptr_t)q % (DSLAB_REMOTE_BATCH * sizeof(void *)) != 0)) {
				*q = obj;
				r->next[t] = q - 1;
				DSLAB_STAT_ADD_(p->free_remote_ring, 1);
				dslab_leave_(prev);
				return;
			}
			dslab_leave_(prev);
		}
		dslab_free_other_(cache, obj, e);
		return;
	}
	dslab_free_slow(cache, obj);
}

/**
 * Free an object to its cache. NULL is a no-op. An object of another socket
 * goes home, never into the caller's sheaves. A pointer dslab never handed
 * out is reported in the log and not followed.
 *
 * @param cache the cache the object was allocated from.
 * @param obj the object, or NULL.
 * Thread safety: any thread.
 */
static DSLAB_FAST_PATH void
dslab_free(struct dslab_cache *cache, void *obj)
{
#if DSLAB_CHECKED
	if (obj == NULL || !dslab_check_free_(cache, obj))
		return;
#endif
	if (unlikely(cache == NULL)) {
		dslab_free_slow(cache, obj);
		return;
	}
	dslab_free_entry_(cache, obj, dslab_pm_entry_(obj));
}

/**
 * Allocate @p n objects, all or nothing.
 *
 * @param cache the cache.
 * @param flags DSLAB_F_* (0: defaults).
 * @param n number of objects.
 * @param objs array of at least @p n slots.
 * @return @p n, or 0 with rte_errno (EINVAL, ENOMEM) and nothing allocated.
 * Thread safety: any thread.
 */
static DSLAB_FAST_PATH unsigned
dslab_alloc_bulk(struct dslab_cache *cache, unsigned flags, unsigned n,
		 void **objs)
{
	unsigned lc = rte_lcore_id();

	if (likely(lc < RTE_MAX_LCORE && cache != NULL && n != 0 &&
		   (flags | cache->flags | DSLAB_CHECKED) == 0)) {
		struct dslab_pcs *p = &cache->pcs[lc];
		uint32_t size = p->main_size;

		/* No mark: like dslab_alloc(), it reads only slots below
		 * main_size, which a nolock call leaves alone (see top). */
		if (likely(size >= n)) {
			void **src = &p->main_objs[size - n];
			unsigned i;

			/* Inline, not a libc call: bursts are short. */
			for (i = 0; i < n; i++)
				objs[i] = src[i];
			__atomic_store_n(&p->main_size, size - n, __ATOMIC_RELAXED);
			return n;
		}
	}
	return dslab_alloc_bulk_slow(cache, flags, n, objs);
}

/**
 * Free @p n objects (NULL entries are skipped).
 * Thread safety: any thread.
 */
static DSLAB_FAST_PATH void
dslab_free_bulk(struct dslab_cache *cache, unsigned n, void **objs)
{
	unsigned lc = rte_lcore_id();

	if (likely(lc < RTE_MAX_LCORE && cache != NULL && n != 0 && !DSLAB_CHECKED)) {
		struct dslab_pcs *p = &cache->pcs[lc];
		const uint32_t size = p->main_size, end = size + n;

		/* No mark: the burst claims its slots first by raising
		 * main_size, above which a nolock call then stays, and checks
		 * main_top again after the claim, for a nolock free that came
		 * between the first check and the claim (see top). */
		if (likely(end <= __atomic_load_n(&p->main_top, __ATOMIC_RELAXED))) {
			__atomic_store_n(&p->main_size, end, __ATOMIC_RELAXED);
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			if (likely(end <= __atomic_load_n(&p->main_top, __ATOMIC_RELAXED))) {
				/* Any NULL, foreign or remote object sends the whole
				 * burst to the slow path, which sorts it out object by
				 * object; the claim is given back first. */
				const uintptr_t tag = p->socket_tag;
				const uintptr_t lim = dslab_pagemap.nentries;
				const uintptr_t *map = dslab_pagemap.map;
				const uintptr_t first = (uintptr_t)objs[0] >> DSLAB_PM_SHIFT;
				void **dst = &p->main_objs[size];
				uintptr_t bad = 0, diff = 0;
				unsigned i;

				/* A burst mostly comes from one chunk: one branch-free
				 * pass copies the burst into the claimed slots (no
				 * other code reads them) and proves it; then one map
				 * entry checks them all. */
				for (i = 0; i < n; i++) {
					dst[i] = objs[i];
					diff |= ((uintptr_t)objs[i] >> DSLAB_PM_SHIFT) ^ first;
				}
				if (likely(diff == 0)) {
					i = first < lim ? n : 0;
					if (likely(i == n)) {
						uintptr_t e0 = __atomic_load_n(&map[first],
									       __ATOMIC_ACQUIRE);

						bad = (e0 & DSLAB_PM_TAG_MASK) ^ tag;
					}
				} else {
					for (i = 0; i < n; i++) {
						uintptr_t x = (uintptr_t)objs[i] >> DSLAB_PM_SHIFT;

						if (unlikely(x >= lim))
							break;
						bad |= (__atomic_load_n(&map[x], __ATOMIC_ACQUIRE) &
							DSLAB_PM_TAG_MASK) ^ tag;
					}
				}
				if (likely(i == n && bad == 0)) {
					DSLAB_STAT_ADD_REL_(p->free_cpu_sheaf, n);
					return;
				}
			}
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			__atomic_store_n(&p->main_size, size, __ATOMIC_RELAXED);
		}
	}
	dslab_free_bulk_slow(cache, n, objs);
}

/**
 * Allocate @p size bytes from the kmalloc size classes (above
 * DSLAB_KMALLOC_MAX_SIZE: a large region).
 * @return memory or NULL with rte_errno: EINVAL (size 0, not initialised),
 *   ENOMEM.
 * Thread safety: any thread.
 */
static DSLAB_FAST_PATH void *
dslab_kmalloc(size_t size, unsigned flags)
{
	if (likely(size - 1 < DSLAB_KMALLOC_FAST_MAX)) {
		struct dslab_cache *c = dslab_kmalloc_fast[(size - 1) >> 3];

		if (likely(c != NULL))
			return dslab_alloc(c, flags);
	}
	return dslab_kmalloc_slow(size, flags, -1);
}

/** dslab_kmalloc() with DSLAB_F_ZERO. */
static DSLAB_FAST_PATH void *
dslab_kzalloc(size_t size, unsigned flags)
{
	return dslab_kmalloc(size, flags | DSLAB_F_ZERO);
}

/**
 * Free memory from any dslab allocator: kmalloc, kvmalloc or a cache (the
 * cache is found from the address alone, in O(1)). NULL is a no-op; a
 * pointer dslab never handed out is reported and not followed.
 * Thread safety: any thread.
 */
static DSLAB_FAST_PATH void
dslab_kfree(const void *obj)
{
	uintptr_t e = dslab_pm_entry_(obj);

	if (likely(e != 0)) {
		struct dslab_cache *c =
			((const struct dslab_chunk_pub *)(e & ~(uintptr_t)DSLAB_PM_TAG_MASK))->cache;

		if (likely(c != NULL)) {
#if DSLAB_CHECKED
			if (!dslab_check_free_(c, obj))
				return;
#endif
			dslab_free_entry_(c, (void *)(uintptr_t)obj, e);
			return;
		}
	}
	dslab_kfree_slow(obj);
}

/*
 * A nolock free into main's far end (the caller holds the busy mark and has
 * checked that obj is local): slot main_top - 1, as long as it leaves free
 * the slot at main_size, which a fast path it interrupted may be about to
 * write, and the one above it (see top). 0: no room.
 */
static DSLAB_FAST_PATH int
dslab_far_push_(struct dslab_pcs *p, void *obj)
{
	const uint32_t n = p->main_size, top = p->main_top;

	if (unlikely(n + 1 >= top))
		return 0;
	p->main_objs[top - 1] = obj;
	__atomic_store_n(&p->main_top, top - 1, __ATOMIC_RELAXED);
	DSLAB_STAT_ADD_(p->free_nolock, 1);
	return 1;
}

/**
 * Free anything dslab handed out without waiting: see dslab_nolock.h. The
 * inline part serves a local object of a cache with room in the main sheaf
 * on an lcore that is not inside dslab.
 * Thread safety: any context, async-signal-safe.
 */
static DSLAB_FAST_PATH void
dslab_kfree_nolock(const void *obj)
{
	uintptr_t e = dslab_pm_entry_(obj);
	unsigned lc = rte_lcore_id();

	if (likely(e != 0 && lc < RTE_MAX_LCORE && !DSLAB_CHECKED)) {
		struct dslab_cache *c =
			((const struct dslab_chunk_pub *)(e & ~(uintptr_t)DSLAB_PM_TAG_MASK))->cache;

		if (likely(c != NULL && __atomic_load_n(&dslab_busy_, __ATOMIC_RELAXED) == 0)) {
			struct dslab_pcs *p = &c->pcs[lc];

			if (likely((e & DSLAB_PM_TAG_MASK) == p->socket_tag)) {
				/* Marked, so that a handler interrupting us
				 * defers; no safe point at the end. */
				__atomic_store_n(&dslab_busy_, 1, __ATOMIC_RELAXED);
				__atomic_signal_fence(__ATOMIC_SEQ_CST);
				int done = dslab_far_push_(p, (void *)(uintptr_t)obj);
				__atomic_signal_fence(__ATOMIC_SEQ_CST);
				__atomic_store_n(&dslab_busy_, 0, __ATOMIC_RELAXED);
				if (likely(done))
					return;
			}
		}
	}
	dslab_kfree_nolock_slow(obj);
}

/**
 * dslab_kfree_rcu() write-prefetches the object of the lcore's main sheaf
 * that an allocation this many allocations later returns (when no free
 * comes between). kfree_rcu is the update side's retire: it comes with an
 * allocation of the replacement, whose first store is into an object that
 * came back through a grace period and was last read by the reader lcores.
 * Without the prefetch that store waits for the object's line to come back
 * from them, and on x86 the stores behind it wait too. Eight ahead: of 1, 4,
 * 8 and 16 (tried with the prefetch in dslab_alloc()), the best in
 * dslab_kfree_rcu_bench on one slot, and as good as 4 and 16 on the table
 * (bench/RESULTS.md, "kfree_rcu"). In kfree_rcu, not in dslab_alloc(): a plain
 * alloc and free reuse lines already in the lcore's cache, where the
 * prefetch only costs (in dslab_alloc() it took dslab_alloc_bench's
 * BM_Pair/dslab/64 from 5.6 to 7.0 ns on the development machine).
 */
#define DSLAB_RCU_PREFETCH_AHEAD 8

/* kfree_rcu's write prefetch into main. The slot it reads is below
 * main_size, the fast paths' own; a prefetch never faults. */
static DSLAB_FAST_PATH void
dslab_rcu_prefetch_(const struct dslab_pcs *p)
{
	const uint32_t n = p->main_size;

	if (n > DSLAB_RCU_PREFETCH_AHEAD + (uint32_t)p->prefetch_off) {
		const char *x = (const char *)p->main_objs[n - 1 - DSLAB_RCU_PREFETCH_AHEAD];

#if defined(__x86_64__) || defined(__i386__)
		/* Not __builtin_prefetch(x, 1): without -mprfchw (DPDK builds
		 * for corei7) that is a read prefetch, which leaves the line
		 * shared with the readers. */
		__asm__ volatile("prefetchw %0" : : "m"(*x));
#else
		__builtin_prefetch(x, 1, 3);
#endif
	}
}

/**
 * Free an object after a grace period (see dslab_rcu.h; the macro
 * dslab_kfree_rcu(ptr, field) calls this). @p obj is memory from any dslab
 * allocator; @p head is a struct dslab_rcu_head embedded in it, used only
 * by the fallback path. NULL is a no-op; a pointer dslab never handed out is
 * reported and not followed.
 *
 * Fast path: an lcore online in dslab's QSBR, a local object of a cache
 * with sheaves, and an rcu sheaf that is neither empty (its first object
 * stamps the time) nor about to fill (the last one submits it).
 * Thread safety: any thread.
 */
static DSLAB_FAST_PATH void
dslab_kfree_rcu_head(void *obj, struct dslab_rcu_head *head)
{
	uintptr_t e = dslab_pm_entry_(obj);
	unsigned lc = rte_lcore_id();

	if (likely(e != 0 && lc < RTE_MAX_LCORE && !DSLAB_CHECKED)) {
		struct dslab_cache *c =
			((const struct dslab_chunk_pub *)(e & ~(uintptr_t)DSLAB_PM_TAG_MASK))->cache;

		if (likely(c != NULL)) {
			struct dslab_pcs *p = &c->pcs[lc];
			uint32_t n = p->rcu_size;

			/* No mark: below rcu_limit the slots are ours (see
			 * top). */
			if (likely((e & DSLAB_PM_TAG_MASK) == p->socket_tag &&
				   n < __atomic_load_n(&p->rcu_limit, __ATOMIC_RELAXED))) {
				p->rcu_objs[n] = obj;
				/* Counted by rcu_size (free_rcu_sheaf). */
				__atomic_store_n(&p->rcu_size, n + 1, __ATOMIC_RELAXED);
				dslab_rcu_prefetch_(p);
				return;
			}
		}
	}
	dslab_kfree_rcu_slow(obj, head);
}

#ifdef __cplusplus
}
#endif

#endif /* DSLAB_PCS_H */
