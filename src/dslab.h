/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_H
#define DSLAB_H

/**
 * @file
 * dslab: a NUMA-aware slab allocator for DPDK applications.
 *
 * dslab ports the Linux SLUB "sheaves" design to user space. Every cache has,
 * per lcore, a main and a spare sheaf (arrays of free objects), per socket a
 * barn (lists of full and empty sheaves) and per socket slabs carved from that
 * socket's memory. An lcore's allocation and free of local objects touch only
 * its own cache line: no atomic read-modify-write, no fence, no lock.
 *
 * Calling contexts, used in every function's documentation:
 *  - "lcore": an EAL lcore or a thread registered with rte_thread_register();
 *    uses its own sheaves.
 *  - "any thread": also a thread with no lcore id (rte_lcore_id() ==
 *    LCORE_ID_ANY); such threads share one sheaf per cache and socket under
 *    a lock, exchanged with the barn (the slabs when no sheaf can be had).
 *    Slower than an lcore's own sheaves, never wrong.
 *  - "control": a thread that no other thread races with for the object
 *    named (creating, destroying).
 * None of these functions is async-signal-safe (the nolock family is planned
 * separately).
 *
 * Errors: functions returning a pointer return NULL and set rte_errno;
 * functions returning int return a negative errno value and set rte_errno.
 * Messages go to the rte_log type "lib.dslab".
 */

#include <stddef.h>
#include <stdint.h>

#include <rte_errno.h>

#include "dslab_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque object cache (its fast-path part is laid out in dslab_pcs.h). */
struct dslab_cache;
/** A sheaf: an array of free objects, also handed out by the prefill API. */
struct dslab_sheaf;

/* ---------------------------------------------------------------------- */
/** @name Allocation flags (the @p flags argument; 0 means the defaults)
 * @{ */
/** Zero the object before returning it. */
#define DSLAB_F_ZERO 0x1u
/** @} */

/** @name Cache flags (dslab_cache_args.flags)
 * @{ */
/** Every allocation from the cache is zeroed (as if DSLAB_F_ZERO were given). */
#define DSLAB_CACHE_ZERO 0x1u
/** Align objects to (and round their size up to) the cache line. */
#define DSLAB_CACHE_HWCACHE_ALIGN 0x2u
/** @} */

/** dslab_cache_args.sheaf_capacity: size sheaves by object size (the default). */
#define DSLAB_SHEAF_CAPACITY_AUTO UINT32_MAX
/** Largest sheaf capacity accepted. */
#define DSLAB_SHEAF_CAPACITY_MAX 1024u
/** Largest object a cache created with dslab_cache_create() may hold. */
#define DSLAB_CACHE_MAX_OBJ_SIZE (1024u * 1024u)
/** Largest size served by the kmalloc size classes; above it, kmalloc and
 *  kvmalloc use separately mapped large allocations. */
#define DSLAB_KMALLOC_MAX_SIZE (32u * 1024u)
/** Largest cache name, including the terminating NUL. */
#define DSLAB_NAME_SIZE 32

/** Where slabs take their memory from. */
enum dslab_mem_source {
	/** DPDK memory when EAL has per-socket (hugepage) memory and the
	 *  topology is DPDK's own; mmap + mbind otherwise. */
	DSLAB_MEM_AUTO = 0,
	/** Always DPDK memory (rte_malloc_socket). */
	DSLAB_MEM_DPDK = 1,
	/** Always anonymous mmap bound to the socket's NUMA node with mbind. */
	DSLAB_MEM_MMAP = 2,
};

/** How an lcore's free of another socket's object goes home. */
enum dslab_remote_free {
	/** The faster of the two on the measurements in README.md, "Benchmarks"
	 *  (ring batches where there is more than one socket). */
	DSLAB_REMOTE_DEFAULT = 0,
	/** Batched per home socket in the freeing lcore, then one ring
	 *  enqueue per batch; the home socket's lcores drain the ring. */
	DSLAB_REMOTE_RING = 1,
	/** Straight into the home socket's slabs, under their lock. */
	DSLAB_REMOTE_DIRECT = 2,
};

/** Library configuration for dslab_init(). Zero-initialise, then set fields. */
struct dslab_config {
	/** Topology override "lcore:socket,lcore:socket,..." (logical
	 *  sockets, for tests and demos on one-socket machines). NULL: the
	 *  environment variable DSLAB_TOPOLOGY if set, else DPDK's topology. */
	const char *topology;
	/** Memory source of the slabs. */
	enum dslab_mem_source mem_source;
	/** Bytes of each chunk taken from the memory source: a power of two,
	 *  at least 2 MiB (0: 2 MiB). Also the page map's granule. */
	size_t chunk_size;
	/** A partly filled rcu sheaf is submitted at the first dslab_quiescent()
	 *  this many microseconds after its first object (0: 1000). */
	uint32_t rcu_flush_us;
	/** Barriers name an lcore that holds them up every this many
	 *  milliseconds (0: 1000). */
	uint32_t rcu_stall_ms;
	/** How a free of another socket's object goes home (see enum
	 *  dslab_remote_free). */
	uint32_t remote_free;
	/** Slots of each socket's home ring, a power of two (0: 64 remote-free
	 *  batches, 64 * DSLAB_REMOTE_BATCH = 16384 slots, 128 KiB). A batch
	 *  that does not fit goes to its slabs under their lock (so, every
	 *  batch, with fewer slots than DSLAB_REMOTE_BATCH). */
	uint32_t remote_ring_size;
	/** Reserved for future fields; must be zero. */
	uint64_t reserved[6];
};

/** Arguments of dslab_cache_create(). NULL means all defaults. */
struct dslab_cache_args {
	/** Object alignment: a power of two, at most 4096 (0: 8, or the
	 *  largest power of two dividing the size, up to 64). */
	size_t align;
	/** Objects per sheaf: 0 means no sheaves (every operation goes to
	 *  the slabs under their lock); DSLAB_SHEAF_CAPACITY_AUTO sizes it by
	 *  object size; otherwise at most DSLAB_SHEAF_CAPACITY_MAX. */
	uint32_t sheaf_capacity;
	/** Full sheaves a socket's barn keeps (0: 10). */
	uint32_t barn_max_full;
	/** Empty sheaves a socket's barn keeps (0: 10). */
	uint32_t barn_max_empty;
	/** DSLAB_CACHE_* flags. */
	uint32_t flags;
	/** Reserved for future fields; must be zero. */
	uint64_t reserved[4];
};

/**
 * The counters of one cache, summed over lcores when read. The names are
 * SLUB's (mm/slub.c enum stat_item) where SLUB has one. Object counts unless
 * said otherwise.
 */
struct dslab_cache_stats {
#define DSLAB_STATS_FIELDS(X) \
	X(alloc_cpu_sheaf, "objects allocated from an lcore's main sheaf") \
	X(alloc_slowpath, "objects allocated off the lcore sheaves: threads with no lcore id (a shared sheaf per socket), caches without sheaves (slabs)") \
	X(alloc_node_remote, "objects allocated with dslab_alloc_node() from another socket") \
	X(alloc_from_sheaf, "objects allocated from prefilled sheaves") \
	X(free_cpu_sheaf, "objects freed into an lcore's main sheaf") \
	X(free_slowpath, "objects freed off the lcore sheaves: threads with no lcore id (a shared sheaf per socket), caches without sheaves (slabs)") \
	X(free_remote_node, "objects of another socket sent home (never into local sheaves)") \
	X(free_rcu_sheaf, "kfree_rcu() objects put in an rcu sheaf") \
	X(free_rcu_sheaf_fail, "kfree_rcu() objects that took the fallback path") \
	X(rcu_sheaf_submit, "rcu sheaves submitted for a grace period (one QSBR token each)") \
	X(rcu_sheaf_reclaim, "rcu sheaves whose grace period passed") \
	X(rcu_reclaimed, "kfree_rcu() objects freed after their grace period") \
	X(kvfree_rcu_nomem, "headless kvfree_rcu() objects left allocated: no array, caller may not wait") \
	X(rcu_max_pending_wait, "kfree_rcu()/kvfree_rcu() calls that waited for a grace period at their lcore's dslab_rcu_set_max_pending() bound") \
	X(rcu_quiescent_bound_wait, "dslab_quiescent() calls that waited for a grace period at their lcore's dslab_rcu_set_quiescent_bound() (counted on the cache of its oldest rcu sheaf)") \
	X(sheaf_swap, "main and spare sheaves exchanged") \
	X(barn_get, "full (alloc) or empty (free) sheaves taken from the barn") \
	X(barn_get_fail, "barn had no sheaf of the kind needed") \
	X(barn_put, "sheaves given to the barn") \
	X(barn_put_fail, "barn was at its limit") \
	X(sheaf_alloc, "sheaves allocated") \
	X(sheaf_free, "sheaves freed") \
	X(sheaf_refill, "sheaves refilled from slabs") \
	X(sheaf_flush, "sheaves flushed to slabs") \
	X(sheaf_prefill_fast, "prefilled sheaves served from the barn") \
	X(sheaf_prefill_slow, "prefilled sheaves filled from slabs") \
	X(sheaf_prefill_oversize, "prefilled sheaves larger than the capacity") \
	X(sheaf_return_fast, "returned prefilled sheaves kept whole in the barn") \
	X(sheaf_return_slow, "returned prefilled sheaves flushed") \
	X(alloc_slab, "slabs carved from chunks") \
	X(free_slab, "empty slabs given back (chunks freed or pages released)") \
	X(alloc_fail, "allocations that failed for want of memory") \
	X(alloc_nolock, "objects allocated by dslab_kmalloc_nolock()") \
	X(alloc_nolock_fail, "dslab_kmalloc_nolock() calls that returned NULL (busy lcore, lock held elsewhere, no free object)") \
	X(free_nolock, "objects dslab_kfree_nolock() freed at once (far end of the lcore's main sheaf, its spare, or the slab under a free lock)") \
	X(free_nolock_deferred, "*_nolock frees deferred to a safe point (kfree_rcu_nolock ones included, and those sent home by ring: done when their home takes them)") \
	X(free_deferred_done, "deferred frees done at a safe point (each then counted by the path it took)") \
	X(free_remote_ring, "objects of another socket sent home in a ring batch") \
	X(remote_ring_full, "ring-batched objects that found the home ring full and went to its slabs") \
	X(remote_ring_drained, "objects taken home from the socket's ring into its slabs") \
	X(free_rcu_remote_ring, "kfree_rcu_nolock() objects of another socket sent home in a ring batch (ring mode); deferred frees until drained from the ring and handed to kfree_rcu")
#define DSLAB_STATS_DECLARE_(name, doc) uint64_t name;
	DSLAB_STATS_FIELDS(DSLAB_STATS_DECLARE_)
#undef DSLAB_STATS_DECLARE_
	/** Objects handed out and not yet freed. */
	uint64_t objects_in_use;
	/** Objects handed to kfree_rcu() and not yet reclaimed. */
	uint64_t objects_pending_rcu;
	/** Objects freed by *_nolock calls whose free waits for a safe point
	 *  (still counted in objects_in_use). */
	uint64_t objects_deferred;
	/** Objects freed on another socket and on their way home (in a
	 *  sender's batch or in the home socket's ring). */
	uint64_t objects_in_transit;
	/** Objects held in sheaves (lcores' main/spare and barns), free. */
	uint64_t objects_in_sheaves;
	/** Slabs carved and not given back. */
	uint64_t slabs;
	/** Bytes of memory the cache holds in chunks. */
	uint64_t bytes_held;
	/** Object size (after alignment), bytes. */
	uint64_t object_size;
	/** Sheaf capacity (0: no sheaves). */
	uint64_t sheaf_capacity;
};

/* ---------------------------------------------------------------------- */
/** @name Library
 * @{ */

/**
 * Initialise dslab. Call once, after rte_eal_init(), from the main lcore.
 *
 * Reads the topology (DPDK's, or the override: see struct dslab_config),
 * registers the telemetry commands /dslab/list and /dslab/info, and creates
 * the kmalloc size-class caches.
 *
 * @param cfg
 *   Configuration, or NULL for the defaults.
 * @return
 *   0 on success; -EINVAL (bad configuration or topology string), -EALREADY
 *   (already initialised), -ENOMEM. rte_errno is set on error.
 * Thread safety: control; not concurrent with any other dslab call.
 */
int dslab_init(const struct dslab_config *cfg);

/**
 * Tear dslab down: destroy every cache (reporting leaked objects) and the
 * kmalloc caches. Memory of caches with leaked objects is kept.
 * In a dslab_cache_walk() callback it is refused (logged, rte_errno =
 * EDEADLK) and does nothing.
 * Thread safety: control; no other dslab call may run or follow except
 * dslab_init().
 */
void dslab_fini(void);

/**
 * Number of sockets dslab serves (logical ones under a topology override).
 * @return the count, 0 before dslab_init().
 * Thread safety: any thread.
 */
unsigned dslab_socket_count(void);

/**
 * Socket dslab assigns to an lcore (the override's, or DPDK's).
 * @param lcore_id an lcore id below RTE_MAX_LCORE.
 * @return the socket id, or -1 with rte_errno = EINVAL.
 * Thread safety: any thread.
 */
int dslab_lcore_socket(unsigned lcore_id);
/** @} */

/* ---------------------------------------------------------------------- */
/** @name Caches
 * @{ */

/**
 * Create an object cache.
 *
 * @param name
 *   Unique name, shorter than DSLAB_NAME_SIZE.
 * @param size
 *   Object size in bytes, 1 to DSLAB_CACHE_MAX_OBJ_SIZE.
 * @param args
 *   Arguments, or NULL for defaults.
 * @return
 *   The cache, or NULL with rte_errno: EINVAL (bad argument, not
 *   initialised), EEXIST (name in use), ENOMEM, EDEADLK (called from a
 *   dslab_cache_walk() callback).
 * Thread safety: any thread; serialized internally with other cache
 * creation and destruction.
 */
struct dslab_cache *dslab_cache_create(const char *name, size_t size,
				       const struct dslab_cache_args *args);

/**
 * Destroy a cache: wait for its kfree_rcu barrier (every object handed to
 * kfree_rcu before the call is freed first), flush every lcore's sheaves and
 * the barns, give all memory back. Objects still allocated are reported as
 * leaks (count, slabs, socket) and their memory is kept, never freed under a
 * live reference.
 *
 * An online rcu reader lcore (through dslab_rcu_online(), or put online in
 * the QSBR variable by the application itself) cannot wait for a grace
 * period that needs its own quiescent report: there the call destroys
 * nothing and sets rte_errno to EDEADLK (use dslab_cache_destroy_async(),
 * or go offline first).
 *
 * The barrier includes the deferred-work barrier (dslab_nolock.h): frees
 * deferred by nolock calls and remote frees in home rings are done first.
 * Remote frees still batched on an lcore that is not online in dslab's
 * QSBR variable are out of its reach: such an lcore calls dslab_quiescent()
 * after its last free to the cache; otherwise those objects count as still
 * allocated (reported, memory kept; the report says how many of them are
 * in transit home; they land in the kept memory when sent, also while the
 * destroy runs).
 *
 * @param cache the cache, or NULL (no-op). Errors (rte_errno): EINVAL (not a
 *   cache, or a kmalloc cache), EDEADLK (see above, and in a
 *   dslab_cache_walk() callback).
 * Thread safety: control: no thread may use the cache during or after
 * the call. Context: may block (grace period).
 */
void dslab_cache_destroy(struct dslab_cache *cache);

/**
 * Find a cache by name.
 * @return the cache or NULL (rte_errno = ENOENT; EINVAL: name NULL;
 *   EDEADLK: called from a dslab_cache_walk() callback).
 * Thread safety: any thread.
 */
struct dslab_cache *dslab_cache_lookup(const char *name);

/**
 * Name of a cache.
 * Thread safety: any thread.
 */
const char *dslab_cache_name(const struct dslab_cache *cache);

/**
 * Usable size of each object of the cache (the size rounded to alignment).
 * Thread safety: any thread.
 */
size_t dslab_cache_obj_size(const struct dslab_cache *cache);

/**
 * Give memory back: flush the barns, the calling lcore's sheaves and the
 * shared sheaves of threads with no lcore id to the slabs, free chunks whose
 * slabs are all empty and release the pages of empty slabs in mmap'd chunks.
 * Other lcores' sheaves are left alone.
 *
 * @return bytes given back to the memory source or the OS.
 * Thread safety: any thread.
 */
size_t dslab_cache_shrink(struct dslab_cache *cache);

/**
 * Read the cache's counters, summed over lcores. Values read while other
 * lcores run are not a single snapshot, and no counter goes back from one
 * read to the next. alloc_cpu_sheaf, which the alloc fast path does not
 * store (it is derived from free_cpu_sheaf and the main sheaf's size), may
 * then lag behind an lcore's allocations by the frees it has in flight,
 * never run ahead. Read when the lcores are idle, every counter is exact.
 *
 * @return 0, or -EINVAL (NULL argument) with rte_errno set.
 * Thread safety: any thread.
 */
int dslab_cache_stats(const struct dslab_cache *cache,
		      struct dslab_cache_stats *stats);

/**
 * Call @p fn for every cache (kmalloc caches included), in creation order,
 * until it returns non-zero.
 *
 * @p fn runs under the cache registry's lock. Calls that take that lock or
 * wait for a grace period under it (an online lcore blocked on the lock, to
 * create a cache or to leave, could not report) are refused in @p fn: they
 * log an error, set rte_errno to EDEADLK and return at once, doing nothing
 * (dslab_cache_create() and dslab_cache_lookup() return NULL,
 * dslab_cache_destroy_async() and a nested dslab_cache_walk() -EDEADLK;
 * dslab_cache_destroy(), dslab_fini(), dslab_rcu_barrier() and
 * dslab_rcu_barrier_on_cache() return). A dslab_kfree_rcu() at the bound of
 * dslab_rcu_set_max_pending() does not wait there, and a dslab_kvfree_rcu()
 * with no memory for a pointer array leaves its object allocated (EDEADLK)
 * instead of waiting for a grace period. @p fn may call
 * rte_thread_unregister(): dslab's lcore callback then flushes the leaving
 * lcore's sheaves under the lock the walk already holds.
 *
 * @return the last value @p fn returned (0 if it always returned 0), or
 *   -EINVAL (@p fn NULL), -EDEADLK (called from a walk callback).
 * Thread safety: any thread.
 */
int dslab_cache_walk(int (*fn)(struct dslab_cache *cache, void *arg),
		     void *arg);
/** @} */

/* Out-of-line slow paths of the inline functions below (do not call). */
void *dslab_alloc_slow(struct dslab_cache *cache, unsigned flags);
void dslab_free_slow(struct dslab_cache *cache, void *obj);
/* The free fast path could not push: page-map entry @p e already read
 * (another socket's object goes home without the full slow path). */
void dslab_free_other_(struct dslab_cache *cache, void *obj, uintptr_t e);
unsigned dslab_alloc_bulk_slow(struct dslab_cache *cache, unsigned flags,
			       unsigned n, void **objs);
void dslab_free_bulk_slow(struct dslab_cache *cache, unsigned n, void **objs);
void *dslab_kmalloc_slow(size_t size, unsigned flags, int socket);
void dslab_kfree_slow(const void *obj);
struct dslab_rcu_head;
void dslab_kfree_rcu_slow(void *obj, struct dslab_rcu_head *head);

#ifdef __cplusplus
}
#endif

/* The per-lcore layout and the inline fast paths. */
#include "dslab_pcs.h"
/* kfree_rcu over DPDK QSBR. */
#include "dslab_rcu.h"
/* Calls for contexts that must never wait: signal handlers, re-entry. */
#include "dslab_nolock.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name Object allocation
 * The inline fast paths are in dslab_pcs.h: dslab_alloc(), dslab_free(),
 * dslab_alloc_bulk(), dslab_free_bulk(), dslab_kmalloc(), dslab_kzalloc(),
 * dslab_kfree().
 * @{ */

/**
 * Allocate an object from a given socket's slabs.
 *
 * When @p socket is the calling lcore's socket (or -1), this is
 * dslab_alloc(). Otherwise the object comes from that socket's slabs under
 * their lock; it is freed with dslab_free() as usual and goes home.
 *
 * @return the object, or NULL with rte_errno: EINVAL (bad cache or socket),
 *   ENOMEM.
 * Thread safety: any thread.
 */
void *dslab_alloc_node(struct dslab_cache *cache, unsigned flags, int socket);
/** @} */

/** @name Prefilled sheaves (the kernel's kmem_cache_prefill_sheaf family)
 * A prefilled sheaf guarantees that @p n allocations in a burst succeed.
 * It belongs to the caller until returned, and may be used from any thread
 * (one at a time).
 * @{ */

/**
 * Get a sheaf holding at least @p n objects of @p cache.
 * @return the sheaf, or NULL with rte_errno: EINVAL, ENOMEM.
 * Thread safety: any thread.
 */
struct dslab_sheaf *dslab_prefill_sheaf(struct dslab_cache *cache,
					unsigned flags, unsigned n);

/**
 * Take one object from a prefilled sheaf. Never fails while the sheaf is not
 * empty.
 * @return the object, or NULL (rte_errno = ENOENT) when the sheaf is empty.
 * Thread safety: the sheaf's holder.
 */
void *dslab_alloc_from_sheaf(struct dslab_cache *cache, unsigned flags,
			     struct dslab_sheaf *sheaf);

/**
 * Top a prefilled sheaf up to at least @p n objects, replacing it with a
 * larger one when needed (*sheaf may change).
 * @return 0, or -EINVAL / -ENOMEM with rte_errno. On -ENOMEM, *sheaf is
 *         the caller's sheaf still: a sheaf that had to grow is exactly as it
 *         was, one that did not may hold more objects than before (fewer
 *         than @p n); every object in it may still be allocated.
 * Thread safety: the sheaf's holder.
 */
int dslab_refill_sheaf(struct dslab_cache *cache, unsigned flags,
		       struct dslab_sheaf **sheaf, unsigned n);

/**
 * Give a prefilled sheaf back; its remaining objects return to the cache.
 * @param sheaf the sheaf, or NULL (no-op).
 * Thread safety: the sheaf's holder.
 */
void dslab_return_sheaf(struct dslab_cache *cache, struct dslab_sheaf *sheaf);

/**
 * Objects left in a prefilled sheaf.
 * Thread safety: the sheaf's holder.
 */
unsigned dslab_sheaf_size(const struct dslab_sheaf *sheaf);
/** @} */

/** @name kmalloc
 * @{ */

/**
 * Allocate @p size bytes on a given socket (-1: the caller's).
 * @return memory or NULL with rte_errno: EINVAL (size 0, bad socket),
 *   ENOMEM (also for sizes too large to represent).
 * Thread safety: any thread.
 */
void *dslab_kmalloc_node(size_t size, unsigned flags, int socket);

/**
 * Usable size of memory from any dslab allocator (cache object, kmalloc,
 * kvmalloc).
 * @return the size, or 0 for NULL or a pointer dslab did not hand out
 *   (reported in the log, rte_errno = EINVAL).
 * Thread safety: any thread.
 */
size_t dslab_ksize(const void *obj);

/**
 * Allocate @p size bytes: from the kmalloc size classes up to
 * DSLAB_KMALLOC_MAX_SIZE, from a separately mapped region above.
 * @return memory or NULL with rte_errno (as dslab_kmalloc_node()).
 * Thread safety: any thread.
 */
void *dslab_kvmalloc(size_t size, unsigned flags);

/**
 * Free memory from dslab_kvmalloc(), dslab_kmalloc() or any cache. NULL is a
 * no-op; a pointer dslab never handed out is reported and not followed.
 * Thread safety: any thread.
 */
void dslab_kvfree(const void *obj);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* DSLAB_H */
