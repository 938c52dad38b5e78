/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Statistics and telemetry. Counters are kept per lcore without atomic
 * read-modify-write (internal.h stat_add(), dslab_pcs.h DSLAB_STAT_ADD_) and
 * summed here with relaxed loads. objects_in_use is derived: objects handed
 * out by every alloc path minus objects taken back by every free path.
 *
 * Telemetry commands (registered once, at the first dslab_init()):
 *   /dslab/list            names of all caches, kmalloc classes included
 *   /dslab/info,<cache>    that cache's counters and gauges
 * They run on DPDK's telemetry thread and hold registry_lock, so a cache
 * cannot be destroyed under them.
 */
#include <cstring>

#include <rte_telemetry.h>

#include "internal.h"

namespace dslab {
namespace {

inline uint64_t rd(const uint64_t &v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

int tel_list(const char *, const char *, struct rte_tel_data *d)
{
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	registry_lock();
	for (dslab_cache_impl *c = registry_first(); c != nullptr; c = c->next)
		rte_tel_data_add_array_string(d, c->name);
	registry_unlock();
	return 0;
}

int tel_info(const char *, const char *params, struct rte_tel_data *d)
{
	if (params == nullptr || params[0] == '\0')
		return -EINVAL;
	int rc = -ENOENT;
	registry_lock();
	for (dslab_cache_impl *c = registry_first(); c != nullptr; c = c->next) {
		if (strcmp(c->name, params) != 0)
			continue;
		struct dslab_cache_stats s;
		stats_read(c, &s);
		rte_tel_data_start_dict(d);
		rte_tel_data_add_dict_string(d, "name", c->name);
#define DSLAB_TEL_ADD_(name, doc) rte_tel_data_add_dict_u64(d, #name, s.name);
		DSLAB_STATS_FIELDS(DSLAB_TEL_ADD_)
#undef DSLAB_TEL_ADD_
		rte_tel_data_add_dict_u64(d, "objects_in_use", s.objects_in_use);
		rte_tel_data_add_dict_u64(d, "objects_pending_rcu", s.objects_pending_rcu);
		rte_tel_data_add_dict_u64(d, "objects_deferred", s.objects_deferred);
		rte_tel_data_add_dict_u64(d, "objects_in_transit", s.objects_in_transit);
		rte_tel_data_add_dict_u64(d, "objects_in_sheaves", s.objects_in_sheaves);
		rte_tel_data_add_dict_u64(d, "slabs", s.slabs);
		rte_tel_data_add_dict_u64(d, "bytes_held", s.bytes_held);
		rte_tel_data_add_dict_u64(d, "object_size", s.object_size);
		rte_tel_data_add_dict_u64(d, "sheaf_capacity", s.sheaf_capacity);
		rc = 0;
		break;
	}
	registry_unlock();
	return rc;
}

} // namespace

/* An lcore's kfree_rcu() objects put in rcu sheaves (see
 * dslab_pcs.free_rcu_sheaf): the submitted ones and the open sheaf's, read
 * inside the seqcount. A few tries; an owner preempted in the middle of a
 * submit costs at most a sheaf counted twice or not at all, in this read. */
static uint64_t rcu_sheaf_objects(const dslab_pcs *p)
{
	uint64_t n = 0;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t q = __atomic_load_n(&p->rcu_seq, __ATOMIC_ACQUIRE);
		n = rd(p->free_rcu_sheaf) + __atomic_load_n(&p->rcu_size, __ATOMIC_RELAXED) +
		    __atomic_load_n(&p->rcu_nl, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((q & 1) == 0 && __atomic_load_n(&p->rcu_seq, __ATOMIC_RELAXED) == q)
			break;
		rte_pause();
	}
	return n;
}

/* An lcore's allocations from its main sheaf, which no fast path counts:
 * alloc_base + free_cpu_sheaf - main_size, read inside main_seq (dslab_pcs.h,
 * top); *frees: the free_cpu_sheaf read with them. The counter is loaded
 * before main_size and a free stores it after, so a read while the lcore
 * runs can come out short by the frees in flight (even below 0), never over.
 * What is returned is the most ever read (alloc_seen), so that the count
 * never goes back; when the owner stays in a slow path through every try,
 * that is all that is returned. */
static uint64_t main_allocs(const dslab_cache_impl *c, unsigned lc, uint64_t *frees)
{
	const dslab_pcs *p = &c->pub->pcs[lc];
	uint64_t *seen = &c->stats[lc].alloc_seen;
	uint64_t prev = __atomic_load_n(seen, __ATOMIC_RELAXED);

	for (int tries = 0; tries < 64; tries++) {
		uint32_t q = __atomic_load_n(&p->main_seq, __ATOMIC_ACQUIRE);
		uint64_t f = __atomic_load_n(&p->free_cpu_sheaf, __ATOMIC_ACQUIRE);
		uint64_t m = __atomic_load_n(&p->main_size, __ATOMIC_RELAXED);
		uint64_t b = __atomic_load_n(&p->alloc_base, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((q & 1) != 0 || __atomic_load_n(&p->main_seq, __ATOMIC_RELAXED) != q) {
			rte_pause();
			continue;
		}
		*frees = f;
		const uint64_t a = b + f - m;
		/* Signed: a read short by frees in flight may be below 0. */
		while ((int64_t)a > (int64_t)prev)
			if (__atomic_compare_exchange_n(seen, &prev, a, false, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				return a;
		return prev;
	}
	*frees = rd(p->free_cpu_sheaf);
	return prev;
}

void stats_read(const dslab_cache_impl *c, struct dslab_cache_stats *s)
{
	uint64_t v[NR_STATS] = {};

	memset(s, 0, sizeof(*s));
	for (unsigned lc = 0; lc <= RTE_MAX_LCORE; lc++)
		for (unsigned i = 0; i < NR_STATS; i++)
			v[i] += rd(c->stats[lc].v[i]);
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++) {
		uint64_t frees;
		v[STAT_alloc_cpu_sheaf] += main_allocs(c, lc, &frees);
		v[STAT_free_cpu_sheaf] += frees;
		v[STAT_free_rcu_sheaf] += rcu_sheaf_objects(&c->pub->pcs[lc]);
		v[STAT_free_nolock] += rd(c->pub->pcs[lc].free_nolock);
		v[STAT_free_remote_ring] += rd(c->pub->pcs[lc].free_remote_ring);
	}
#define DSLAB_STAT_COPY_(name, doc) s->name = v[STAT_##name];
	DSLAB_STATS_FIELDS(DSLAB_STAT_COPY_)
#undef DSLAB_STAT_COPY_
	uint64_t allocs = s->alloc_cpu_sheaf + s->alloc_slowpath + s->alloc_node_remote +
			  s->alloc_from_sheaf + s->alloc_nolock;
	uint64_t rcu = s->free_rcu_sheaf + s->free_rcu_sheaf_fail;
	uint64_t frees = s->free_cpu_sheaf + s->free_slowpath + s->free_remote_node + rcu +
			 s->free_nolock + s->free_remote_ring;
	s->objects_in_use = allocs - frees;
	s->objects_pending_rcu = rcu - s->rcu_reclaimed;
	s->objects_deferred = s->free_nolock_deferred - s->free_deferred_done;
	s->objects_in_transit = s->free_remote_ring - s->remote_ring_full - s->remote_ring_drained;
	uint64_t out_of_slabs = 0;
	for (int sk = 0; sk < RTE_MAX_NUMA_NODES; sk++) {
		Node *nd = c->node[sk];
		if (nd == nullptr)
			continue;
		Guard<SpinLock> g(nd->lock);
		out_of_slabs += nd->inuse;
		s->slabs += nd->nr_slabs;
		s->bytes_held += nd->bytes;
	}
	/* Read while lcores run, the counts are not one snapshot. */
	uint64_t held = s->objects_in_use + s->objects_pending_rcu + s->objects_in_transit;
	s->objects_in_sheaves = out_of_slabs > held ? out_of_slabs - held : 0;
	s->object_size = c->size;
	s->sheaf_capacity = c->capacity;
}

void telemetry_init()
{
	static bool done;
	if (done)
		return;
	done = true;
	rte_telemetry_register_cmd("/dslab/list", tel_list, "List dslab caches. Takes no parameters");
	rte_telemetry_register_cmd("/dslab/info", tel_info,
				   "Counters of a dslab cache. Parameters: cache name");
}

} // namespace dslab

extern "C" int dslab_cache_stats(const struct dslab_cache *cache, struct dslab_cache_stats *stats)
{
	if (!dslab::valid_cache(cache) || stats == nullptr)
		return dslab::fail(EINVAL);
	dslab::stats_read(cache->impl, stats);
	return 0;
}
