/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_NOLOCK_H
#define DSLAB_NOLOCK_H

/**
 * @file
 * Calls for contexts that must never wait (the kernel's kmalloc_nolock(),
 * kfree_nolock(), kfree_rcu_nolock()). Include dslab.h.
 *
 * They may be called from a signal handler that interrupted dslab on the
 * same lcore, from a nested call, from a thread with no lcore id, and from
 * any caller that must not wait for another thread. They never spin on a
 * lock (only try it), never block, never make a system call, and are
 * async-signal-safe, with one exception: checked builds (-Dchecked=true)
 * log what their checks find through rte_log.
 *
 * How: the inline single-object fast paths (alloc, free, kfree_rcu) use
 * only the near end of the lcore's main and rcu sheaves and take no mark;
 * every other dslab call that writes an lcore's state (slow paths, bulk
 * paths, the remote batch) marks the lcore busy. A *_nolock call on an
 * lcore that is not busy uses the far end of those sheaves (it may have
 * interrupted a fast path, which it leaves its slots: dslab_pcs.h), the
 * spare sheaf and the barn (try-lock); on a busy lcore, or when these
 * cannot serve it, an allocation tries the slabs with a try-lock and
 * otherwise returns NULL; a free is pushed on the lcore's lock-free
 * deferred list (a thread with no lcore id: a shared one) and done at the
 * lcore's next safe point: the end of the interrupted dslab call when that
 * is a slow path, the lcore's next dslab call that goes past the inline
 * fast path, dslab_quiescent(), or a barrier (dslab_rcu_barrier(),
 * dslab_deferred_barrier()), which does every lcore's. A deferred object
 * stays counted in objects_in_use and in objects_deferred until then.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dslab_rcu_head;

/**
 * kmalloc that never waits. When the lcore is not inside a dslab slow path
 * and @p socket is its own: from the far end of its main sheaf (objects
 * dslab_kfree_nolock() put there), else its spare sheaf, else a full sheaf
 * of the barn made the spare if the barn's lock is free; never from the
 * near end of main, which the inline fast paths own. Else from the
 * socket's slabs if their lock is free and they hold a free object (no new
 * memory is mapped). Inside a dslab slow path on this thread (a signal
 * handler that interrupted it, a nested call): NULL with EAGAIN.
 *
 * @param size bytes, 1..DSLAB_KMALLOC_MAX_SIZE.
 * @param flags DSLAB_F_* (DSLAB_F_ZERO).
 * @param socket the socket whose memory to use; -1: the caller's.
 * @return the object (freed with dslab_kfree() or dslab_kfree_nolock()), or
 *   NULL with rte_errno: EINVAL (size 0 or above DSLAB_KMALLOC_MAX_SIZE,
 *   bad socket, not initialised), EAGAIN (could not be served without
 *   waiting: try again later, or use dslab_kmalloc()).
 * Thread safety: any context, async-signal-safe.
 */
void *dslab_kmalloc_nolock(size_t size, unsigned flags, int socket);

/*
 * void dslab_kfree_nolock(const void *ptr), inline in dslab_pcs.h:
 * Free anything dslab handed out (cache object, kmalloc, kvmalloc,
 * kmalloc_nolock) without waiting. NULL is a no-op. A local object on an
 * lcore that is not inside a dslab slow path goes to the far end of its
 * main sheaf (inline), which leaves at least two slots to the fast paths,
 * or else into its spare sheaf if that has room (each lcore has an empty
 * spare from its first use of the cache; a full or missing spare is
 * exchanged for an empty sheaf of the barn if the barn's lock is free),
 * or else into its slab if the slab's lock is free; anything else (busy
 * lcore, no room, another socket's object, a large allocation, a thread
 * with no lcore id whose slab is locked) is deferred to a safe point. A pointer dslab
 * never handed out is not followed; it is reported (rte_log) at the next
 * dslab_quiescent() or deferred run.
 * A pointer inside an object is caught in checked builds, as dslab_kfree()
 * catches it.
 * Thread safety: any context, async-signal-safe.
 */

/**
 * dslab_kfree_rcu() that never waits: the object goes into the far end of
 * the lcore's rcu sheaf only when the lcore is not inside a dslab slow
 * path, the object is local, the sheaf is open (it holds an object) and
 * two slots stay free below the far end (the object that fills a sheaf
 * submits it, which a nolock call does not do); otherwise the free is
 * deferred (linked through
 * @p head) to the lcore's next safe point, where it is handed to kfree_rcu.
 * In DSLAB_REMOTE_RING mode another socket's object freed on an lcore
 * online in dslab's QSBR goes home by ring instead (from this call when the
 * lcore is not inside dslab, else from the safe point): whoever drains it
 * from the ring hands it to kfree_rcu (the fallback batches).
 * Its grace period starts no earlier than this call, so it is never cut.
 * Thread safety: any context, async-signal-safe.
 */
void dslab_kfree_rcu_nolock_head(void *obj, struct dslab_rcu_head *head);

/** dslab_kfree_rcu_nolock(ptr, field): dslab_kfree_rcu() that never waits. */
#define dslab_kfree_rcu_nolock(ptr, field)                                    \
	do {                                                                  \
		__typeof__(ptr) dslab_np_ = (ptr);                            \
		if (dslab_np_ != NULL)                                        \
			dslab_kfree_rcu_nolock_head(dslab_np_, &dslab_np_->field); \
	} while (0)

/**
 * The deferred-work barrier: when it returns, every free deferred by a
 * *_nolock call, and every remote free in a home ring or batched by an lcore
 * online in dslab's QSBR variable (an offline lcore sends its batches at its
 * next dslab_quiescent() or when it stops), issued by a call that returned
 * before the barrier began, is done (a deferred kfree_rcu is handed to
 * kfree_rcu: dslab_rcu_barrier() also waits for its grace period).
 * Serialized with the rcu barriers; the lcores online in dslab's QSBR
 * variable are asked to do their own batches (others' deferred lists are
 * taken from them, and a list a thread took just before is waited for until
 * its run is over); an lcore that does not answer is named in the log every
 * rcu_stall_ms. dslab_rcu_barrier() and cache destroy include it.
 * Thread safety: any thread but a signal handler; not inside a read-side
 * section.
 */
void dslab_deferred_barrier(void);

#ifdef __cplusplus
}
#endif

#endif /* DSLAB_NOLOCK_H */
