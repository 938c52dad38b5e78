/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * dslab_kfree_rcu_bench: retiring objects under QSBR, dslab against its
 * peers, in one binary and one run.
 *
 * BM_Retire/<peer>/<slots>: the writer (main lcore 0) allocates a 64 B
 * object, publishes it in a slot and retires the one it replaces; a reader
 * lcore (lcore 1, the other core) loads a slot and reads its object 64
 * times between quiescent reports. Slots: 1 (every retire and every read
 * on one pointer) or 1024 (a table: the writer replaces slot i % 1024, the
 * reader reads 64 slots spread over it). The writer publishes with a store
 * release (publish()). Figures: retires per second (items) and the most
 * objects waiting for a grace period (peak_pending, sampled every 4093
 * retires; for dslab also the mean, the median and the 99th percentile of
 * the samples, in objects and sheaves, the percentage of samples over 4
 * sheaves (over4_pct), and per sheaf's worth retired the sheaves refilled
 * from and flushed to slabs and the barn operations). Peers:
 *   dslab_kfree_rcu  dslab_kfree_rcu() into the lcore's rcu sheaf; writer and
 *                    reader are online dslab readers calling dslab_quiescent()
 *                    (the writer every 64 retires).
 *   dslab_kfree_rcu_max4  the same with dslab_rcu_set_max_pending(4) on the
 *                    writer: at most 4 sheaves' worth waits; the writer waits
 *                    (reporting its own quiescent state) when the reader is
 *                    late (bound_waits: such waits per sheaf's worth retired).
 *   dslab_kfree_rcu_q4  the same with dslab_rcu_set_quiescent_bound(4): the
 *                    writer's dslab_quiescent() (every 64 retires) waits
 *                    instead, kfree_rcu never does (bound_waits likewise).
 *   dslab_free       the same loop, reader included, with a plain dslab_free()
 *                    (no grace period): the cost baseline of kfree_rcu.
 *   qsbr_dq          rte_rcu_qsbr_dq (DPDK's defer queue, one token per
 *                    object) freeing to an rte_mempool (cache 512); a full
 *                    queue is reclaimed and the enqueue retried.
 *   naive_batch32    32 objects, rte_rcu_qsbr_synchronize(), put_bulk.
 *   liburcu          liburcu-qsbr call_rcu() freeing with free(); reader and
 *                    writer registered, rcu_quiescent_state() as the report.
 * BM_Barrier/<kind>/<caches>: with 1, 16 or 256 caches alive, each with
 * objects waiting in rcu sheaves, the time of dslab_rcu_barrier_on_cache()
 * on one cache (after retiring 4 objects into it) against
 * dslab_rcu_barrier(); the reader lcore keeps reporting meanwhile.
 *
 * --smoke: a tiny run for `meson test --suite bench`.
 * --sheaf-capacity=N: BM_Retire's dslab cache with N objects per sheaf
 *   (main, spare and rcu sheaves alike) instead of the size-based default.
 */
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include <dslab.h>
#include <dslab_rcu.h>

#include "line_latency.h"

#if DSLAB_BENCH_HAVE_URCU
#include <urcu-qsbr.h>
#endif

namespace {

constexpr unsigned kReader = 1;
constexpr unsigned kReadsPerReport = 64;
/* Pending samples: a prime period, so that the samples do not always fall
 * at one phase of the sheaf (128) and quiescent (64) cycles. */
constexpr unsigned kSample = 4093;

bool g_smoke;
uint64_t g_retires = 1u << 20; /* per iteration */
uint32_t g_sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO; /* BM_Retire's cache */

struct Obj {
	uint64_t payload[5];
	struct dslab_rcu_head rh;
#if DSLAB_BENCH_HAVE_URCU
	struct rcu_head uh;
#endif
};

/* ---- the reader lcore ---------------------------------------------------- */

/* The published objects: slot 0 alone (BM_Retire/<peer>/1: every retire
 * takes the line the reader is reading) or a table of kMaxSlots (/1024: a
 * route or hash table under update; the writer walks it in order, the reader
 * reads 64 slots spread over it between reports). */
constexpr unsigned kMaxSlots = 1024;
alignas(64) std::atomic<Obj *> g_slots[kMaxSlots];
std::atomic<unsigned> g_mask; /* slots - 1 */
/* The writer's update of a slot: it is the slots' only writer, so it reads
 * the old pointer with a plain load and publishes the new one with a store
 * release, as rcu_assign_pointer() does under the updater's lock. (An
 * exchange, a locked instruction, would stall the writer for the line's
 * transfer from the reader on every retire, whatever the peer: the loop's
 * rate would then be the machine's line transfer, not the retire cost.) */
inline Obj *publish(std::atomic<Obj *> &slot, Obj *o)
{
	Obj *old = slot.load(std::memory_order_relaxed);
	slot.store(o, std::memory_order_release);
	return old;
}
std::atomic<bool> g_stop;
std::atomic<int> g_ready;
struct rte_rcu_qsbr *g_v; /* the DPDK peers' QSBR variable */

enum class Report { Dslab, Qsbr, Urcu };

int reader(void *arg)
{
	Report how = *static_cast<Report *>(arg);
	uint64_t sum = 0;

	if (how == Report::Dslab)
		dslab_rcu_online();
	else if (how == Report::Qsbr)
		rte_rcu_qsbr_thread_online(g_v, kReader);
#if DSLAB_BENCH_HAVE_URCU
	else
		rcu_register_thread();
#endif
	const unsigned mask = g_mask.load();
	unsigned at = 0;
	g_ready.store(1, std::memory_order_release);
	while (!g_stop.load(std::memory_order_acquire)) {
		for (unsigned i = 0; i < kReadsPerReport; i++) {
			/* Odd stride: 64 reads touch 64 of the table's lines. */
			at = (at + 8 * 16 + 1) & mask;
			Obj *o = g_slots[at].load(std::memory_order_acquire);
			/* Relaxed atomic: in the dslab_free baseline the
			 * object may be freed and reused under the reader. */
			if (o != nullptr)
				sum += __atomic_load_n(&o->payload[i % 5], __ATOMIC_RELAXED);
		}
		if (how == Report::Dslab)
			dslab_quiescent();
		else if (how == Report::Qsbr)
			rte_rcu_qsbr_quiescent(g_v, kReader);
#if DSLAB_BENCH_HAVE_URCU
		else
			rcu_quiescent_state();
#endif
	}
	if (how == Report::Dslab)
		dslab_rcu_offline();
	else if (how == Report::Qsbr)
		rte_rcu_qsbr_thread_offline(g_v, kReader);
#if DSLAB_BENCH_HAVE_URCU
	else
		rcu_unregister_thread();
#endif
	benchmark::DoNotOptimize(sum);
	return 0;
}

struct ReaderRun {
	Report how;
	ReaderRun(Report h, unsigned slots, benchmark::State &state) : how(h)
	{
		/* The machine's state this run starts in (line_latency.h). */
		if (!g_smoke)
			state.counters["line_ns"] = line_latency::before_run(kReader);
		g_mask.store(slots - 1);
		g_stop.store(false);
		g_ready.store(0);
		rte_eal_remote_launch(reader, &how, kReader);
		while (g_ready.load(std::memory_order_acquire) == 0)
			;
	}
	~ReaderRun()
	{
		g_stop.store(true, std::memory_order_release);
		rte_eal_wait_lcore(kReader);
	}
};

/* ---- pending counters ---------------------------------------------------- */

std::atomic<uint64_t> g_freed; /* objects the peers' callbacks freed */

uint64_t dslab_pending(dslab_cache *c)
{
	struct dslab_cache_stats s;
	dslab_cache_stats(c, &s);
	return s.objects_pending_rcu;
}

void set_counters(benchmark::State &state, uint64_t retired, uint64_t peak)
{
	state.SetItemsProcessed(int64_t(retired));
	state.counters["peak_pending"] = double(peak);
}

/* ---- BM_Retire ----------------------------------------------------------- */

void BM_Retire_dslab(benchmark::State &state, bool rcu, unsigned max_pending, unsigned q_bound)
{
	const unsigned slots = unsigned(state.range(0)), mask = slots - 1;
	struct dslab_cache_args a = {};
	a.sheaf_capacity = g_sheaf_capacity;
	dslab_cache *c = dslab_cache_create("bench_rcu", sizeof(Obj), &a);
	if (c == nullptr) {
		state.SkipWithError("dslab_cache_create failed");
		return;
	}
	struct dslab_cache_stats st;
	dslab_cache_stats(c, &st);
	const uint64_t cap = st.sheaf_capacity;
	const struct dslab_cache_stats st0 = st;
	uint64_t retired = 0, peak = 0, sum_pending = 0, samples = 0;
	std::vector<uint32_t> sampled; /* for the median */
	sampled.reserve(1u << 16);
	{
		/* The plain free runs with the same reader, so that both pay
		 * for the shared slot; its reader may read freed objects
		 * (slab memory stays mapped; the reads are relaxed atomics). */
		ReaderRun rr(Report::Dslab, slots, state);
		if (rcu) {
			dslab_rcu_online();
			dslab_rcu_set_max_pending(max_pending);
			dslab_rcu_set_quiescent_bound(q_bound);
		}
		for (auto _ : state) {
			for (uint64_t i = 0; i < g_retires; i++) {
				auto *o = static_cast<Obj *>(dslab_alloc(c, 0));
				if (o == nullptr) {
					state.SkipWithError("dslab_alloc failed");
					break;
				}
				__atomic_store_n(&o->payload[0], i, __ATOMIC_RELAXED);
				Obj *old = publish(g_slots[i & mask], o);
				if (old != nullptr) {
					if (rcu)
						dslab_kfree_rcu(old, rh);
					else
						dslab_free(c, old);
				}
				if (rcu && (i % kReadsPerReport) == 0)
					dslab_quiescent();
				if ((i % kSample) == 0 && rcu) {
					uint64_t p = dslab_pending(c);
					peak = std::max(peak, p);
					sum_pending += p;
					samples++;
					if (sampled.size() < sampled.capacity())
						sampled.push_back(uint32_t(p));
				}
			}
			retired += g_retires;
		}
		if (rcu) {
			dslab_rcu_set_max_pending(0);
			dslab_rcu_set_quiescent_bound(0);
			dslab_rcu_offline();
		}
	}
	/* Sheaves that went through the slabs, per sheaf's worth retired
	 * (the rest were reused whole, through the spare or the barn), and
	 * barn operations, each under the barn's lock. */
	dslab_cache_stats(c, &st);
	const double sheaves = double(retired) / double(cap);
	state.counters["slab_refills"] = double(st.sheaf_refill - st0.sheaf_refill) / sheaves;
	state.counters["slab_flushes"] = double(st.sheaf_flush - st0.sheaf_flush) / sheaves;
	const uint64_t barn = st.barn_get + st.barn_get_fail + st.barn_put;
	const uint64_t barn0 = st0.barn_get + st0.barn_get_fail + st0.barn_put;
	state.counters["barn_ops"] = double(barn - barn0) / sheaves;
	if (max_pending != 0) /* kfree_rcu calls that waited at the bound */
		state.counters["bound_waits"] =
			double(st.rcu_max_pending_wait - st0.rcu_max_pending_wait) / sheaves;
	if (q_bound != 0) /* dslab_quiescent() calls that waited at the bound */
		state.counters["bound_waits"] =
			double(st.rcu_quiescent_bound_wait - st0.rcu_quiescent_bound_wait) / sheaves;
	for (auto &slot : g_slots)
		if (Obj *last = slot.exchange(nullptr))
			dslab_free(c, last);
	dslab_rcu_barrier();
	set_counters(state, retired, peak);
	if (rcu && samples != 0) {
		state.counters["peak_sheaves"] = double(peak) / double(cap);
		/* The typical figures: a peak catches any stall of the reader
		 * (preemption on a shared machine), and a stall of a few ms
		 * weighs on the mean too; the median of the samples does not
		 * see it. */
		state.counters["mean_pending"] = double(sum_pending) / double(samples);
		state.counters["mean_sheaves"] = double(sum_pending) / double(samples) / double(cap);
		std::sort(sampled.begin(), sampled.end());
		state.counters["median_sheaves"] = double(sampled[sampled.size() / 2]) / double(cap);
		/* The bound, at most 4 sheaves' worth waiting: how often
		 * a sample was over it, and the 99th percentile. */
		state.counters["p99_sheaves"] = double(sampled[sampled.size() * 99 / 100]) / double(cap);
		const auto over = sampled.end() - std::upper_bound(sampled.begin(), sampled.end(), 4 * cap);
		state.counters["over4_pct"] = 100.0 * double(over) / double(sampled.size());
	}
	dslab_cache_destroy(c);
}

/* DPDK peers: a QSBR variable of their own, objects from an rte_mempool. */
struct DpdkPeer {
	rte_mempool *mp = nullptr;
	bool ok = false;
	DpdkPeer()
	{
		size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
		g_v = static_cast<rte_rcu_qsbr *>(rte_zmalloc("bench_qsbr", sz, RTE_CACHE_LINE_SIZE));
		if (g_v == nullptr || rte_rcu_qsbr_init(g_v, RTE_MAX_LCORE) != 0 ||
		    rte_rcu_qsbr_thread_register(g_v, kReader) != 0)
			return;
		mp = rte_mempool_create("bench_rcu_mp", (1u << 18) - 1, sizeof(Obj), 512, 0,
					nullptr, nullptr, nullptr, nullptr, SOCKET_ID_ANY, 0);
		ok = mp != nullptr;
	}
	~DpdkPeer()
	{
		rte_mempool_free(mp);
		rte_free(g_v);
		g_v = nullptr;
	}
};

void dq_free(void *p, void *e, unsigned int n)
{
	auto *mp = static_cast<rte_mempool *>(p);
	void **objs = static_cast<void **>(e);
	rte_mempool_put_bulk(mp, objs, n);
	g_freed.fetch_add(n, std::memory_order_relaxed);
}

void BM_Retire_qsbr_dq(benchmark::State &state)
{
	const unsigned slots = unsigned(state.range(0)), mask = slots - 1;
	DpdkPeer peer;
	if (!peer.ok) {
		state.SkipWithError("qsbr or mempool setup failed");
		return;
	}
	struct rte_rcu_qsbr_dq_parameters prm {};
	prm.name = "bench_dq";
	prm.size = 1u << 16;
	prm.esize = sizeof(void *);
	prm.trigger_reclaim_limit = 1024;
	prm.max_reclaim_size = 32;
	prm.free_fn = dq_free;
	prm.p = peer.mp;
	prm.v = g_v;
	struct rte_rcu_qsbr_dq *dq = rte_rcu_qsbr_dq_create(&prm);
	if (dq == nullptr) {
		state.SkipWithError("rte_rcu_qsbr_dq_create failed");
		return;
	}
	uint64_t retired = 0, peak = 0;
	g_freed.store(0);
	{
		ReaderRun rr(Report::Qsbr, slots, state);
		for (auto _ : state) {
			for (uint64_t i = 0; i < g_retires; i++) {
				void *p;
				while (rte_mempool_get(peer.mp, &p) != 0) {
					unsigned f, pend, avail;
					rte_rcu_qsbr_dq_reclaim(dq, 32, &f, &pend, &avail);
				}
				auto *o = static_cast<Obj *>(p);
				__atomic_store_n(&o->payload[0], i, __ATOMIC_RELAXED);
				Obj *old = publish(g_slots[i & mask], o);
				if (old != nullptr) {
					while (rte_rcu_qsbr_dq_enqueue(dq, &old) != 0) {
						unsigned f, pend, avail;
						rte_rcu_qsbr_dq_reclaim(dq, 32, &f, &pend, &avail);
					}
				}
				if ((i % kSample) == 0)
					peak = std::max(peak, retired + i - g_freed.load(std::memory_order_relaxed));
			}
			retired += g_retires;
		}
	}
	for (auto &slot : g_slots)
		if (Obj *last = slot.exchange(nullptr))
			rte_mempool_put(peer.mp, last);
	rte_rcu_qsbr_dq_delete(dq); /* reclaims what is left */
	set_counters(state, retired, peak);
}

void BM_Retire_naive_batch32(benchmark::State &state)
{
	const unsigned slots = unsigned(state.range(0)), mask = slots - 1;
	DpdkPeer peer;
	if (!peer.ok) {
		state.SkipWithError("qsbr or mempool setup failed");
		return;
	}
	uint64_t retired = 0, peak = 0;
	void *batch[32];
	unsigned nb = 0;
	{
		ReaderRun rr(Report::Qsbr, slots, state);
		for (auto _ : state) {
			for (uint64_t i = 0; i < g_retires; i++) {
				void *p;
				if (rte_mempool_get(peer.mp, &p) != 0) {
					state.SkipWithError("rte_mempool_get failed");
					break;
				}
				auto *o = static_cast<Obj *>(p);
				__atomic_store_n(&o->payload[0], i, __ATOMIC_RELAXED);
				Obj *old = publish(g_slots[i & mask], o);
				if (old != nullptr)
					batch[nb++] = old;
				if (nb == 32) {
					peak = std::max<uint64_t>(peak, nb);
					rte_rcu_qsbr_synchronize(g_v, RTE_QSBR_THRID_INVALID);
					rte_mempool_put_bulk(peer.mp, batch, nb);
					nb = 0;
				}
			}
			retired += g_retires;
		}
	}
	rte_rcu_qsbr_synchronize(g_v, RTE_QSBR_THRID_INVALID);
	rte_mempool_put_bulk(peer.mp, batch, nb);
	for (auto &slot : g_slots)
		if (Obj *last = slot.exchange(nullptr))
			rte_mempool_put(peer.mp, last);
	set_counters(state, retired, peak);
}

#if DSLAB_BENCH_HAVE_URCU
void urcu_free(struct rcu_head *h)
{
	free(reinterpret_cast<char *>(h) - offsetof(Obj, uh));
	g_freed.fetch_add(1, std::memory_order_relaxed);
}

void BM_Retire_liburcu(benchmark::State &state)
{
	const unsigned slots = unsigned(state.range(0)), mask = slots - 1;
	uint64_t retired = 0, peak = 0;
	g_freed.store(0);
	rcu_register_thread();
	{
		ReaderRun rr(Report::Urcu, slots, state);
		for (auto _ : state) {
			for (uint64_t i = 0; i < g_retires; i++) {
				auto *o = static_cast<Obj *>(malloc(sizeof(Obj)));
				if (o == nullptr) {
					state.SkipWithError("malloc failed");
					break;
				}
				__atomic_store_n(&o->payload[0], i, __ATOMIC_RELAXED);
				Obj *old = publish(g_slots[i & mask], o);
				if (old != nullptr)
					call_rcu(&old->uh, urcu_free);
				if ((i % kReadsPerReport) == 0)
					rcu_quiescent_state();
				if ((i % kSample) == 0)
					peak = std::max(peak, retired + i - g_freed.load(std::memory_order_relaxed));
			}
			retired += g_retires;
		}
	}
	for (auto &slot : g_slots)
		free(slot.exchange(nullptr));
	rcu_thread_offline();
	rcu_barrier();
	rcu_unregister_thread();
	set_counters(state, retired, peak);
}
#endif

/* ---- BM_Barrier ---------------------------------------------------------- */

void BM_Barrier(benchmark::State &state, bool per_cache)
{
	const int ncaches = int(state.range(0));
	std::vector<dslab_cache *> caches;
	for (int i = 0; i < ncaches; i++) {
		std::string n = "bench_bar" + std::to_string(i);
		dslab_cache *c = dslab_cache_create(n.c_str(), sizeof(Obj), nullptr);
		if (c == nullptr) {
			state.SkipWithError("dslab_cache_create failed");
			for (dslab_cache *x : caches)
				dslab_cache_destroy(x);
			return;
		}
		caches.push_back(c);
	}
	{
		ReaderRun rr(Report::Dslab, 1, state);
		dslab_rcu_online();
		/* Pending work in every cache (partly filled rcu sheaves). */
		for (dslab_cache *c : caches)
			for (int k = 0; k < 8; k++)
				dslab_kvfree_rcu(dslab_alloc(c, 0));
		for (auto _ : state) {
			for (int k = 0; k < 4; k++)
				dslab_kvfree_rcu(dslab_alloc(caches[0], 0));
			if (per_cache)
				dslab_rcu_barrier_on_cache(caches[0]);
			else
				dslab_rcu_barrier();
		}
		dslab_rcu_offline();
	}
	dslab_rcu_barrier();
	for (dslab_cache *c : caches)
		dslab_cache_destroy(c);
}

void register_all()
{
	auto t = [](benchmark::internal::Benchmark *b) {
		b->UseRealTime()->Unit(benchmark::kMillisecond);
		if (g_smoke)
			b->Iterations(1);
	};
	/* Slots: 1 (one hot pointer) and kMaxSlots (a table). */
	auto r = [&](benchmark::internal::Benchmark *b) { t(b->Arg(1)->Arg(kMaxSlots)); };
	r(benchmark::RegisterBenchmark("BM_Retire/dslab_kfree_rcu", BM_Retire_dslab, true, 0u, 0u));
	r(benchmark::RegisterBenchmark("BM_Retire/dslab_kfree_rcu_max4", BM_Retire_dslab, true, 4u, 0u));
	r(benchmark::RegisterBenchmark("BM_Retire/dslab_kfree_rcu_q4", BM_Retire_dslab, true, 0u, 4u));
	r(benchmark::RegisterBenchmark("BM_Retire/dslab_free", BM_Retire_dslab, false, 0u, 0u));
	r(benchmark::RegisterBenchmark("BM_Retire/qsbr_dq", BM_Retire_qsbr_dq));
	r(benchmark::RegisterBenchmark("BM_Retire/naive_batch32", BM_Retire_naive_batch32));
#if DSLAB_BENCH_HAVE_URCU
	r(benchmark::RegisterBenchmark("BM_Retire/liburcu_call_rcu", BM_Retire_liburcu));
#endif
	for (bool per_cache : {true, false}) {
		auto *b = benchmark::RegisterBenchmark(per_cache ? "BM_Barrier/per_cache" : "BM_Barrier/global",
						       BM_Barrier, per_cache);
		b->Arg(1)->Arg(16)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);
		if (g_smoke)
			b->Iterations(10);
	}
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<char *> args;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			g_smoke = true;
		else if (strncmp(argv[i], "--sheaf-capacity=", 17) == 0)
			g_sheaf_capacity = (uint32_t)strtoul(argv[i] + 17, nullptr, 0);
		else
			args.push_back(argv[i]);
	}
	if (g_smoke)
		g_retires = 1u << 14;
	std::string prefix = "--file-prefix=dslab_rcubench" + std::to_string(getpid());
	const char *eal[] = {"dslab_kfree_rcu_bench", "--no-huge", "--no-pci", "-m", "512",
			     "--no-shconf", prefix.c_str(), "--lcores=0@0,1@1",
			     "--log-level=lib.eal:error"};
	if (rte_eal_init(int(sizeof(eal) / sizeof(eal[0])), const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (dslab_init(nullptr) != 0) {
		fprintf(stderr, "dslab_init failed\n");
		return 1;
	}
	benchmark::AddCustomContext("eal", "--no-huge --no-pci -m 512 --lcores=0@0,1@1");
	benchmark::AddCustomContext("dslab_sheaf_capacity",
				    g_sheaf_capacity == DSLAB_SHEAF_CAPACITY_AUTO
					    ? std::string("auto")
					    : std::to_string(g_sheaf_capacity));
	int bargc = int(args.size());
	benchmark::Initialize(&bargc, args.data());
	register_all();
	/* The run's state of the machine (line_latency.h): at the start in
	 * the context, at the end on stderr. */
	if (!g_smoke)
		benchmark::AddCustomContext("line_transfer_ns",
					    std::to_string(line_latency::measure(kReader)));
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	if (!g_smoke)
		fprintf(stderr, "line_transfer_ns at the end: %.1f\n", line_latency::measure(kReader));
	dslab_fini();
	rte_eal_cleanup();
	return 0;
}
