/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Remote frees: an lcore's free of another socket's object never enters its
 * sheaves (the sheaves' invariant); it goes home. In ring mode the freeing
 * lcore batches objects per home socket (kBatch) and sends a full batch
 * with one rte_ring enqueue into the home socket's ring; that socket's
 * lcores drain the ring into their own sheaves (where their next
 * allocations look first; barn and slabs take the overflow as for a local
 * free) in their slow paths (before refilling from slabs) and in
 * dslab_quiescent(); a barrier drains every ring into the slabs. In direct mode the object goes
 * straight into the home socket's slabs under their lock.
 *
 * Nothing is lost: a full ring sends the batch to the slabs directly; a
 * socket with no EAL lcore has no one to drain its ring, so its objects go
 * direct; a partly filled batch is sent at the owner's dslab_quiescent(),
 * when a barrier asks (online readers only: barriers cover exactly those),
 * and when the lcore stops; a barrier drains every ring and waits for
 * drains under way.
 * Objects in a batch or a ring are outside the slabs (Node::inuse), so a
 * destroy that finds some reports them as in use and keeps the memory (the
 * late arrivals then land in kept slabs), never frees it under them.
 *
 * Late arrivals: the batch of an lcore that is not online in dslab's QSBR
 * (no barrier asks it) can be sent, and drained, while a destroy reaps the
 * cache after its barrier. The reap owns the cache's sheaves and stats, so:
 *  - sends that go to the slabs count in g_drains as drains do;
 *  - remote_reap_begin() marks the cache dying, then waits for the drains
 *    that may not have seen the mark: later ones put its objects into its
 *    slabs (pcs_take_home() refuses them), never into the sheaves the reap
 *    flushes;
 *  - node_destroy() reads the node under its lock, so an object lands
 *    either before (counted home) or after (counted in use: the memory is
 *    kept, the arrival lands in it);
 *  - a reap that frees the cache first waits once more, for a drain or send
 *    still counting the cache's last object in its stats.
 * A destroy still reports such objects as leaked (they were not home when
 * it looked): hence the rule in dslab_cache_destroy()'s documentation.
 *
 * Batches (struct dslab_remote_lcore, dslab_pcs.h): the inline free appends
 * to them (and counts in pcs.free_remote_ring); dslab_free_other_() fills
 * a batch's last slot and sends it.
 *
 * Counting (per cache): free_remote_ring when batched (the user's free),
 * remote_ring_full or remote_ring_drained when the object reaches its slab;
 * objects_in_transit is the difference.
 *
 * kfree_rcu_nolock of another socket's object, on an lcore online in
 * dslab's QSBR (the lcores a barrier asks to send their batches), travels
 * the same way as an rcu entry (kRcuEntry): its head, whose grace period
 * has not started. Whoever drains it (or a full ring) hands it to
 * kfree_rcu's fallback batches (rcu_take_home() in rcu.cpp, which says
 * why a barrier covers it). It counts as a
 * deferred free (free_nolock_deferred, and free_rcu_remote_ring) until
 * then (free_deferred_done, then the kfree_rcu path's counter); not in
 * the remote counters nor in objects_in_transit.
 */
/* The C11 (__atomic) variant of rte_ring's inline functions: the same ring
 * protocol, and one ThreadSanitizer can see (the generic variant's volatile
 * accesses and compiler barriers it cannot). Only this file touches the
 * home rings. */
#define RTE_USE_C11_MEM_MODEL 1

#include <cstdio>
#include <cstring>

#include <rte_cycles.h>
#include <rte_ring.h>

#include "internal.h"

namespace dslab {
namespace {

constexpr uint32_t kBatch = DSLAB_REMOTE_BATCH;
constexpr unsigned kDrainBurst = 64;
/* The default ring holds 64 batches (minus one slot): bursts from many
 * lcores of other sockets fit before senders fall back to the slabs. */
constexpr uint32_t kDefaultRingBatches = 64;
static_assert(((kDefaultRingBatches * kBatch) & (kDefaultRingBatches * kBatch - 1)) == 0,
	      "rte_ring sizes are powers of two");
static_assert(kBatch >= 2, "the inline path fills all slots but the last");
static_assert(RTE_MAX_NUMA_NODES <= DSLAB_PM_VALID, "a batch per socket of the page-map tag");

rte_ring *g_ring[RTE_MAX_NUMA_NODES];
/* The sockets with a ring, for remote_flush(). */
int g_ring_socket[RTE_MAX_NUMA_NODES];
unsigned g_nring;
/* The socket lcore id lc's batches are armed for (every socket with a ring
 * but that one), or kUnarmed: all of its next[] are NULL until its first
 * batched free arms them, on the lcore itself under its busy mark (arm()).
 * Lazily, because a non-EAL thread's socket is known only once it runs
 * (rte_thread_register() takes it from the thread's affinity), and an lcore
 * id released by one thread (lcore_uninit(), remote_lcore_release()) may be
 * given to a thread on another node. Written by its lcore, and by init,
 * fini and the lcore uninit callback when it cannot run. */
constexpr int kUnarmed = -1;
int g_home[RTE_MAX_LCORE];

inline void **&next_of(unsigned lc, int socket)
{
	return dslab_remote_lcores[lc].next[DSLAB_PM_TAG(socket)];
}

/* The slot an empty batch fills first (its top). */
inline void **batch_top(unsigned lc, int socket)
{
	return &dslab_remote_lcores[lc].objs[socket][kBatch - 1];
}

/* Arm lcore lc's batches for the socket it runs on now (the one
 * pcs_ready() gives its sheaves). Its batches are empty and unarmed. */
void arm(unsigned lc)
{
	const int home = topo_lcore_socket(lc);
	for (unsigned i = 0; i < g_nring; i++)
		if (g_ring_socket[i] != home)
			next_of(lc, g_ring_socket[i]) = batch_top(lc, g_ring_socket[i]);
	g_home[lc] = home;
}

/* Lcore lc holds objects in its batch for socket (batched, not empty). */
inline bool batch_holds(unsigned lc, int socket)
{
	void **next = next_of(lc, socket);
	return next != nullptr && next != batch_top(lc, socket);
}

/* Drains between their dequeue and the objects' arrival in a sheaf or
 * slab, and sends into the slabs: a barrier waits for them, so that no
 * lcore still holds a destroyed cache's object, nor touches its sheaves,
 * once the barrier returns; a reap waits for them too (late arrivals,
 * above). Two phases (PhaseCount): home lcores draining all the time cannot
 * starve the waiter. */
PhaseCount g_drains;

/* A ring entry with bit 0 set is a struct dslab_rcu_head * of a
 * kfree_rcu_nolock whose grace period has not started (head->obj names the
 * object); the others are objects. */
constexpr uintptr_t kRcuEntry = 1;

inline bool is_rcu(const void *entry) { return (uintptr_t)entry & kRcuEntry; }

inline void rcu_home(void *entry, unsigned lc)
{
	auto *h = reinterpret_cast<dslab_rcu_head *>((uintptr_t)entry & ~kRcuEntry);
	rcu_take_home(h->obj, h, lc);
}

/* Put n entries (any caches) where they go without a home lcore: objects
 * into their slabs, a run of one cache and socket at a time, counted under
 * st; rcu entries to kfree_rcu's fallback (a barrier covers it). */
void to_slabs(void *const *objs, unsigned n, unsigned lc, Stat st)
{
	unsigned i = 0;
	while (i < n) {
		if (is_rcu(objs[i])) {
			rcu_home(objs[i++], lc);
			continue;
		}
		Chunk *ch = pm_chunk(objs[i]);
		dslab_cache_impl *c = ch->impl;
		int socket = ch->socket;
		unsigned j = i + 1;
		while (j < n && !is_rcu(objs[j])) {
			Chunk *cj = pm_chunk(objs[j]);
			if (cj->impl != c || cj->socket != socket)
				break;
			j++;
		}
		node_free(c, socket, j - i, objs + i);
		stat_add(c, lc, st, j - i);
		i = j;
	}
}

/* Write prefetches: PREFETCHW where the CPU has it (cpu_has_prefetchw()),
 * else a plain prefetch. */
bool g_prefetchw;

inline void prefetch_for_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	if (g_prefetchw) {
		asm volatile("prefetchw %0" : : "m"(*(const char *)p));
		return;
	}
	__builtin_prefetch(p, 0, 3);
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* Fetch the ring lines the next batch's enqueue will write, while that
 * batch fills: the home socket's drain read them last, and taking them back
 * at the enqueue stalls the sender for a cache-line transfer. Where a
 * transfer takes 200 ns, this took a remote free in batches of 128 from 4.5
 * to 3.9 ns (bench/RESULTS.md). Another sender may take those slots first:
 * then it is a wasted hint, nothing more. */
void prefetch_next_batch(const rte_ring *r)
{
	uint32_t head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
	void *const *slots = reinterpret_cast<void *const *>(&r[1]);

	for (uint32_t i = 0; i < kBatch; i += RTE_CACHE_LINE_SIZE / sizeof(void *))
		prefetch_for_write(&slots[(head + i) & r->mask]);
}

/* Send the lcore's batch for socket home, full or not: its objects are
 * the slots above next, or all of them when `full` (next is slot 0 and
 * holds the last object). It is empty after. */
void send(unsigned lc, int socket, bool full = false)
{
	void **&next = next_of(lc, socket);
	void **objs = full ? next : next + 1;
	unsigned n = (unsigned)(batch_top(lc, socket) + 1 - objs);

	if (n == 0)
		return;
	next = batch_top(lc, socket);
	/* Multi-producer: any lcore of another socket sends here. */
	if (rte_ring_mp_enqueue_bulk(g_ring[socket], objs, n, nullptr) == n) {
		prefetch_next_batch(g_ring[socket]);
		return;
	}
	/* Ring full: the slabs, under their lock; nothing waits for a drain.
	 * Counted as a drain: a reap waits for it (late arrivals, above). */
	const uint32_t phase = g_drains.enter();
	to_slabs(objs, n, lc, STAT_remote_ring_full);
	g_drains.exit(phase);
}

/* Objects of the calling lcore's socket, home: into its sheaves (where
 * its next allocations look first), else into their slabs. */
void to_home(void *const *objs, unsigned n, unsigned lc)
{
	if (lc >= RTE_MAX_LCORE) {
		to_slabs(objs, n, lc, STAT_remote_ring_drained);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (is_rcu(objs[i])) {
			rcu_home(objs[i], lc);
			continue;
		}
		/* Nothing of the chunk after node_free(): it may give the
		 * chunk back, descriptor and all. */
		Chunk *ch = pm_chunk(objs[i]);
		dslab_cache_impl *c = ch->impl;
		if (!pcs_take_home(c, lc, objs[i]))
			node_free(c, ch->socket, 1, &objs[i]);
		stat_add(c, lc, STAT_remote_ring_drained, 1);
	}
}

} // namespace

int remote_init(uint32_t mode, uint32_t ring_size)
{
	if (mode > DSLAB_REMOTE_DIRECT || (ring_size != 0 && !rte_is_power_of_2(ring_size)))
		return -EINVAL;
	/* Default: ring batches (README.md, remote free). */
	if (mode == DSLAB_REMOTE_DIRECT || topo_socket_count() <= 1)
		return 0;
	if (ring_size == 0)
		ring_size = kDefaultRingBatches * kBatch;
	g_prefetchw = cpu_has_prefetchw();
	g_nring = 0;
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		if (!topo_socket_has_lcores(s))
			continue;
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "dslab_home_%d", s);
		int node = topo_numa_node(s);
		/* Multi-producer (any lcore frees), multi-consumer (the
		 * socket's lcores and barriers drain). */
		g_ring[s] = rte_ring_create(name, ring_size, node >= 0 ? node : SOCKET_ID_ANY, 0);
		if (g_ring[s] == nullptr) {
			DSLAB_LOG(ERR, "could not create ring %s (%u slots): %s", name, ring_size,
				  rte_strerror(rte_errno));
			remote_fini();
			return -ENOMEM;
		}
		g_ring_socket[g_nring++] = s;
	}
	/* Every lcore id batches for every socket with a ring but its own (a
	 * socket without lcores has no ring: its objects go to its slabs
	 * directly), armed at its first batched free (arm()). */
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
		memset(dslab_remote_lcores[lc].next, 0, sizeof(dslab_remote_lcores[lc].next));
		g_home[lc] = kUnarmed;
	}
	return 0;
}

void remote_fini()
{
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
		remote_flush(lc);
		/* Disarm: frees after fini take the slow path. */
		memset(dslab_remote_lcores[lc].next, 0, sizeof(dslab_remote_lcores[lc].next));
		g_home[lc] = kUnarmed;
	}
	remote_drain_all(rte_lcore_id());
	for (auto &r : g_ring) {
		rte_ring_free(r);
		r = nullptr;
	}
	g_nring = 0;
}

/* Append obj to the lcore's batch for its socket (tag t), sending a full
 * batch; false when t is not batched here. Busy mark held. */
inline bool batch_append(unsigned lc, uintptr_t t, void *obj)
{
	void **&next = dslab_remote_lcores[lc].next[t];
	if (next == nullptr && unlikely(g_home[lc] == kUnarmed))
		arm(lc);
	if (next == nullptr)
		return false; /* not batched: direct mode, no ring, own socket */
	*next = obj;
	int socket = (int)(t - DSLAB_PM_VALID);
	if (next == &dslab_remote_lcores[lc].objs[socket][0])
		send(lc, socket, true);
	else
		next--;
	return true;
}

bool remote_send_rcu(unsigned lc, uintptr_t tag, dslab_rcu_head *head, bool may_send)
{
	static_assert(alignof(dslab_rcu_head) > kRcuEntry, "bit 0 of a head is free");
	void **next = dslab_remote_lcores[lc].next[tag];
	if (next == nullptr && g_home[lc] == kUnarmed) {
		arm(lc);
		next = dslab_remote_lcores[lc].next[tag];
	}
	if (next == nullptr || (!may_send && (uintptr_t)next % (kBatch * sizeof(void *)) == 0))
		return false;
	return batch_append(lc, tag, reinterpret_cast<void *>((uintptr_t)head | kRcuEntry));
}

bool remote_send(dslab_cache_impl *c, unsigned lc, void *obj, int socket)
{
	if (lc >= RTE_MAX_LCORE || !batch_append(lc, DSLAB_PM_TAG(socket), obj))
		return false;
	stat_add(c, lc, STAT_free_remote_ring, 1);
	return true;
}

void remote_flush(unsigned lc)
{
	if (lc >= RTE_MAX_LCORE)
		return;
	for (unsigned i = 0; i < g_nring; i++)
		if (batch_holds(lc, g_ring_socket[i]))
			send(lc, g_ring_socket[i]);
}

void remote_lcore_release(unsigned lc)
{
	remote_flush(lc);
	/* Empty now: the next thread given this id arms them for its own
	 * socket. */
	memset(dslab_remote_lcores[lc].next, 0, sizeof(dslab_remote_lcores[lc].next));
	g_home[lc] = kUnarmed;
}

void remote_drain_wait()
{
	g_drains.flip_and_wait("barrier or cache reap: a drain of a home ring");
}

void remote_reap_begin(dslab_cache_impl *c)
{
	/* A drain that enters after the flip reads the phase it stored
	 * (acquire), so it sees the mark; those before it are waited for. */
	__atomic_store_n(&c->dying, true, __ATOMIC_RELAXED);
	g_drains.flip_and_wait("cache reap: a drain of a home ring");
}

bool remote_waiting(int socket)
{
	rte_ring *r = g_ring[socket];
	/* rte_ring_empty() with atomic loads: a hint, checked again by the
	 * dequeue. */
	return r != nullptr && __atomic_load_n(&r->prod.tail, __ATOMIC_RELAXED) !=
				       __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);
}

bool remote_idle(unsigned lc)
{
	for (unsigned i = 0; i < g_nring; i++)
		if (batch_holds(lc, g_ring_socket[i]))
			return false;
	const int home = g_home[lc];
	if (likely(home != kUnarmed))
		return !remote_waiting(home);
	/* No batched free yet: the socket it will be armed for. */
	return g_nring == 0 || !remote_waiting(topo_lcore_socket(lc));
}

unsigned remote_drain(int socket, unsigned lc, unsigned max)
{
	rte_ring *r = g_ring[socket];
	if (r == nullptr || !remote_waiting(socket))
		return 0;
	void *objs[kDrainBurst];
	unsigned done = 0;
	const uint32_t phase = g_drains.enter();
	while (done < max) {
		unsigned n = rte_ring_dequeue_burst(r, objs, RTE_MIN(kDrainBurst, max - done), nullptr);
		if (n == 0)
			break;
		if (lc < RTE_MAX_LCORE && topo_lcore_socket(lc) == socket)
			to_home(objs, n, lc);
		else
			to_slabs(objs, n, lc, STAT_remote_ring_drained);
		done += n;
	}
	g_drains.exit(phase);
	return done;
}

/* rte_ring_count() with atomic loads, as remote_waiting(): drains store
 * cons.tail meanwhile (and ThreadSanitizer sees plain loads race them). */
unsigned ring_held(const rte_ring *r)
{
	uint32_t n = (__atomic_load_n(&r->prod.tail, __ATOMIC_RELAXED) -
		      __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED)) & r->mask;
	return RTE_MIN(n, r->capacity);
}

void remote_drain_all(unsigned lc)
{
	/* What each ring holds now: all a barrier needs (the lcores it asked
	 * sent their batches before answering), and a bound under senders
	 * that keep refilling it. */
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
		if (g_ring[s] != nullptr)
			remote_drain(s, lc, ring_held(g_ring[s]));
}

} // namespace dslab

using namespace dslab;

struct dslab_remote_lcore dslab_remote_lcores[RTE_MAX_LCORE];

extern "C" void dslab_free_other_(struct dslab_cache *cache, void *obj, uintptr_t e)
{
	/* The inline free could not push. A batch's last slot is done here
	 * (it sends the batch); everything else takes the full slow path. */
	unsigned lc = rte_lcore_id();
	uintptr_t t = e & DSLAB_PM_TAG_MASK;
	/* A tag not batched here stays so once the lcore's batches are
	 * armed (only its own lcore arms them, and the uninit callback
	 * disarms them when it has left): no mark needed to see it. */
	if (likely(lc < RTE_MAX_LCORE &&
		   (dslab_remote_lcores[lc].next[t] != nullptr || g_home[lc] == kUnarmed))) {
		uint32_t prev = dslab_enter_();
		bool sent = batch_append(lc, t, obj);
		if (likely(sent))
			DSLAB_STAT_ADD_(cache->pcs[lc].free_remote_ring, 1);
		dslab_leave_(prev);
		if (likely(sent))
			return;
	}
	dslab_free_slow(cache, obj);
}
