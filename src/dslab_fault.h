/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_FAULT_H
#define DSLAB_FAULT_H

/**
 * @file
 * Fault injection, for tests: make dslab's memory sources fail at chosen
 * points, to check that every API returns its documented error and that the
 * allocator stays consistent (no leak, no double hand-out) and works fully
 * once memory returns. The hooks sit on slow paths only (chunk, large region,
 * sheaf and descriptor allocation); the fast paths carry no cost.
 *
 * Race windows, for tests: a callback that dslab calls at a few named points
 * of its barrier and grace-period slow paths, where another thread's
 * interleaving decides correctness. A test stops the calling thread there
 * (the window is then as wide as the test wants) and drives the other
 * thread through it. Unset, each point costs one relaxed load.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where a fault can be injected. */
enum dslab_fault_site {
	/** Slab chunks and large (kvmalloc) regions: DPDK memory or mmap. */
	DSLAB_FAULT_MEMSRC = 0,
	/** Sheaf allocation (new empty sheaves, prefilled sheaves). */
	DSLAB_FAULT_SHEAF = 1,
	/** Descriptors: chunk and cache metadata. */
	DSLAB_FAULT_META = 2,
	/** dslab's threads (the reaper of dslab_cache_destroy_async()):
	 *  creation fails with EAGAIN. */
	DSLAB_FAULT_THREAD = 3,
	DSLAB_FAULT_NR_SITES
};

/**
 * Arm a site: the next @p after attempts succeed, then @p count fail
 * (UINT64_MAX: all), then attempts succeed again. @p count 0 disarms it.
 * @return 0, or -EINVAL (bad site) with rte_errno set.
 * Thread safety: any thread; attempts racing with the call see the old or
 * the new setting.
 */
int dslab_fault_set(enum dslab_fault_site site, uint64_t after, uint64_t count);

/**
 * Faults injected at a site since the library was loaded.
 * Thread safety: any thread.
 */
uint64_t dslab_fault_injected(enum dslab_fault_site site);

/** Points where dslab calls the race-window callback (dslab_race_hook_set()). */
enum dslab_race_point {
	/**
	 * A poller (dslab_quiescent(), a slow path) has just taken expired
	 * work off a global list and holds that list's lock; it frees the
	 * work after unlocking. arg: 0 orphaned rcu sheaves, 1 fallback
	 * batches. A barrier that returns while a thread is stopped here has
	 * missed that work.
	 */
	DSLAB_RACE_GLOBAL_TAKEN = 0,
	/**
	 * A barrier has seen lcore arg online and not yet posted its request
	 * to it (the barrier mutex is held).
	 */
	DSLAB_RACE_BARRIER_ASK = 1,
	/**
	 * dslab_rcu_online() on lcore arg, between publishing the lcore as
	 * online and reading its pending barrier request.
	 */
	DSLAB_RACE_RCU_ONLINE = 2,
	/**
	 * An lcore id is released (rte_thread_unregister()): its deferred
	 * frees move to the shared list. arg: the lcore. BEGIN: before the
	 * lcore's list is taken (a nolock call made here, as by a signal
	 * handler, is deferred to that list). TAKEN: the list was taken, not
	 * empty, and nothing is on the shared list yet. A barrier that returns
	 * while a thread is stopped here has missed those frees.
	 */
	DSLAB_RACE_HAND_OVER_BEGIN = 3,
	DSLAB_RACE_HAND_OVER_TAKEN = 4,
	DSLAB_RACE_NR_POINTS
};

/** Race-window callback: the point, its argument, the context given. */
typedef void (*dslab_race_hook_t)(enum dslab_race_point point, unsigned arg, void *ctx);

/**
 * Set (or, with NULL, clear) the race-window callback. It runs on the
 * thread that reached the point, possibly with dslab locks held: it may
 * wait for other threads, and must not call dslab itself.
 * @return 0.
 * Thread safety: any thread; set it before the threads that must see it
 * start, and clear it once they are past the points (a thread that loaded
 * the old callback may still call it).
 */
int dslab_race_hook_set(dslab_race_hook_t fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* DSLAB_FAULT_H */
