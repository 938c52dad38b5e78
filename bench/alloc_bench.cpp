/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * dslab_alloc_bench: dslab against its peers, in one binary and one run.
 *
 * Every allocator is called the same way: through a struct Adapter of
 * function pointers, loaded through an opaque pointer before each timed loop
 * so that every call is one indirect call into a small adapter function,
 * which then calls the allocator the way an application would (dslab's and
 * rte_mempool's inline fast paths are inlined into their adapters; the
 * malloc family is called through the pointer resolved for it).
 *
 * Peers:
 *   dslab     dslab_cache_create() caches of 64 B and 256 B (dslab_alloc /
 *             dslab_free, dslab_alloc_bulk / dslab_free_bulk) and
 *             dslab_kmalloc / dslab_kfree.
 *   mempool   rte_mempool_create(cache_size 512): rte_mempool_get / put and
 *             get_bulk / put_bulk; "kmalloc" is a get from a 64 B pool and
 *             "kfree" a put to rte_mempool_from_obj(obj).
 *   glibc     malloc / free of the C library.
 *   jemalloc  libjemalloc.so.2, dlopen(RTLD_LOCAL|RTLD_NOW), dlsym "malloc"
 *             and "free" from its handle (Debian's jemalloc has no prefix).
 *             Needs GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384
 *             (bench/run.sh sets it), or dlopen fails for want of static TLS.
 *   mimalloc  libmimalloc.so.2: mi_malloc / mi_free.
 *   tcmalloc  libtcmalloc_minimal.so.4 (else libtcmalloc.so.4): tc_malloc /
 *             tc_free.
 * The dlopen'ed allocators each keep their own heap: RTLD_LOCAL keeps them
 * from interposing on the process's malloc. A peer that fails to load has
 * its benchmarks skipped with the dlerror() message.
 *
 * Benchmarks, named BM_<Op>/<peer>/<size>; see bench/README.md for what
 * each figure measures.
 *
 * Own flags (taken out before Google Benchmark sees the arguments):
 *   --smoke      tiny run for `meson test` (min time 1 ms, 64 Ki working set,
 *                64 Ki producer/consumer objects)
 *   --iters=N    run every benchmark for exactly N iterations
 *   --callgrind  around each timed loop, zero and dump callgrind's counters
 *                (CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS_AT(name)), so
 *                `valgrind --tool=callgrind` gives instructions per loop
 *   --ws-objs=N  working-set object count (default 1048576)
 *   --ws-touch=0 working set: do not write into the objects (diagnostic:
 *                separates the allocator's own cost from cache misses on
 *                the objects; RSS figures are then not comparable)
 *   --pc-objs=N  producer/consumer objects per iteration (default 524288)
 *   --sheaf-capacity=N  dslab caches with N objects per sheaf (default: the
 *                cache's own choice by object size, DSLAB_SHEAF_CAPACITY_AUTO)
 */
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <dslab.h>

#include "line_latency.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_HAVE_CALLGRIND 1
#else
#define BENCH_HAVE_CALLGRIND 0
#endif

namespace {

/* ------------------------------------------------------------------------ */
/* Options */

bool g_smoke;
long g_iters;           /* 0: Google Benchmark decides */
bool g_callgrind;
size_t g_ws_objs = 1u << 20;
bool g_ws_touch = true; /* write a word into each working-set object */
uint64_t g_pc_objs = 1u << 19;
uint32_t g_sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO;
constexpr unsigned kBurst = 32;
/* The burst size, read in every benchmark so the compiler cannot fold it. */
volatile unsigned g_burst = kBurst;
constexpr unsigned kMempoolCache = 512;
constexpr unsigned kMempoolObjs = 16383; /* 2^q - 1, as rte_mempool prefers */
constexpr unsigned kRingSize = 1024;
constexpr unsigned kPcBatch = 32;
constexpr unsigned kProducerLcore = 1;
constexpr unsigned kConsumerLcore = 2;

/* Callgrind markers around a timed loop (no-ops unless --callgrind). */
void cg_begin()
{
#if BENCH_HAVE_CALLGRIND
	if (g_callgrind)
		CALLGRIND_ZERO_STATS;
#endif
}

void cg_end(const benchmark::State &state, const char *op, const char *peer, size_t size)
{
#if BENCH_HAVE_CALLGRIND
	if (g_callgrind) {
		std::string n = std::string(op) + "/" + peer + "/" + std::to_string(size) +
				" iters=" + std::to_string(state.iterations());
		CALLGRIND_DUMP_STATS_AT(n.c_str());
	}
#else
	(void)state, (void)op, (void)peer, (void)size;
#endif
}

/* Bytes resident in the process (/proc/self/statm, second field). */
int64_t rss_bytes()
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = 0;

	if (f == nullptr)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : int64_t(resident) * sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------------------ */
/* The adapter: every peer is called through these pointers. */

struct Adapter {
	const char *name;
	bool ok;              /* loaded */
	std::string why;      /* why not */
	bool native_bulk;     /* alloc_bulk/free_bulk are the allocator's own */
	/* A handle for objects of one size (a cache, a pool, or the size). */
	void *(*make)(size_t size, unsigned n, const char *tag);
	void (*destroy)(void *h);
	void *(*alloc)(void *h);
	void (*free)(void *h, void *obj);
	unsigned (*alloc_bulk)(void *h, void **objs, unsigned n); /* n or 0 */
	void (*free_bulk)(void *h, void **objs, unsigned n);
	void *(*kmalloc)(size_t size);
	void (*kfree)(void *obj);
	/* Bytes the allocator holds for the handle, -1: not known. */
	int64_t (*held)(void *h);
};

/* dslab ------------------------------------------------------------------ */

void *dslab_make(size_t size, unsigned, const char *tag)
{
	std::string name = std::string("bench_") + tag;
	struct dslab_cache_args a = {};
	a.sheaf_capacity = g_sheaf_capacity;
	struct dslab_cache *c = dslab_cache_create(name.c_str(), size, &a);

	if (c == nullptr)
		fprintf(stderr, "dslab_cache_create(%s, %zu): %s\n", name.c_str(), size,
			rte_strerror(rte_errno));
	return c;
}
void dslab_destroy_h(void *h) { dslab_cache_destroy(static_cast<struct dslab_cache *>(h)); }
void *dslab_alloc_a(void *h) { return dslab_alloc(static_cast<struct dslab_cache *>(h), 0); }
void dslab_free_a(void *h, void *o) { dslab_free(static_cast<struct dslab_cache *>(h), o); }
unsigned dslab_alloc_bulk_a(void *h, void **objs, unsigned n)
{
	return dslab_alloc_bulk(static_cast<struct dslab_cache *>(h), 0, n, objs);
}
void dslab_free_bulk_a(void *h, void **objs, unsigned n)
{
	dslab_free_bulk(static_cast<struct dslab_cache *>(h), n, objs);
}
void *dslab_kmalloc_a(size_t size) { return dslab_kmalloc(size, 0); }
void dslab_kfree_a(void *o) { dslab_kfree(o); }
int64_t dslab_held(void *h)
{
	struct dslab_cache_stats s;

	if (dslab_cache_stats(static_cast<struct dslab_cache *>(h), &s) != 0)
		return -1;
	return int64_t(s.bytes_held);
}

/* rte_mempool -------------------------------------------------------------- */

struct rte_mempool *g_kpool64; /* the mempool peer's "kmalloc" pool */

void *mp_make(size_t size, unsigned n, const char *tag)
{
	std::string name = std::string("bench_") + tag;
	struct rte_mempool *mp = rte_mempool_create(name.c_str(), n, unsigned(size), kMempoolCache, 0,
						    nullptr, nullptr, nullptr, nullptr,
						    int(rte_socket_id()), 0);
	if (mp == nullptr)
		fprintf(stderr, "rte_mempool_create(%s, n=%u, %zu B): %s\n", name.c_str(), n, size,
			rte_strerror(rte_errno));
	return mp;
}
void mp_destroy(void *h) { rte_mempool_free(static_cast<struct rte_mempool *>(h)); }
void *mp_alloc(void *h)
{
	void *o;

	if (unlikely(rte_mempool_get(static_cast<struct rte_mempool *>(h), &o) < 0))
		return nullptr;
	return o;
}
void mp_free(void *h, void *o) { rte_mempool_put(static_cast<struct rte_mempool *>(h), o); }
unsigned mp_alloc_bulk(void *h, void **objs, unsigned n)
{
	return rte_mempool_get_bulk(static_cast<struct rte_mempool *>(h), objs, n) == 0 ? n : 0;
}
void mp_free_bulk(void *h, void **objs, unsigned n)
{
	rte_mempool_put_bulk(static_cast<struct rte_mempool *>(h), objs, n);
}
void *mp_kmalloc(size_t size)
{
	void *o;

	if (unlikely(size > 64 || rte_mempool_get(g_kpool64, &o) < 0))
		return nullptr;
	return o;
}
void mp_kfree(void *o) { rte_mempool_put(rte_mempool_from_obj(o), o); }
void mp_memhdr_len(struct rte_mempool *, void *arg, struct rte_mempool_memhdr *hdr, unsigned)
{
	*static_cast<int64_t *>(arg) += int64_t(hdr->len);
}
int64_t mp_held(void *h)
{
	int64_t sum = 0;

	rte_mempool_mem_iter(static_cast<struct rte_mempool *>(h), mp_memhdr_len, &sum);
	return sum;
}

/* The malloc family: one template per peer, over resolved entry points. */

struct MallocFns {
	void *(*malloc)(size_t);
	void (*free)(void *);
};
enum { MF_GLIBC, MF_JEMALLOC, MF_MIMALLOC, MF_TCMALLOC, MF_COUNT };
MallocFns g_mf[MF_COUNT];

void *mf_make(size_t size, unsigned, const char *) { return reinterpret_cast<void *>(size); }
void mf_destroy(void *) {}
template <int I> void *mf_alloc(void *h) { return g_mf[I].malloc(reinterpret_cast<size_t>(h)); }
template <int I> void mf_free(void *, void *o) { g_mf[I].free(o); }
template <int I> unsigned mf_alloc_bulk(void *h, void **objs, unsigned n)
{
	size_t size = reinterpret_cast<size_t>(h);

	for (unsigned i = 0; i < n; i++) {
		objs[i] = g_mf[I].malloc(size);
		if (unlikely(objs[i] == nullptr)) {
			while (i-- > 0)
				g_mf[I].free(objs[i]);
			return 0;
		}
	}
	return n;
}
template <int I> void mf_free_bulk(void *, void **objs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		g_mf[I].free(objs[i]);
}
template <int I> void *mf_kmalloc(size_t size) { return g_mf[I].malloc(size); }
template <int I> void mf_kfree(void *o) { g_mf[I].free(o); }
int64_t mf_held(void *) { return -1; }

template <int I> Adapter malloc_adapter(const char *name)
{
	return Adapter{name, false, "", false, mf_make, mf_destroy, mf_alloc<I>, mf_free<I>,
		       mf_alloc_bulk<I>, mf_free_bulk<I>, mf_kmalloc<I>, mf_kfree<I>, mf_held};
}

/* Load a malloc-family peer with dlopen; false and a reason if it fails. */
bool load_peer(int idx, std::initializer_list<const char *> libs, const char *malloc_sym,
	       const char *free_sym, std::string *why)
{
	std::string errs;

	for (const char *lib : libs) {
		void *h = dlopen(lib, RTLD_LOCAL | RTLD_NOW);

		if (h == nullptr) {
			const char *e = dlerror();
			errs += std::string(errs.empty() ? "" : "; ") + (e ? e : lib);
			continue;
		}
		void *m = dlsym(h, malloc_sym);
		void *f = dlsym(h, free_sym);
		if (m == nullptr || f == nullptr) {
			errs += std::string(errs.empty() ? "" : "; ") + lib + ": no " + malloc_sym +
				"/" + free_sym;
			continue; /* leave it loaded: harmless */
		}
		g_mf[idx].malloc = reinterpret_cast<void *(*)(size_t)>(m);
		g_mf[idx].free = reinterpret_cast<void (*)(void *)>(f);
		/* Check the two are the library's own, not the process's. */
		if (g_mf[idx].malloc == &::malloc) {
			errs += std::string(lib) + ": dlsym gave the process's malloc";
			continue;
		}
		return true;
	}
	*why = errs;
	return false;
}

enum { P_DSLAB, P_MEMPOOL, P_GLIBC, P_JEMALLOC, P_MIMALLOC, P_TCMALLOC, P_COUNT };
Adapter g_peers[P_COUNT];

void setup_peers()
{
	g_peers[P_DSLAB] = Adapter{"dslab", true, "", true, dslab_make, dslab_destroy_h,
				   dslab_alloc_a, dslab_free_a, dslab_alloc_bulk_a,
				   dslab_free_bulk_a, dslab_kmalloc_a, dslab_kfree_a, dslab_held};
	g_peers[P_MEMPOOL] = Adapter{"mempool", true, "", true, mp_make, mp_destroy, mp_alloc,
				     mp_free, mp_alloc_bulk, mp_free_bulk, mp_kmalloc, mp_kfree,
				     mp_held};
	g_peers[P_GLIBC] = malloc_adapter<MF_GLIBC>("glibc");
	g_peers[P_JEMALLOC] = malloc_adapter<MF_JEMALLOC>("jemalloc");
	g_peers[P_MIMALLOC] = malloc_adapter<MF_MIMALLOC>("mimalloc");
	g_peers[P_TCMALLOC] = malloc_adapter<MF_TCMALLOC>("tcmalloc");

	g_mf[MF_GLIBC] = MallocFns{::malloc, ::free};
	g_peers[P_GLIBC].ok = true;
	g_peers[P_JEMALLOC].ok = load_peer(MF_JEMALLOC, {"libjemalloc.so.2"}, "malloc", "free",
					   &g_peers[P_JEMALLOC].why);
	if (!g_peers[P_JEMALLOC].ok)
		g_peers[P_JEMALLOC].why +=
			" (Debian's jemalloc needs GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384; "
			"bench/run.sh sets it)";
	g_peers[P_MIMALLOC].ok = load_peer(MF_MIMALLOC, {"libmimalloc.so.2"}, "mi_malloc",
					   "mi_free", &g_peers[P_MIMALLOC].why);
	g_peers[P_TCMALLOC].ok = load_peer(MF_TCMALLOC,
					   {"libtcmalloc_minimal.so.4", "libtcmalloc.so.4"},
					   "tc_malloc", "tc_free", &g_peers[P_TCMALLOC].why);
	for (const Adapter &a : g_peers)
		if (!a.ok)
			fprintf(stderr, "peer %s not loaded, its benchmarks are skipped: %s\n", a.name,
				a.why.c_str());
}

/* Handles for the hot benchmarks: per peer, 64 B and 256 B. */
const size_t kSizes[] = {64, 256};
void *g_handle[P_COUNT][2];

int size_index(size_t size) { return size == 64 ? 0 : 1; }

bool make_handles()
{
	for (int p = 0; p < P_COUNT; p++) {
		Adapter &a = g_peers[p];

		if (!a.ok)
			continue;
		for (int s = 0; s < 2; s++) {
			std::string tag = std::string(a.name) + std::to_string(kSizes[s]);
			g_handle[p][s] = a.make(kSizes[s], kMempoolObjs, tag.c_str());
			if (g_handle[p][s] == nullptr)
				return false;
		}
	}
	g_kpool64 = static_cast<struct rte_mempool *>(g_handle[P_MEMPOOL][0]);
	return true;
}

/* The adapter, laundered so the compiler cannot see through its pointers:
 * every peer gets the same indirect calls. */
const Adapter *opaque(const Adapter *a)
{
	benchmark::DoNotOptimize(a);
	return a;
}

bool check_peer(benchmark::State &state, const Adapter *a)
{
	if (!a->ok) {
		state.SkipWithError((std::string(a->name) + " not loaded: " + a->why).c_str());
		return false;
	}
	return true;
}

/* Time per item as a counter: seconds / items (the run's seconds: CPU time,
 * or the manual time where the benchmark sets it). The console shows it with
 * an SI prefix ("3.27ns"); JSON and CSV have it in seconds. */
benchmark::Counter time_per(double items)
{
	return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/* ------------------------------------------------------------------------ */
/* Benchmarks */

/* alloc + free of one object, hot (the object is the one just freed). */
void BM_Pair(benchmark::State &state, int peer, size_t size)
{
	const Adapter *a = opaque(&g_peers[peer]);

	if (!check_peer(state, a))
		return;
	void *h = g_handle[peer][size_index(size)];
	auto alloc = a->alloc;
	auto free_ = a->free;
	bool failed = false;

	cg_begin();
	for (auto _ : state) {
		void *o = alloc(h);
		benchmark::DoNotOptimize(o);
		if (unlikely(o == nullptr)) {
			failed = true;
			break;
		}
		free_(h, o);
		benchmark::ClobberMemory();
	}
	cg_end(state, "BM_Pair", a->name, size);
	if (failed) {
		state.SkipWithError("allocation failed");
		return;
	}
	state.SetItemsProcessed(state.iterations());
	state.counters["t_pair"] = time_per(double(state.iterations()));
}

/* Bursts: alloc g_burst objects, then free them (single calls or bulk). */
void BM_Burst(benchmark::State &state, int peer, size_t size, bool bulk)
{
	const Adapter *a = opaque(&g_peers[peer]);

	if (!check_peer(state, a))
		return;
	void *h = g_handle[peer][size_index(size)];
	const unsigned n = g_burst;
	void *objs[kBurst * 2];
	bool failed = false;

	if (n > kBurst * 2) {
		state.SkipWithError("burst too large");
		return;
	}
	cg_begin();
	if (bulk) {
		auto alloc_bulk = a->alloc_bulk;
		auto free_bulk = a->free_bulk;

		for (auto _ : state) {
			if (unlikely(alloc_bulk(h, objs, n) != n)) {
				failed = true;
				break;
			}
			benchmark::DoNotOptimize(objs);
			benchmark::ClobberMemory();
			free_bulk(h, objs, n);
			benchmark::ClobberMemory();
		}
	} else {
		auto alloc = a->alloc;
		auto free_ = a->free;

		for (auto _ : state) {
			for (unsigned i = 0; i < n; i++) {
				objs[i] = alloc(h);
				benchmark::DoNotOptimize(objs[i]);
			}
			if (unlikely(objs[0] == nullptr || objs[n - 1] == nullptr)) {
				failed = true;
				break;
			}
			benchmark::ClobberMemory();
			for (unsigned i = 0; i < n; i++)
				free_(h, objs[i]);
			benchmark::ClobberMemory();
		}
	}
	cg_end(state, bulk ? "BM_BurstBulk" : "BM_Burst", a->name, size);
	if (failed) {
		state.SkipWithError("allocation failed");
		return;
	}
	state.SetItemsProcessed(state.iterations() * n);
	state.counters["t_obj"] = time_per(double(state.iterations()) * n);
	state.counters["t_burst"] = time_per(double(state.iterations()));
}

/* kmalloc + kfree pair: the size is a run-time value, kfree finds the owner
 * from the pointer. */
volatile size_t g_ksize = 64;
void BM_Kmalloc(benchmark::State &state, int peer)
{
	const Adapter *a = opaque(&g_peers[peer]);

	if (!check_peer(state, a))
		return;
	auto kmalloc = a->kmalloc;
	auto kfree = a->kfree;
	const size_t size = g_ksize;
	bool failed = false;

	cg_begin();
	for (auto _ : state) {
		void *o = kmalloc(size);
		benchmark::DoNotOptimize(o);
		if (unlikely(o == nullptr)) {
			failed = true;
			break;
		}
		kfree(o);
		benchmark::ClobberMemory();
	}
	cg_end(state, "BM_Kmalloc", a->name, size);
	if (failed) {
		state.SkipWithError("allocation failed");
		return;
	}
	state.SetItemsProcessed(state.iterations());
	state.counters["t_pair"] = time_per(double(state.iterations()));
}

/* Working set: allocate g_ws_objs objects of 64 B (writing a word into
 * each), then free them in a random order (a shuffled index array made once,
 * outside timing).
 *
 * The first time a peer runs, outside timing: RSS is read, the peer's handle
 * is made (a new dslab cache, a new rte_mempool sized for the objects; the
 * size for the malloc family), one cold pass runs (its alloc and free times,
 * page faults included, are cold_ns_alloc / cold_ns_free) and, while its
 * objects are live, RSS is read again (rss_first_B = the growth) and the
 * allocator's own figure (held_B). The timed iterations are warm passes. */
struct WorkingSet {
	void *handle = nullptr;
	bool made = false;
	bool failed = false;
	int64_t rss_first = -1;  /* RSS growth: before the handle to objects live */
	int64_t held_first = -1; /* allocator's own figure then, -1: none */
	double cold_alloc_ns = 0, cold_free_ns = 0; /* per object */
	long cold_minflt = 0; /* minor page faults of the cold pass */
};
WorkingSet g_ws[P_COUNT];
void **g_ws_objs_arr;       /* mmap'ed so that no malloc peer holds it */
uint32_t *g_ws_order;        /* shuffled indices, mmap'ed */

bool ws_prepare()
{
	size_t n = g_ws_objs;
	void *p = mmap(nullptr, n * sizeof(void *), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	void *q = mmap(nullptr, n * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED || q == MAP_FAILED)
		return false;
	g_ws_objs_arr = static_cast<void **>(p);
	g_ws_order = static_cast<uint32_t *>(q);
	std::iota(g_ws_order, g_ws_order + n, 0u);
	std::mt19937_64 rng(42);
	std::shuffle(g_ws_order, g_ws_order + n, rng);
	return true;
}

/* CPU time of the calling thread, user + system (page faults included),
 * seconds: unlike wall time, not inflated when other processes run. */
double thread_cpu_s()
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

/* Minor page faults of the calling thread so far. */
long thread_minflt()
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/* One pass; at_live (if any) runs between the alloc and free loops. Times
 * are the thread's CPU time. Returns false if an allocation failed (what was
 * allocated is freed). */
template <typename F>
bool ws_pass(const Adapter *a, void *h, double *alloc_s, double *free_s, F at_live)
{
	auto alloc = a->alloc;
	auto free_ = a->free;
	void **objs = g_ws_objs_arr;
	const uint32_t *order = g_ws_order;
	const size_t n = g_ws_objs;

	double t0 = thread_cpu_s();
	for (size_t i = 0; i < n; i++) {
		void *o = alloc(h);
		if (unlikely(o == nullptr)) {
			while (i-- > 0)
				free_(h, objs[i]);
			return false;
		}
		/* Write a word, as a user would: pages an allocator does not
		 * touch itself count in RSS too. */
		if (g_ws_touch)
			*static_cast<uintptr_t *>(o) = i;
		objs[i] = o;
	}
	double t1 = thread_cpu_s();
	benchmark::ClobberMemory();
	at_live();
	double t2 = thread_cpu_s();
	for (size_t i = 0; i < n; i++)
		free_(h, objs[order[i]]);
	double t3 = thread_cpu_s();
	benchmark::ClobberMemory();
	*alloc_s = t1 - t0;
	*free_s = t3 - t2;
	return true;
}

void BM_WorkingSet(benchmark::State &state, int peer)
{
	const Adapter *a = opaque(&g_peers[peer]);

	if (!check_peer(state, a))
		return;
	WorkingSet &ws = g_ws[peer];
	const double n = double(g_ws_objs);

	if (!ws.made) {
		ws.made = true;
		int64_t rss_base = rss_bytes();
		std::string tag = std::string(a->name) + "_ws";
		/* For the pool peer: n objects; all are taken at once, and only
		 * this lcore's cache holds some, which it can get. */
		ws.handle = a->make(64, unsigned(g_ws_objs), tag.c_str());
		double as = 0, fs = 0;
		long flt = thread_minflt();
		if (ws.handle == nullptr ||
		    !ws_pass(a, ws.handle, &as, &fs, [&] {
			    ws.rss_first = rss_bytes() - rss_base;
			    ws.held_first = a->held(ws.handle);
		    })) {
			ws.failed = true;
		}
		ws.cold_minflt = thread_minflt() - flt;
		ws.cold_alloc_ns = as * 1e9 / n;
		ws.cold_free_ns = fs * 1e9 / n;
	}
	if (ws.failed) {
		state.SkipWithError("working set: handle not created or allocation failed");
		return;
	}
	double alloc_s = 0, free_s = 0;
	int64_t held = -1;
	bool failed = false;
	long flt0 = thread_minflt();

	cg_begin();
	for (auto _ : state) {
		double as, fs;

		if (!ws_pass(a, ws.handle, &as, &fs, [&] { held = a->held(ws.handle); })) {
			failed = true;
			break;
		}
		alloc_s += as;
		free_s += fs;
		state.SetIterationTime(as + fs);
	}
	cg_end(state, "BM_WorkingSet", a->name, 64);
	if (failed) {
		state.SkipWithError("allocation failed (working set)");
		return;
	}
	double objs_total = double(state.iterations()) * n;
	state.SetItemsProcessed(int64_t(objs_total));
	state.counters["t_obj"] = time_per(objs_total);
	state.counters["ns_alloc"] = alloc_s * 1e9 / objs_total; /* plain ns */
	state.counters["ns_free"] = free_s * 1e9 / objs_total;
	state.counters["cold_ns_alloc"] = ws.cold_alloc_ns;
	state.counters["cold_ns_free"] = ws.cold_free_ns;
	state.counters["minflt_pass"] = double(thread_minflt() - flt0) / double(state.iterations());
	state.counters["cold_minflt"] = double(ws.cold_minflt);
	state.counters["objs"] = n;
	state.counters["rss_first_B"] = double(ws.rss_first);
	/* held_B: the allocator's own figure while the objects are live, in the
	 * last timed pass (dslab bytes_held, the mempool's memory chunks);
	 * -1 for the malloc family. mem_B: the figure of the working-set table
	 * (bench/RESULTS.md):
	 * held_B where there is one, else rss_first_B. */
	state.counters["held_B"] = double(held);
	double mem = held >= 0 ? double(held) : double(ws.rss_first);
	state.counters["mem_B"] = mem;
	state.counters["B_per_obj"] = mem / n;
}

/* Producer/consumer: lcore 1 allocates and enqueues through an SP/SC ring,
 * lcore 2 dequeues and frees. */
struct PcRun {
	const Adapter *a;
	void *h;
	struct rte_ring *ring;
	uint64_t n;
	std::atomic<int> started{0};
	std::atomic<int> done{0};
	std::atomic<bool> failed{false};
	std::chrono::steady_clock::time_point t_start, t_end;
	uint64_t ring_full_spins = 0, ring_empty_spins = 0, alloc_retries = 0;
};

int pc_producer(void *arg)
{
	PcRun *r = static_cast<PcRun *>(arg);
	auto alloc = r->a->alloc;
	void *h = r->h;
	void *batch[kPcBatch];
	uint64_t sent = 0, full = 0, retries = 0;

	r->started.fetch_add(1);
	while (r->started.load() < 2)
		rte_pause();
	r->t_start = std::chrono::steady_clock::now();
	while (sent < r->n) {
		unsigned k = unsigned(std::min<uint64_t>(kPcBatch, r->n - sent));

		for (unsigned i = 0; i < k; i++) {
			void *o;
			unsigned tries = 0;

			while (unlikely((o = alloc(h)) == nullptr)) {
				/* everything is in flight: let the consumer free */
				retries++;
				if (++tries > 100000000u) {
					r->failed = true;
					/* let the consumer stop */
					__atomic_store_n(&r->n, sent, __ATOMIC_RELEASE);
					r->done.fetch_add(1);
					return -1;
				}
				rte_pause();
			}
			batch[i] = o;
		}
		unsigned off = 0;
		while (off < k) {
			unsigned m = rte_ring_sp_enqueue_burst(r->ring, batch + off, k - off, nullptr);
			if (m == 0) {
				full++;
				rte_pause();
			}
			off += m;
		}
		sent += k;
	}
	r->ring_full_spins = full;
	r->alloc_retries = retries;
	r->done.fetch_add(1);
	return 0;
}

int pc_consumer(void *arg)
{
	PcRun *r = static_cast<PcRun *>(arg);
	auto free_ = r->a->free;
	void *h = r->h;
	void *batch[kPcBatch];
	uint64_t got = 0, empty = 0;

	r->started.fetch_add(1);
	while (r->started.load() < 2)
		rte_pause();
	for (;;) {
		unsigned m = rte_ring_sc_dequeue_burst(r->ring, batch, kPcBatch, nullptr);

		if (m == 0) {
			if (got >= __atomic_load_n(&r->n, __ATOMIC_ACQUIRE))
				break;
			empty++;
			rte_pause();
			continue;
		}
		for (unsigned i = 0; i < m; i++)
			free_(h, batch[i]);
		got += m;
	}
	r->t_end = std::chrono::steady_clock::now();
	r->ring_empty_spins = empty;
	r->done.fetch_add(1);
	return 0;
}

struct rte_ring *g_pc_ring;

void BM_ProdCons(benchmark::State &state, int peer)
{
	const Adapter *a = opaque(&g_peers[peer]);

	if (!check_peer(state, a))
		return;
	if (g_pc_ring == nullptr) {
		state.SkipWithError("ring or lcores 1 and 2 not available");
		return;
	}
	uint64_t full = 0, empty = 0, retries = 0;
	bool failed = false;

	/* The machine's state (line_latency.h): between this lcore's core and
	 * the producer's, the two cores the pair runs on. */
	if (!g_smoke && !g_callgrind)
		state.counters["line_ns"] = line_latency::before_run(kProducerLcore);
	for (auto _ : state) {
		PcRun r;
		r.a = a;
		r.h = g_handle[peer][0];
		r.ring = g_pc_ring;
		r.n = g_pc_objs;
		if (rte_eal_remote_launch(pc_consumer, &r, kConsumerLcore) != 0 ||
		    rte_eal_remote_launch(pc_producer, &r, kProducerLcore) != 0) {
			failed = true;
			break;
		}
		/* Sleep, not spin: lcore 2 shares this core (--lcores 2@0). */
		while (r.done.load() < 2)
			usleep(200);
		rte_eal_wait_lcore(kProducerLcore);
		rte_eal_wait_lcore(kConsumerLcore);
		if (r.failed) {
			failed = true;
			break;
		}
		state.SetIterationTime(std::chrono::duration<double>(r.t_end - r.t_start).count());
		full += r.ring_full_spins;
		empty += r.ring_empty_spins;
		retries += r.alloc_retries;
	}
	if (failed) {
		state.SkipWithError("producer/consumer failed (launch or allocation)");
		return;
	}
	double objs_total = double(state.iterations()) * double(g_pc_objs);
	state.SetItemsProcessed(int64_t(objs_total));
	state.counters["t_obj"] = time_per(objs_total);
	state.counters["ring_full_spins"] = double(full) / double(state.iterations());
	state.counters["alloc_retries"] = double(retries) / double(state.iterations());
}

/* ------------------------------------------------------------------------ */

void apply_iters(benchmark::internal::Benchmark *b)
{
	if (g_iters > 0)
		b->Iterations(g_iters);
	else if (g_smoke)
		b->MinTime(0.001);
}

void register_all()
{
	using benchmark::RegisterBenchmark;

	for (int p = 0; p < P_COUNT; p++)
		for (size_t s : kSizes) {
			std::string n = std::string("BM_Pair/") + g_peers[p].name + "/" + std::to_string(s);
			apply_iters(RegisterBenchmark(n.c_str(), BM_Pair, p, s));
		}
	for (int p = 0; p < P_COUNT; p++)
		for (size_t s : kSizes) {
			std::string n = std::string("BM_Burst/") + g_peers[p].name + "/" + std::to_string(s);
			apply_iters(RegisterBenchmark(n.c_str(), BM_Burst, p, s, false));
		}
	/* Bulk APIs: only dslab and rte_mempool have one. */
	for (int p : {P_DSLAB, P_MEMPOOL})
		for (size_t s : kSizes) {
			std::string n = std::string("BM_BurstBulk/") + g_peers[p].name + "/" +
					std::to_string(s);
			apply_iters(RegisterBenchmark(n.c_str(), BM_Burst, p, s, true));
		}
	for (int p = 0; p < P_COUNT; p++) {
		std::string n = std::string("BM_Kmalloc/") + g_peers[p].name + "/64";
		apply_iters(RegisterBenchmark(n.c_str(), BM_Kmalloc, p));
	}
	for (int p = 0; p < P_COUNT; p++) {
		std::string n = std::string("BM_WorkingSet/") + g_peers[p].name + "/64";
		auto *b = RegisterBenchmark(n.c_str(), BM_WorkingSet, p);
		b->UseManualTime()->Unit(benchmark::kMillisecond);
		if (g_iters > 0)
			b->Iterations(g_iters);
		else if (g_smoke)
			b->Iterations(1);
	}
	for (int p = 0; p < P_COUNT; p++) {
		std::string n = std::string("BM_ProdCons/") + g_peers[p].name + "/64";
		auto *b = RegisterBenchmark(n.c_str(), BM_ProdCons, p);
		b->UseManualTime()->Unit(benchmark::kMillisecond);
		if (g_iters > 0)
			b->Iterations(g_iters);
		else if (g_smoke)
			b->Iterations(1);
	}
}

bool take_flag(const char *arg, const char *name, const char **val)
{
	size_t l = strlen(name);

	if (strncmp(arg, name, l) != 0)
		return false;
	if (arg[l] == '\0') {
		*val = nullptr;
		return true;
	}
	if (arg[l] == '=') {
		*val = arg + l + 1;
		return true;
	}
	return false;
}

} // namespace

int main(int argc, char **argv)
{
	/* Our flags out, the rest to Google Benchmark. */
	int out = 1;
	for (int i = 1; i < argc; i++) {
		const char *v;

		if (take_flag(argv[i], "--smoke", &v)) {
			g_smoke = true;
		} else if (take_flag(argv[i], "--callgrind", &v)) {
			g_callgrind = true;
		} else if (take_flag(argv[i], "--iters", &v) && v) {
			g_iters = strtol(v, nullptr, 0);
		} else if (take_flag(argv[i], "--ws-objs", &v) && v) {
			g_ws_objs = strtoul(v, nullptr, 0);
		} else if (take_flag(argv[i], "--ws-touch", &v) && v) {
			g_ws_touch = strtol(v, nullptr, 0) != 0;
		} else if (take_flag(argv[i], "--pc-objs", &v) && v) {
			g_pc_objs = strtoull(v, nullptr, 0);
		} else if (take_flag(argv[i], "--sheaf-capacity", &v) && v) {
			g_sheaf_capacity = (uint32_t)strtoul(v, nullptr, 0);
		} else {
			argv[out++] = argv[i];
		}
	}
	argc = out;
	argv[argc] = nullptr;
	if (g_smoke) {
		g_ws_objs = std::min<size_t>(g_ws_objs, 1u << 16);
		g_pc_objs = std::min<uint64_t>(g_pc_objs, 1u << 16);
	}
	if (g_ws_objs == 0 || g_ws_objs > (1u << 26) || g_pc_objs == 0) {
		fprintf(stderr, "bad --ws-objs or --pc-objs\n");
		return 2;
	}
#if !BENCH_HAVE_CALLGRIND
	if (g_callgrind)
		fprintf(stderr, "--callgrind: built without valgrind/callgrind.h, ignored\n");
#endif

	/* EAL: lcore 0 (this thread) and 1 on their own cores, lcore 2 shares
	 * core 0 (the consumer of BM_ProdCons). */
	std::string prefix = "--file-prefix=dslab_bench" + std::to_string(getpid());
	const char *eal[] = {argv[0], "--no-huge", "--no-pci", "-m", "512", "--no-shconf",
			     prefix.c_str(), "--lcores=0@0,1@1,2@0", "--log-level=lib.eal:error"};
	if (rte_eal_init(int(sizeof(eal) / sizeof(eal[0])), const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (dslab_init(nullptr) != 0) {
		fprintf(stderr, "dslab_init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	setup_peers();
	if (!make_handles() || !ws_prepare()) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	if (rte_lcore_is_enabled(kProducerLcore) && rte_lcore_is_enabled(kConsumerLcore))
		g_pc_ring = rte_ring_create("bench_pc", kRingSize, int(rte_socket_id()),
					    RING_F_SP_ENQ | RING_F_SC_DEQ);

	register_all();
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::AddCustomContext("peers_loaded", [] {
		std::string s;
		for (const Adapter &a : g_peers)
			if (a.ok)
				s += std::string(s.empty() ? "" : ",") + a.name;
		return s;
	}());
	benchmark::AddCustomContext("eal", "--no-huge --no-pci -m 512 --lcores=0@0,1@1,2@0");
	benchmark::AddCustomContext("ws_objs", std::to_string(g_ws_objs));
	benchmark::AddCustomContext("ws_touch", g_ws_touch ? "1" : "0");
	benchmark::AddCustomContext("pc_objs_per_iter", std::to_string(g_pc_objs));
	benchmark::AddCustomContext("dslab_sheaf_capacity",
				    g_sheaf_capacity == DSLAB_SHEAF_CAPACITY_AUTO
					    ? std::string("auto")
					    : std::to_string(g_sheaf_capacity));
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();

	rte_ring_free(g_pc_ring);
	for (int p = 0; p < P_COUNT; p++) {
		if (!g_peers[p].ok)
			continue;
		for (int s = 0; s < 2; s++)
			if (g_handle[p][s] != nullptr)
				g_peers[p].destroy(g_handle[p][s]);
		if (g_ws[p].handle != nullptr)
			g_peers[p].destroy(g_ws[p].handle);
	}
	dslab_fini();
	rte_eal_cleanup();
	return 0;
}
