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
 * Counting (per cache): free_remote_ring when batched (the user's free),
 * remote_ring_full or remote_ring_drained when the object reaches its slab;
 * objects_in_transit is the difference.
 */
/* The C11 (__atomic) variant of rte_ring's inline functions: the same ring
 * protocol, and one ThreadSanitizer can see (the generic variant's volatile
 * accesses and compiler barriers it cannot). Only this file touches the
 * home rings. */
#define RTE_USE_C11_MEM_MODEL 1

#include <cstdio>

#include <rte_cycles.h>
#include <rte_ring.h>

#include "internal.h"

namespace dslab {
namespace {

constexpr uint32_t kBatch = 32;
constexpr unsigned kDrainBurst = 64;

/* One lcore's batches: written by the owner only (and by fini and the lcore
 * uninit callback, when it cannot run). */
struct alignas(RTE_CACHE_LINE_SIZE) Batches {
	uint64_t nonempty; /* bit per socket */
	uint32_t n[RTE_MAX_NUMA_NODES];
	void *objs[RTE_MAX_NUMA_NODES][kBatch];
};
static_assert(RTE_MAX_NUMA_NODES <= 64, "socket bitmask");
Batches g_batch[RTE_MAX_LCORE];

rte_ring *g_ring[RTE_MAX_NUMA_NODES];
bool g_use_ring;

/* Drains between their dequeue and the objects' arrival in a sheaf or
 * slab: a barrier waits for them (R6 on decrement, A6 in the barrier), so
 * that no lcore still holds a destroyed cache's object, nor touches its
 * sheaves, once the barrier returns. */
std::atomic<uint32_t> g_draining{0};

/* Put n objects (any caches) into their slabs, a run of one cache and
 * socket at a time, counting them under st. */
void to_slabs(void *const *objs, unsigned n, unsigned lc, Stat st)
{
	unsigned i = 0;
	while (i < n) {
		Chunk *ch = pm_chunk(objs[i]);
		dslab_cache_impl *c = ch->impl;
		int socket = ch->socket;
		unsigned j = i + 1;
		while (j < n) {
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

void send(unsigned lc, int socket)
{
	Batches &b = g_batch[lc];
	unsigned n = b.n[socket];

	b.n[socket] = 0;
	b.nonempty &= ~(1ull << socket);
	if (n == 0)
		return;
	if (rte_ring_enqueue_bulk(g_ring[socket], b.objs[socket], n, nullptr) == n)
		return;
	/* Ring full: the slabs, under their lock; nothing waits for a drain. */
	to_slabs(b.objs[socket], n, lc, STAT_remote_ring_full);
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
		Chunk *ch = pm_chunk(objs[i]);
		if (!pcs_take_home(ch->impl, lc, objs[i]))
			node_free(ch->impl, ch->socket, 1, &objs[i]);
		stat_add(ch->impl, lc, STAT_remote_ring_drained, 1);
	}
}

} // namespace

int remote_init(uint32_t mode, uint32_t ring_size)
{
	if (mode > DSLAB_REMOTE_DIRECT || (ring_size != 0 && !rte_is_power_of_2(ring_size)))
		return -EINVAL;
	/* Default: ring batches (bench/README.md, remote free). */
	g_use_ring = mode != DSLAB_REMOTE_DIRECT && topo_socket_count() > 1;
	if (!g_use_ring)
		return 0;
	if (ring_size == 0)
		ring_size = 8192;
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
	}
	return 0;
}

void remote_fini()
{
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++)
		remote_flush(lc);
	remote_drain_all(rte_lcore_id());
	for (auto &r : g_ring) {
		rte_ring_free(r);
		r = nullptr;
	}
	g_use_ring = false;
}

/* Inline here: dslab_free_other_() below is the common caller. */
inline bool send_one(dslab_cache_impl *c, unsigned lc, void *obj, int socket)
{
	if (!g_use_ring || g_ring[socket] == nullptr)
		return false;
	Batches &b = g_batch[lc];
	uint32_t n = b.n[socket];
	b.objs[socket][n] = obj;
	b.n[socket] = n + 1;
	b.nonempty |= 1ull << socket;
	stat_add(c, lc, STAT_free_remote_ring, 1);
	if (n + 1 == kBatch)
		send(lc, socket);
	return true;
}

bool remote_send(dslab_cache_impl *c, unsigned lc, void *obj, int socket)
{
	return send_one(c, lc, obj, socket);
}

void remote_flush(unsigned lc)
{
	if (lc >= RTE_MAX_LCORE)
		return;
	Batches &b = g_batch[lc];
	if (b.nonempty == 0)
		return;
	while (b.nonempty != 0)
		send(lc, __builtin_ctzll(b.nonempty));
}

void remote_drain_wait()
{
	while (g_draining.load(std::memory_order_acquire) != 0) /* A6 */
		sched_yield();
}

bool remote_waiting(int socket)
{
	rte_ring *r = g_ring[socket];
	/* rte_ring_empty() with atomic loads: a hint, checked again by the
	 * dequeue. */
	return r != nullptr && __atomic_load_n(&r->prod.tail, __ATOMIC_RELAXED) !=
				       __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);
}

unsigned remote_drain(int socket, unsigned lc, unsigned max)
{
	rte_ring *r = g_ring[socket];
	if (r == nullptr || !remote_waiting(socket))
		return 0;
	void *objs[kDrainBurst];
	unsigned done = 0;
	g_draining.fetch_add(1, std::memory_order_acq_rel);
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
	g_draining.fetch_sub(1, std::memory_order_release); /* R6 */
	return done;
}

void remote_drain_all(unsigned lc)
{
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
		remote_drain(s, lc, UINT32_MAX);
}

} // namespace dslab

using namespace dslab;

extern "C" void dslab_free_other_(struct dslab_cache *cache, void *obj, uintptr_t e)
{
	/* A remote free on an lcore with sheaves, in ring mode, takes this
	 * short way: the page map already proved obj is one of cache's (its
	 * chunk names the cache). Everything else: the full slow path. */
	Chunk *ch = reinterpret_cast<Chunk *>(e & ~(uintptr_t)DSLAB_PM_TAG_MASK);
	unsigned lc = rte_lcore_id();
	if (likely(ch != nullptr && ch->pub.cache == cache && lc < RTE_MAX_LCORE)) {
		dslab_pcs *p = &cache->pcs[lc];
		if (p->socket_tag != 0 && (e & DSLAB_PM_TAG_MASK) != p->socket_tag) {
			uint32_t prev = dslab_enter_();
			bool sent = send_one(cache->impl, lc, obj, ch->socket);
			dslab_leave_(prev);
			if (likely(sent))
				return;
		}
	}
	dslab_free_slow(cache, obj);
}
