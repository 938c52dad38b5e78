/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_RCU_H
#define DSLAB_RCU_H

/**
 * @file
 * kfree_rcu over DPDK quiescent-state RCU (rte_rcu_qsbr). Include dslab.h.
 *
 * An object handed to dslab_kfree_rcu() or dslab_kvfree_rcu() is freed only
 * after every reader lcore online in dslab's QSBR variable has reported a
 * quiescent state after the call.
 *
 * Batching: on an lcore online in the QSBR variable, a local object of a
 * cache with sheaves goes into that lcore's rcu sheaf with no atomic
 * operation; a full sheaf takes one QSBR token and, once its grace period
 * has passed, becomes the lcore's spare sheaf if that slot is free or
 * empty, else a full sheaf of the barn (either way its objects are
 * allocated again without touching slabs). A partly filled sheaf is
 * submitted at the lcore's first dslab_quiescent() after rcu_flush_us.
 * kfree_rcu waits for no grace period, unless the lcore asked for a bound
 * on the memory waiting (dslab_rcu_set_max_pending()); with the bound at
 * quiescent points (dslab_rcu_set_quiescent_bound()) dslab_quiescent() may
 * wait instead.
 * Everything else (another socket's object, a cache without sheaves, a
 * caller that is not an online lcore, no empty sheaf to be had) takes the
 * fallback: batches under one token each, behind a short lock, never
 * waiting for a grace period.
 *
 * The contract, as for every QSBR user: reader lcores go online
 * (dslab_rcu_online()) and call dslab_quiescent() regularly, outside their
 * read-side critical sections. A barrier is a quiescent point of its caller.
 *
 * An lcore may instead go online in the variable directly
 * (rte_rcu_qsbr_thread_register() and _online() with its lcore id as thread
 * id, reporting with rte_rcu_qsbr_quiescent() or dslab_quiescent()).
 * Grace periods wait for it
 * all the same, and dslab never waits for one on it without reporting for
 * it at a barrier, nor where it could not report: its calls that would
 * (dslab_cache_destroy(), a dslab_kvfree_rcu() with no pointer array) fail
 * with EDEADLK as on a dslab reader. It has no rcu sheaves: its kfree_rcu
 * takes the fallback batches.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_rcu_qsbr;
struct dslab_cache;

/** Embed in an object to free it with dslab_kfree_rcu(). 16 bytes. */
struct dslab_rcu_head {
	struct dslab_rcu_head *next; /**< fallback batch link */
	void *obj;                   /**< start of the object */
};

/* dslab_kfree_rcu_head(obj, head), the function behind the macro, is inline
 * in dslab_pcs.h. */

/** dslab_kfree_rcu(ptr, field): free @p ptr after a grace period, with
 *  its embedded struct dslab_rcu_head @p field (the kernel's kfree_rcu). */
#define dslab_kfree_rcu(ptr, field)                                          \
	do {                                                                 \
		__typeof__(ptr) dslab_p_ = (ptr);                            \
		if (dslab_p_ != NULL)                                        \
			dslab_kfree_rcu_head(dslab_p_, &dslab_p_->field);    \
	} while (0)

/**
 * Free an object without an rcu head after a grace period (seed 004's
 * headless kvfree_rcu). Objects are batched in arrays. When no array can be
 * had: a caller that is not an online reader waits for a grace period and
 * frees; an online reader lcore (dslab's or the variable's directly)
 * cannot wait for itself, nor can a
 * dslab_cache_walk() callback (it holds the cache registry), so the object
 * is reported and left allocated (rte_errno = EDEADLK, counter
 * kvfree_rcu_nomem) instead of hanging.
 * Thread safety: any thread.
 */
void dslab_kvfree_rcu(void *ptr);

/**
 * Use the application's QSBR variable (shared with rte_hash, rte_lpm...)
 * instead of dslab's own. Thread ids are lcore ids, so @p v must have
 * max_threads above every lcore id that goes online.
 * @return 0; -EINVAL (NULL, not initialised); -EBUSY (objects are waiting
 *   for a grace period or a thread is online in the current variable,
 *   through dslab or directly; the caller itself is answered at once,
 *   without waiting for a barrier that may be waiting for it).
 * Thread safety: control.
 */
int dslab_rcu_attach(struct rte_rcu_qsbr *v);

/** The QSBR variable dslab uses (its own or the attached one); NULL before
 *  dslab_init(). Thread safety: any thread. */
struct rte_rcu_qsbr *dslab_rcu_qsbr(void);

/**
 * Register the calling lcore as a reader and put it online.
 * @return 0, or -EINVAL (not an lcore, lcore id beyond the variable).
 * Thread safety: lcore, for itself.
 */
int dslab_rcu_online(void);

/**
 * Put the calling lcore offline: its partly filled rcu sheaves are submitted
 * and its pending ones handed over, so that nothing waits on an lcore that
 * no longer reports. A no-op for an lcore that is not online.
 * Thread safety: lcore, for itself.
 */
void dslab_rcu_offline(void);

/**
 * Bound the memory waiting for a grace period on the calling lcore, trading
 * kfree_rcu()'s promise never to wait for it (the default, 0: unbounded).
 *
 * With a bound of N, the lcore's rcu sheaves holding objects (partly filled
 * ones, one per cache in use, and submitted ones, whatever their fill)
 * never number more than N, so at most N sheaves' worth of its objects
 * wait. A dslab_kfree_rcu() or dslab_kvfree_rcu() that would open one more
 * sheaf first reports the lcore's quiescent state and waits until the
 * oldest submitted sheaf's grace period has passed (counter
 * rcu_max_pending_wait; a reader that stops reporting is logged every
 * rcu_stall_ms, as by a barrier). Without a bound, a reader lcore that
 * stops reporting (preempted, stalled) lets the waiting memory grow for as
 * long as the writer runs.
 *
 * Set it only on an lcore that never calls kfree_rcu() inside a read-side
 * critical section: the wait is a quiescent point of its caller. (In a
 * dslab_cache_walk() callback the bound is not applied.) Not
 * bounded: objects that take the fallback (another socket's, no sheaves),
 * sheaves handed over to a barrier, and the *_nolock calls and deferred
 * frees, which never wait. The bound outlives dslab_rcu_offline() but not
 * the thread's lcore id: when a registered thread unregisters
 * (rte_thread_unregister()) the bound is lifted, so that a thread given the
 * same id later does not inherit it. 0 lifts it.
 *
 * @param sheaves  the bound in sheaves; 0: unbounded.
 * @return 0, or -EINVAL (not an lcore, not initialised).
 * Thread safety: lcore, for itself.
 */
int dslab_rcu_set_max_pending(unsigned sheaves);

/**
 * Bound the memory waiting for a grace period on the calling lcore at its
 * quiescent points: dslab_quiescent() returns only once the lcore's rcu
 * sheaves holding objects (open ones, one per cache in use, and submitted
 * ones) number fewer than @p sheaves, waiting for the oldest grace periods
 * first if need be (reporting the lcore's quiescent state meanwhile; counter
 * rcu_quiescent_bound_wait; a reader that stops reporting is logged every
 * rcu_stall_ms). kfree_rcu() itself still never waits, so between two
 * dslab_quiescent() calls the lcore may open one more sheaf and fill it:
 * objects waiting stay within @p sheaves sheaves' worth as long as the lcore
 * retires at most a sheaf's capacity between two reports, and within
 * that plus what it retires between two reports otherwise.
 *
 * Unlike dslab_rcu_set_max_pending(), this needs no promise from the
 * application: the caller of dslab_quiescent() has just declared that it
 * holds no reference, so any lcore, reader or writer, may set it. The
 * price is that dslab_quiescent() may wait while another reader lcore does
 * not report (a stalled or preempted reader stops this lcore rather than
 * letting memory grow): do not call dslab_quiescent() while holding a lock
 * that a reader needs to reach its own quiescent point. Not applied in a
 * dslab_cache_walk() callback; not bounded: what
 * dslab_rcu_set_max_pending() does not bound either (fallback objects,
 * nolock calls, deferred frees). Lifted when a registered thread
 * unregisters, like dslab_rcu_set_max_pending()'s bound. 0 lifts it.
 *
 * @param sheaves  the bound in sheaves; 0: none (the default).
 * @return 0, or -EINVAL (not an lcore, not initialised).
 * Thread safety: lcore, for itself.
 */
int dslab_rcu_set_quiescent_bound(unsigned sheaves);

/**
 * Report a quiescent state for the calling lcore (if online in the QSBR
 * variable, through dslab_rcu_online() or directly) and do its
 * deferred work: reclaim rcu sheaves whose grace period has passed, submit
 * partly filled ones older than rcu_flush_us, serve a barrier's request,
 * reclaim expired fallback batches, send the lcore's remote batches and
 * take its socket's objects home; and, where the lcore set
 * dslab_rcu_set_quiescent_bound(), wait until it holds fewer rcu sheaves
 * than the bound. With none of that to do, the call is the report and a
 * few loads (about 70 instructions).
 * Thread safety: lcore; on other threads only the deferred work is done.
 */
void dslab_quiescent(void);

/**
 * Wait until every object handed to kfree_rcu/kvfree_rcu by a call that
 * returned before this one began is freed: those in partly filled rcu
 * sheaves of other lcores and in fallback batches included. Serialized with
 * other barriers; covers exactly the online lcores; logs an lcore that stops
 * reporting quiescent states (every rcu_stall_ms) instead of waiting in
 * silence. The call is a quiescent point of its caller.
 * In a dslab_cache_walk() callback it is refused (logged, rte_errno =
 * EDEADLK) and waits for nothing.
 * Thread safety: any thread; must not be called inside a read-side section.
 */
void dslab_rcu_barrier(void);

/**
 * dslab_rcu_barrier() for one cache's objects only: its cost grows with the
 * lcores, not with the number of other caches. NULL: no-op.
 * Thread safety: as dslab_rcu_barrier().
 */
void dslab_rcu_barrier_on_cache(struct dslab_cache *cache);

/**
 * Destroy a cache without waiting (seed 002's lingering destroy): the cache
 * is unlinked at once (its name can be reused, its telemetry entry is gone)
 * and reaped by a dslab thread after its barrier, off the caller's path.
 * Objects still allocated then are reported as leaks and their memory kept.
 * The application must not use the cache after the call, except that
 * objects already handed to kfree_rcu may still be waiting.
 * @return 0, -EINVAL (not a live cache), -EDEADLK (called from a
 * dslab_cache_walk() callback), or pthread_create()'s error
 * (-EAGAIN: the reaper thread could not start; the cache is left alive and
 * linked, the call can be repeated).
 * Thread safety: control for this cache; callable from a reader lcore.
 */
int dslab_cache_destroy_async(struct dslab_cache *cache);

/**
 * Caches unlinked by dslab_cache_destroy_async() and not yet reaped.
 * Thread safety: any thread.
 */
unsigned dslab_caches_dying(void);

#ifdef __cplusplus
}
#endif

#endif /* DSLAB_RCU_H */
