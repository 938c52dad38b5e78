/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * dslab_soak: a soak test of the dslab core.
 *
 * Four lcores on two cores (--lcores=0@0,1@1,2@0,3@1) and two LOGICAL
 * sockets (DSLAB_TOPOLOGY=0:0,1:0,2:1,3:1: lcores 0,1 on socket 0, lcores
 * 2,3 on socket 1) run, each, a random mix of every core operation (the op
 * table g_ops below): cache alloc/free, bulk alloc/free, kmalloc/kzalloc/
 * kfree/kvmalloc/kvfree of random sizes (large ones above 32 KiB included),
 * dslab_alloc_node() and dslab_kmalloc_node() on the other logical socket,
 * remote frees (objects handed through single-producer single-consumer
 * rte_rings, one per pair of lcores on different sockets, and freed by the
 * receiver), prefilled sheaves, shrink, and destroy/re-create of a per-lcore
 * private cache. Each lcore's live objects swing between 5% and 100% of
 * --live, so caches grow and shrink over and over.
 *
 * What is checked:
 *  - every object carries a header written at allocation (unique 64-bit id,
 *    allocating lcore, socket, kind, size, a checksum over them and the
 *    address) and a pattern over the rest; every free verifies it first;
 *    zeroed allocations are checked to be zero; the page map must name the
 *    socket asked for, dslab_ksize() at least the size asked for;
 *  - a live registry (sharded hash maps under mutexes, keyed by address)
 *    catches an address handed out twice while live, and a free of an
 *    address that is not live;
 *  - every ~100 ms the main lcore pauses the others (an atomic generation
 *    handshake) and checks, for every cache, objects_in_use == live objects
 *    of that cache in the registry; that the soak's own books balance
 *    (registry == lcores' pools + objects in the rings); and walks every
 *    lcore's main and spare sheaf of every cache: no slot may hold a live
 *    object or appear twice, and no lcore's sheaves may hold an object of
 *    another socket (known from a tombstone the soak writes at free, and
 *    from the page map);
 *  - at the end everything is freed and every cache destroyed (kmalloc ones
 *    shrunk): allocated == freed, registry empty, objects_in_use == 0 and
 *    the library's own alloc/free counts equal the soak's for every cache,
 *    bytes held at the end == 0;
 *  - any lib.dslab log message after dslab_init() (a leak or foreign-pointer
 *    report) is an error.
 * Exit status 0 only if every check passed. --inject F proves the checks
 * catch a fault (the run must then fail).
 *
 * kfree_rcu, nolock, remote:
 *  - every lcore is an online QSBR reader (dslab_rcu_online), reports
 *    quiescent states with dslab_quiescent() every 64 operations and goes
 *    offline while parked; 8% of frees are dslab_kvfree_rcu();
 *  - published objects (g_pub): writers replace them and retire the old
 *    ones with dslab_kfree_rcu, dslab_kvfree_rcu or dslab_kfree_rcu_nolock;
 *    readers hold references to them across operations and check them until
 *    their quiescent state (a grace period cut short is seen there);
 *    barriers (rcu, per cache, deferred work) run on reader lcores; private
 *    caches are destroyed synchronously (offline) or with
 *    dslab_cache_destroy_async (online), which must all be reaped;
 *  - a 5 kHz timer signal per lcore whose handler allocates and frees
 *    kmalloc-64 objects with dslab_kmalloc_nolock, dslab_kfree_nolock and
 *    dslab_kfree_rcu_nolock (see on_sig_timer), interrupting dslab calls;
 *    its objects are stamped and checked, and counted in the books;
 *  - remote frees go home by ring batches (--remote ring, the default) or
 *    straight to the slabs (--remote direct).
 */

/* The C11 (__atomic acquire/release) variant of rte_ring's inline
 * functions: the same ring, and ThreadSanitizer sees the hand-off. */
#define RTE_USE_C11_MEM_MODEL 1

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <execinfo.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_log.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include <dslab.h>
#include <dslab_rcu.h>

namespace {

constexpr unsigned kLcores = 4;
constexpr const char *kTopology = "0:0,1:0,2:1,3:1"; /* LOGICAL sockets */
constexpr int kExpectSocket[kLcores] = {0, 0, 1, 1};
constexpr unsigned kMaxTrack = 64;
constexpr uint16_t kNoTrack = 0xffff;
constexpr uint32_t kLargeMax = 192u << 10;
constexpr unsigned kMaxLargePerLcore = 6;
constexpr unsigned kRingSize = 4096;
constexpr uint64_t kStuckSeconds = 120;

/* ---------------------------------------------------------------------- */
/* Options */

struct Options {
	double seconds = 5;
	bool seconds_set = false;
	uint64_t seed = 0;
	bool seed_set = false;
	uint64_t ops = 0; /* total operations over all lcores, 0: no bound */
	unsigned live = 2000; /* objects an lcore keeps live at most */
	unsigned check_ms = 100;
	std::string inject; /* self-test of the soak: a fault it must catch */
	uint32_t remote = DSLAB_REMOTE_RING; /* how remote frees go home */
	unsigned rcu_bound = 0; /* dslab_rcu_set_max_pending() 1..N per lcore, 0: none */
	unsigned rcu_qbound = 0; /* dslab_rcu_set_quiescent_bound() 1..N per lcore, 0: none */
} g_opt;

/* The library's own tally of a cache's allocations and frees. */
uint64_t lib_allocs_of(const struct dslab_cache_stats &s)
{
	return s.alloc_cpu_sheaf + s.alloc_slowpath + s.alloc_node_remote + s.alloc_from_sheaf +
	       s.alloc_nolock;
}

uint64_t lib_frees_of(const struct dslab_cache_stats &s)
{
	return s.free_cpu_sheaf + s.free_slowpath + s.free_remote_node + s.free_remote_ring +
	       s.free_nolock + s.free_rcu_sheaf + s.free_rcu_sheaf_fail;
}

void usage(const char *prog)
{
	printf("usage: %s [--seconds N] [--ops N] [--seed S] [--live N] [--check-ms N] [--remote M]\n"
	       "       [--rcu-bound N] [--rcu-qbound N]\n"
	       "  --seconds N   run N seconds (default 5)\n"
	       "  --ops N       stop after N operations in all (alone: no time bound;\n"
	       "                with --seconds: whichever comes first)\n"
	       "  --seed S      seed of the random mix (default: from the clock; printed)\n"
	       "  --live N      live objects an lcore keeps at most (default 2000)\n"
	       "  --check-ms N  pause and check every N ms (default 100)\n"
	       "  --remote M    remote frees: ring (batched rings, default) or direct\n"
	       "  --rcu-bound N each lcore bounds its rcu sheaves waiting at 1..N\n"
	       "                (dslab_rcu_set_max_pending; it drops its references before\n"
	       "                each kfree_rcu/kvfree_rcu, which may then wait); default 0\n"
	       "  --rcu-qbound N each lcore bounds its rcu sheaves at its dslab_quiescent()\n"
	       "                calls at 1..N (dslab_rcu_set_quiescent_bound: they may wait,\n"
	       "                kfree_rcu never does); default 0\n"
	       "  --inject F    self-test: inject fault F (corrupt, leak, lost-free, foreign,\n"
	       "                rcu-early)"
	       "                once on lcore 1; the run must then FAIL\n",
	       prog);
}

bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (end == s || *end != '\0' || errno != 0)
		return false;
	*out = v;
	return true;
}

bool parse_options(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		uint64_t v;
		if (a == "--help" || a == "-h") {
			usage(argv[0]);
			exit(0);
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "dslab_soak: %s: missing value or unknown option\n", a.c_str());
			return false;
		}
		const char *val = argv[++i];
		if (a == "--seconds") {
			char *end;
			g_opt.seconds = strtod(val, &end);
			if (end == val || *end != '\0' || g_opt.seconds <= 0)
				return false;
			g_opt.seconds_set = true;
		} else if (a == "--seed" && parse_u64(val, &v)) {
			g_opt.seed = v;
			g_opt.seed_set = true;
		} else if (a == "--ops" && parse_u64(val, &v) && v > 0) {
			g_opt.ops = v;
		} else if (a == "--live" && parse_u64(val, &v) && v > 0 && v < 1000000) {
			g_opt.live = (unsigned)v;
		} else if (a == "--check-ms" && parse_u64(val, &v) && v > 0 && v < 100000) {
			g_opt.check_ms = (unsigned)v;
		} else if (a == "--rcu-bound" && parse_u64(val, &v) && v < 1000) {
			g_opt.rcu_bound = (unsigned)v;
		} else if (a == "--rcu-qbound" && parse_u64(val, &v) && v < 1000) {
			g_opt.rcu_qbound = (unsigned)v;
		} else if (a == "--remote" && (!strcmp(val, "ring") || !strcmp(val, "direct"))) {
			g_opt.remote = !strcmp(val, "ring") ? DSLAB_REMOTE_RING : DSLAB_REMOTE_DIRECT;
		} else if (a == "--inject" && (!strcmp(val, "corrupt") || !strcmp(val, "leak") ||
						 !strcmp(val, "lost-free") || !strcmp(val, "foreign") ||
						 !strcmp(val, "rcu-early"))) {
			g_opt.inject = val;
		} else {
			fprintf(stderr, "dslab_soak: bad option %s %s\n", a.c_str(), val);
			return false;
		}
	}
	if (g_opt.ops != 0 && !g_opt.seconds_set)
		g_opt.seconds = 0; /* no time bound */
	return true;
}

/* ---------------------------------------------------------------------- */
/* Errors: counted, the first ones printed */

std::atomic<uint64_t> g_errors{0};
constexpr uint64_t kMaxPrinted = 40;

__attribute__((format(printf, 1, 2))) void error(const char *fmt, ...)
{
	uint64_t n = g_errors.fetch_add(1, std::memory_order_relaxed) + 1;
	if (n > kMaxPrinted) {
		if (n == kMaxPrinted + 1)
			fprintf(stderr, "dslab_soak: further errors counted, not printed\n");
		return;
	}
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	unsigned lc = rte_lcore_id();
	fprintf(stderr, "dslab_soak: ERROR (lcore %d): %s\n", lc < RTE_MAX_LCORE ? (int)lc : -1, buf);
}

/* The rte_log stream, teed to stderr. Once dslab is initialised, any
 * lib.dslab message is the library reporting something wrong (a leak at
 * destroy, a foreign pointer, a free to the wrong cache): each one counts
 * as an error of the run. */
std::atomic<bool> g_log_watch{false};
std::atomic<uint64_t> g_lib_reports{0};

ssize_t log_write(void *, const char *buf, size_t n)
{
	fwrite(buf, 1, n, stderr);
	if (g_log_watch.load(std::memory_order_relaxed)) {
		for (size_t i = 0; i + 7 <= n; i++)
			if ((i == 0 || buf[i - 1] == '\n') && memcmp(buf + i, "dslab: ", 7) == 0)
				g_lib_reports.fetch_add(1, std::memory_order_relaxed);
	}
	return (ssize_t)n;
}

/* ---------------------------------------------------------------------- */
/* Random numbers, hashing */

inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

struct Rng {
	uint64_t s;
	uint64_t next() { return mix64(s += 0x9e3779b97f4a7c15ull); }
	uint32_t below(uint32_t n) { return (uint32_t)(((next() >> 32) * n) >> 32); }
	bool chance(unsigned pct) { return below(100) < pct; }
};

/* ---------------------------------------------------------------------- */
/* Objects and their header */

enum Kind : uint8_t { K_CACHE = 1, K_KMALLOC, K_LARGE, K_PRIV };
const char *kind_name(unsigned k)
{
	switch (k) {
	case K_CACHE: return "cache";
	case K_KMALLOC: return "kmalloc";
	case K_LARGE: return "large";
	case K_PRIV: return "private cache";
	}
	return "?";
}

/* What the soak knows of a live object (the registry's value). */
struct Obj {
	void *p;
	uint64_t id;     /* unique, from g_next_id */
	uint32_t size;   /* bytes the soak owns and patterns */
	uint16_t track;  /* tracked cache index; kNoTrack for large regions */
	uint8_t lcore;   /* allocating lcore */
	uint8_t socket;  /* socket of its memory */
	uint8_t kind;
};

std::atomic<uint64_t> g_next_id{0};

/* Header at the start of every object (truncated for objects under 24
 * bytes: the registry holds the rest), then a pattern over the rest. */
struct Hdr {
	uint64_t id;
	uint64_t info; /* size | lcore << 32 | socket << 40 | kind << 48 | magic << 56 */
	uint64_t check;
};
constexpr size_t kHdr = sizeof(Hdr);
constexpr uint64_t kPatMul = 0x9e3779b97f4a7c15ull, kPatOff = 0xd1b54a32d192ed03ull;
constexpr uint64_t kTombKey = 0x70bb57011edc0ffeull;

uint64_t hdr_check(uint64_t id, uint64_t info, const void *p)
{
	return mix64(id ^ mix64(info ^ (uintptr_t)p));
}

Hdr hdr_of(const Obj &o)
{
	Hdr h;
	h.id = o.id;
	h.info = (uint64_t)o.size | (uint64_t)o.lcore << 32 | (uint64_t)o.socket << 40 |
		 (uint64_t)o.kind << 48 | (uint64_t)0x5a << 56;
	h.check = hdr_check(h.id, h.info, o.p);
	return h;
}

void write_obj(const Obj &o)
{
	Hdr h = hdr_of(o);
	auto *b = static_cast<unsigned char *>(o.p);
	memcpy(b, &h, std::min<size_t>(o.size, kHdr));
	uint64_t base = o.id * kPatMul;
	size_t off = kHdr;
	for (; off + 8 <= o.size; off += 8) {
		uint64_t w = base ^ (off * kPatOff);
		memcpy(b + off, &w, 8);
	}
	if (off < o.size) {
		uint64_t w = base ^ (off * kPatOff);
		memcpy(b + off, &w, o.size - off);
	}
}

/* Offset of the first byte that differs, or SIZE_MAX. */
/* Offset of the first byte of [from, size) that breaks object id's
 * pattern, or SIZE_MAX (from: a multiple of 8). */
size_t check_pattern(const unsigned char *b, uint64_t id, size_t from, size_t size)
{
	uint64_t base = id * kPatMul;
	size_t off = from;
	for (; off + 8 <= size; off += 8) {
		uint64_t w = base ^ (off * kPatOff), v;
		memcpy(&v, b + off, 8);
		if (v != w)
			return off;
	}
	if (off < size) {
		uint64_t w = base ^ (off * kPatOff), v = 0;
		memcpy(&v, b + off, size - off);
		if (memcmp(&v, &w, size - off) != 0)
			return off;
	}
	return SIZE_MAX;
}

size_t check_obj(const Obj &o)
{
	Hdr h = hdr_of(o);
	const auto *b = static_cast<const unsigned char *>(o.p);
	size_t n = std::min<size_t>(o.size, kHdr);
	if (memcmp(b, &h, n) != 0) {
		const auto *hb = reinterpret_cast<const unsigned char *>(&h);
		for (size_t i = 0; i < n; i++)
			if (b[i] != hb[i])
				return i;
	}
	return check_pattern(b, o.id, kHdr, o.size);
}

bool all_zero(const void *p, size_t n)
{
	const auto *b = static_cast<const unsigned char *>(p);
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Tombstone, written at free in bytes 8..15 (slab freelists use bytes
 * 0..7): the object's socket, bound to its address. It survives while the
 * object sits in sheaves and slabs; a chunk given back and mapped again
 * reads as zero (mmap memory source), so a valid tombstone names the
 * socket of the object's chunk. */
void write_tomb(void *p, uint32_t usable, unsigned socket)
{
	if (usable < 16)
		return;
	uint64_t w = mix64((uintptr_t)p ^ kTombKey) + socket;
	memcpy(static_cast<char *>(p) + 8, &w, 8);
}

/* Socket named by a tombstone, or -1 when there is none. */
int read_tomb(const void *p, uint32_t usable)
{
	if (usable < 16)
		return -1;
	uint64_t w;
	memcpy(&w, static_cast<const char *>(p) + 8, 8);
	uint64_t d = w - mix64((uintptr_t)p ^ kTombKey);
	return d < 64 ? (int)d : -1;
}

/* ---------------------------------------------------------------------- */
/* Tracked caches: shared ones, the kmalloc classes, one private per lcore */

enum TrackKind : uint8_t { T_SHARED, T_KMALLOC, T_PRIVATE };

struct Tracked {
	std::atomic<dslab_cache *> cache{nullptr};
	TrackKind tkind = T_SHARED;
	uint32_t obj_size = 0; /* usable bytes */
	uint32_t capacity = 0; /* sheaf capacity */
	bool zero = false;     /* DSLAB_CACHE_ZERO */
	char name[DSLAB_NAME_SIZE] = {};
	std::atomic<int64_t> live{0}; /* objects of this cache in the registry */
};

Tracked g_track[kMaxTrack];
unsigned g_nshared, g_kmalloc_first, g_nkmalloc, g_priv_first, g_ntrack;

struct SharedSpec {
	const char *name;
	size_t size;
	size_t align;
	uint32_t capacity;
	uint32_t max_full, max_empty;
	uint32_t flags;
};
/* Geometries chosen to reach every path: default sheaves, zeroing, small
 * sheaves with tiny barns (barn_put_fail, flushes), no sheaves at all
 * (slow paths), large objects, large alignment. */
const SharedSpec kShared[] = {
	{"soak-40", 40, 0, DSLAB_SHEAF_CAPACITY_AUTO, 0, 0, 0},
	{"soak-zero-200", 200, 0, DSLAB_SHEAF_CAPACITY_AUTO, 0, 0, DSLAB_CACHE_ZERO},
	{"soak-hw-100", 100, 0, 8, 2, 2, DSLAB_CACHE_HWCACHE_ALIGN},
	{"soak-5000", 5000, 0, DSLAB_SHEAF_CAPACITY_AUTO, 0, 0, 0},
	{"soak-nosheaf-64", 64, 0, 0, 0, 0, 0},
	{"soak-a512-300", 300, 512, 4, 1, 1, 0},
	{"soak-rcu-120", 120, 0, DSLAB_SHEAF_CAPACITY_AUTO, 0, 0, 0}, /* published objects */
};

void track_set(unsigned t, dslab_cache *c)
{
	Tracked &T = g_track[t];
	struct dslab_cache_stats s;
	dslab_cache_stats(c, &s);
	T.obj_size = (uint32_t)dslab_cache_obj_size(c);
	T.capacity = (uint32_t)s.sheaf_capacity;
	snprintf(T.name, sizeof(T.name), "%s", dslab_cache_name(c));
	T.cache.store(c, std::memory_order_release);
}

uint16_t kmalloc_track(size_t usable)
{
	for (unsigned i = 0; i < g_nkmalloc; i++)
		if (g_track[g_kmalloc_first + i].obj_size == usable)
			return (uint16_t)(g_kmalloc_first + i);
	return kNoTrack;
}

/* ---------------------------------------------------------------------- */
/* The live registry */

struct alignas(64) Shard {
	std::mutex m;
	std::unordered_map<uintptr_t, Obj> map;
};
constexpr unsigned kShards = 64;
Shard g_reg[kShards];
std::atomic<int64_t> g_live{0}, g_peak_live{0};
std::atomic<int64_t> g_large_bytes{0}, g_peak_large_bytes{0};

Shard &shard_of(const void *p) { return g_reg[mix64((uintptr_t)p) % kShards]; }

void raise_peak(std::atomic<int64_t> &peak, int64_t v)
{
	int64_t cur = peak.load(std::memory_order_relaxed);
	while (v > cur && !peak.compare_exchange_weak(cur, v, std::memory_order_relaxed))
		;
}

bool reg_insert(const Obj &o)
{
	Shard &s = shard_of(o.p);
	{
		std::lock_guard<std::mutex> g(s.m);
		auto r = s.map.emplace((uintptr_t)o.p, o);
		if (!r.second) {
			Obj old = r.first->second;
			error("address %p handed out twice while live: id %" PRIu64 " (%s, lcore %u, "
			      "socket %u, %u bytes) and now id %" PRIu64 " (%s, lcore %u, socket %u)",
			      o.p, old.id, kind_name(old.kind), old.lcore, old.socket, old.size, o.id,
			      kind_name(o.kind), o.lcore, o.socket);
			return false;
		}
	}
	if (o.track != kNoTrack)
		g_track[o.track].live.fetch_add(1, std::memory_order_relaxed);
	raise_peak(g_peak_live, g_live.fetch_add(1, std::memory_order_relaxed) + 1);
	return true;
}

bool reg_find(const void *p, Obj *out)
{
	Shard &s = shard_of(p);
	std::lock_guard<std::mutex> g(s.m);
	auto it = s.map.find((uintptr_t)p);
	if (it == s.map.end())
		return false;
	*out = it->second;
	return true;
}

/* Take a live object out of the registry; it must be the one expected. */
bool reg_take(const Obj &o)
{
	Shard &s = shard_of(o.p);
	{
		std::lock_guard<std::mutex> g(s.m);
		auto it = s.map.find((uintptr_t)o.p);
		if (it == s.map.end()) {
			error("free of %p (id %" PRIu64 ", %s): not live in the registry", o.p, o.id,
			      kind_name(o.kind));
			return false;
		}
		if (it->second.id != o.id) {
			error("free of %p: registry holds id %" PRIu64 ", the freer id %" PRIu64, o.p,
			      it->second.id, o.id);
			return false;
		}
		s.map.erase(it);
	}
	if (o.track != kNoTrack)
		g_track[o.track].live.fetch_sub(1, std::memory_order_relaxed);
	g_live.fetch_sub(1, std::memory_order_relaxed);
	return true;
}

/* ---------------------------------------------------------------------- */
/* Lcores */

enum OpId : unsigned {
	OP_ALLOC,
	OP_ALLOC_BULK,
	OP_ALLOC_NODE,
	OP_KMALLOC,
	OP_KZALLOC,
	OP_KMALLOC_NODE,
	OP_KMALLOC_LARGE,
	OP_KVMALLOC,
	OP_FREE,
	OP_FREE_BULK,
	OP_REMOTE_SEND,
	OP_PREFILL,
	OP_PRIV_ALLOC,
	OP_PRIV_RECYCLE,
	OP_SHRINK,
	OP_RCU_PUBLISH,
	OP_RCU_READ,
	OP_RCU_BARRIER,
	NR_TABLE_OPS,
	/* counted, not drawn from the table */
	OP_REMOTE_FREE = NR_TABLE_OPS, /* objects received and freed */
	OP_ALLOC_FROM_SHEAF,           /* objects taken from prefilled sheaves */
	OP_REFILL_SHEAF,
	OP_RETURN_SHEAF,
	OP_PRIV_CREATE,
	OP_PRIV_DESTROY,
	OP_PRIV_DESTROY_ASYNC,
	OP_RCU_UNPUBLISH,
	OP_BARRIER_ALL,
	OP_BARRIER_CACHE,
	OP_BARRIER_DEFERRED,
	NR_OPS
};

const char *const kOpName[NR_OPS] = {
	"alloc", "alloc_bulk", "alloc_node(other socket)", "kmalloc", "kzalloc",
	"kmalloc_node(other socket)", "kmalloc_large(>32KiB)", "kvmalloc", "free(any api)",
	"free_bulk", "remote_send(ring)", "prefill_sheaf", "private_alloc",
	"private_recycle", "shrink", "rcu_publish", "rcu_read(reader refs)", "rcu_barrier(any)",
	"remote_free(objects)", "alloc_from_sheaf(objects)", "refill_sheaf", "return_sheaf",
	"private_create", "private_destroy", "private_destroy_async", "rcu_unpublish",
	"dslab_rcu_barrier", "dslab_rcu_barrier_on_cache", "dslab_deferred_barrier",
};

enum FreeApi : unsigned {
	API_FREE,
	API_KFREE,
	API_KVFREE,
	API_FREE_BULK,
	API_KVFREE_RCU,
	API_KFREE_RCU,
	API_KFREE_RCU_NOLOCK,
	NR_API
};
const char *const kApiName[NR_API] = {"dslab_free", "dslab_kfree", "dslab_kvfree", "dslab_free_bulk",
				      "dslab_kvfree_rcu", "dslab_kfree_rcu", "dslab_kfree_rcu_nolock"};

/* A reader's reference to a published object, held across operations
 * until its next quiescent state. */
struct Ref {
	const void *p;
	uint64_t id;
};
constexpr unsigned kMaxRefs = 8;

struct alignas(64) Lcore {
	unsigned id = 0;
	unsigned socket = 0;
	Rng rng{};
	std::vector<Obj> pool; /* live objects this lcore holds */
	unsigned nlarge = 0;
	unsigned priv_track = 0;
	unsigned priv_gen = 0;
	uint64_t priv_allocs = 0, priv_frees = 0; /* since its creation */
	uint64_t ops[NR_OPS] = {};
	uint64_t by_api[NR_API] = {};
	uint64_t allocs = 0, frees = 0, verified = 0, zero_checked = 0, quarantined = 0;
	uint64_t remote_sent = 0, ring_full = 0;
	uint64_t track_alloc[kMaxTrack] = {}, track_free[kMaxTrack] = {};
	std::atomic<uint64_t> ops_done{0};
	std::atomic<uint64_t> ack{0};
	std::atomic<int> cur_op{-1};
	uint64_t seen_gen = 0;
	size_t target = 0; /* live objects it aims at, below --live */
	Ref refs[kMaxRefs] = {};
	unsigned nref = 0;
	uint64_t refs_taken = 0, ref_checks = 0, published = 0, retired = 0;
};

Lcore g_lc[kLcores];
/* g_ring[src][dst]: single-producer single-consumer, for each pair of lcores
 * on different sockets (SP/SC: the hand-off is a plain release/acquire
 * pair that ThreadSanitizer follows). */
rte_ring *g_ring[kLcores][kLcores];

unsigned ring_count_to(unsigned dst)
{
	unsigned n = 0;
	for (unsigned src = 0; src < kLcores; src++)
		if (g_ring[src][dst] != nullptr)
			n += rte_ring_count(g_ring[src][dst]);
	return n;
}
std::vector<unsigned> g_socket_lcores[2];

/* Pause handshake and end. */
std::atomic<uint64_t> g_req_gen{0}, g_done_gen{0};
std::atomic<bool> g_stop{false};
std::atomic<unsigned> g_arrive_a{0};
/* Start and finish edges of our own: EAL's launch and wait are not
 * instrumented, so ThreadSanitizer would not see them order anything. */
std::atomic<bool> g_go{false};
std::atomic<unsigned> g_finished{0};

inline void relax(unsigned &spins)
{
	if (++spins < 64)
		rte_pause();
	else
		sched_yield();
}

/* ---------------------------------------------------------------------- */
/* Allocation and free bookkeeping */

void pool_remove(Lcore &L, size_t i)
{
	if (L.pool[i].kind == K_LARGE)
		L.nlarge--;
	L.pool[i] = L.pool.back();
	L.pool.pop_back();
}

/* A new object: check it, write its header, register it. */
bool on_alloc(Lcore &L, void *p, uint8_t kind, uint16_t track, uint32_t size, unsigned socket,
	      bool zero, const char *what)
{
	if (p == nullptr) {
		error("%s (%u bytes): NULL, rte_errno %d (%s)", what, size, rte_errno,
		      rte_strerror(rte_errno));
		return false;
	}
	/* The page map names the socket asked for (large regions carry the
	 * bare socket, slabs DSLAB_PM_TAG(socket)). */
	uintptr_t e = dslab_pm_entry_(p);
	uint32_t want = kind == K_LARGE ? socket : DSLAB_PM_TAG(socket);
	if (e == 0 || (e & DSLAB_PM_TAG_MASK) != want)
		error("%s: %p on lcore %u: page-map tag %#x, want %#x (socket %u)", what, p, L.id,
		      (unsigned)(e & DSLAB_PM_TAG_MASK), want, socket);
	size_t ks = dslab_ksize(p);
	if (ks < size)
		error("%s: %p: dslab_ksize %zu below the %u bytes asked for", what, p, ks, size);
	if (kind == K_KMALLOC) {
		track = kmalloc_track(ks);
		if (track == kNoTrack) {
			error("%s: %p: dslab_ksize %zu is no kmalloc class: not tracked", what, p, ks);
			return false;
		}
	} else if (track != kNoTrack && ks != g_track[track].obj_size) {
		error("%s: %p: dslab_ksize %zu, cache %s objects are %u bytes", what, p, ks,
		      g_track[track].name, g_track[track].obj_size);
	}
	if (zero) {
		L.zero_checked++;
		if (!all_zero(p, size))
			error("%s: %p (%u bytes) should be zeroed and is not", what, p, size);
	}
	Obj o;
	o.p = p;
	o.id = g_next_id.fetch_add(1, std::memory_order_relaxed) + 1;
	o.size = size;
	o.track = track;
	o.lcore = (uint8_t)L.id;
	o.socket = (uint8_t)socket;
	o.kind = kind;
	write_obj(o);
	if (!reg_insert(o))
		return false; /* a duplicate: leave it alone, the run has failed */
	L.pool.push_back(o);
	L.allocs++;
	if (track != kNoTrack)
		L.track_alloc[track]++;
	if (kind == K_PRIV)
		L.priv_allocs++;
	if (kind == K_LARGE) {
		L.nlarge++;
		raise_peak(g_peak_large_bytes,
			   g_large_bytes.fetch_add((int64_t)ks, std::memory_order_relaxed) + (int64_t)ks);
	}
	return true;
}

/* Before a free: verify, take out of the registry, write the tombstone
 * (not for a published object: readers may still look at it). False: the
 * object is not to be freed (reported, kept out of the way). */
bool prepare_free(Lcore &L, const Obj &o, bool tomb = true)
{
	L.verified++;
	size_t off = check_obj(o);
	if (off != SIZE_MAX) {
		error("object %p id %" PRIu64 " (%s, %u bytes, allocated on lcore %u, socket %u) "
		      "corrupted at byte %zu; freed on lcore %u", o.p, o.id, kind_name(o.kind), o.size,
		      o.lcore, o.socket, off, L.id);
		reg_take(o);
		L.quarantined++;
		return false;
	}
	if (!reg_take(o)) {
		L.quarantined++;
		return false;
	}
	if (o.kind == K_LARGE) {
		int64_t ks = (int64_t)dslab_ksize(o.p);
		g_large_bytes.fetch_sub(ks, std::memory_order_relaxed);
	} else if (tomb) {
		write_tomb(o.p, g_track[o.track].obj_size, o.socket);
	}
	L.frees++;
	if (o.track != kNoTrack)
		L.track_free[o.track]++;
	if (o.kind == K_PRIV)
		L.priv_frees++;
	return true;
}


dslab_cache *cache_of(const Obj &o) { return g_track[o.track].cache.load(std::memory_order_relaxed); }

void drop_refs(Lcore &L);

/* Free a prepared object with one of the APIs that may free it. */
void api_free(Lcore &L, const Obj &o, unsigned api)
{
	if (o.kind == K_LARGE && api == API_FREE)
		api = API_KFREE;
	switch (api) {
	case API_FREE:
		dslab_free(cache_of(o), o.p);
		break;
	case API_KFREE:
		dslab_kfree(o.p);
		break;
	case API_KVFREE_RCU:
		/* Headless: nothing is written into the object, so its tomb
		 * stays for the sheaf walks once its grace period is over. */
		if (g_opt.rcu_bound != 0)
			drop_refs(L); /* the call may wait: a quiescent point */
		dslab_kvfree_rcu(o.p);
		break;
	default:
		api = API_KVFREE;
		dslab_kvfree(o.p);
		break;
	}
	L.by_api[api]++;
}

unsigned random_api(Lcore &L, const Obj &o)
{
	unsigned r = L.rng.below(100);
	if (r < 8)
		return API_KVFREE_RCU;
	if (o.kind == K_KMALLOC || o.kind == K_LARGE) /* kfree mostly, sometimes the class cache */
		return r < 65 ? API_KFREE : r < 90 ? API_KVFREE : API_FREE;
	return r < 60 ? API_FREE : r < 85 ? API_KFREE : API_KVFREE;
}

void release(Lcore &L, const Obj &o)
{
	if (prepare_free(L, o))
		api_free(L, o, random_api(L, o));
}

/* Free n objects of one cache with dslab_free_bulk() (sometimes with a NULL
 * entry in the array, which it skips). */
void bulk_release(Lcore &L, const Obj *objs, unsigned n)
{
	void *arr[72];
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (prepare_free(L, objs[i]))
			arr[m++] = objs[i].p;
		if (i == 0 && L.rng.chance(10))
			arr[m++] = nullptr;
	}
	dslab_free_bulk(cache_of(objs[0]), m, arr);
	L.by_api[API_FREE_BULK] += n;
}

/* Free what other lcores sent here: objects of the other socket (or of this
 * one, allocated there with alloc_node), grouped by cache for bulk frees. */
void drain_ring(Lcore &L, rte_ring *r)
{
	void *buf[64];
	unsigned n = rte_ring_sc_dequeue_burst(r, buf, 64, nullptr);
	if (n == 0)
		return;
	Obj objs[64];
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!reg_find(buf[i], &objs[k])) {
			error("object %p received through the ring is not live", buf[i]);
			continue;
		}
		k++;
	}
	L.ops[OP_REMOTE_FREE] += k;
	std::sort(objs, objs + k, [](const Obj &a, const Obj &b) { return a.track < b.track; });
	for (unsigned a = 0; a < k;) {
		unsigned b = a + 1;
		while (b < k && objs[b].track == objs[a].track)
			b++;
		if (b - a >= 2 && objs[a].kind != K_LARGE && L.rng.chance(40)) {
			bulk_release(L, objs + a, b - a);
		} else {
			for (unsigned i = a; i < b; i++)
				release(L, objs[i]);
		}
		a = b;
	}
}

void drain_inbox(Lcore &L)
{
	for (unsigned src = 0; src < kLcores; src++)
		if (g_ring[src][L.id] != nullptr)
			drain_ring(L, g_ring[src][L.id]);
}

/* ---------------------------------------------------------------------- */
/* Operations */

unsigned other_socket(const Lcore &L) { return L.socket ^ 1u; }
unsigned pick_shared(Lcore &L) { return L.rng.below(g_nshared); }

uint32_t small_size(Rng &r)
{
	unsigned x = r.below(100);
	if (x < 60)
		return 1 + r.below(256);
	if (x < 90)
		return 257 + r.below(4096 - 256);
	return 4097 + r.below(DSLAB_KMALLOC_MAX_SIZE - 4096);
}

uint32_t large_size(Rng &r) { return DSLAB_KMALLOC_MAX_SIZE + 1 + r.below(kLargeMax - DSLAB_KMALLOC_MAX_SIZE); }

unsigned zero_flag(Lcore &L, unsigned pct) { return L.rng.chance(pct) ? DSLAB_F_ZERO : 0u; }

void op_alloc(Lcore &L)
{
	unsigned t = pick_shared(L);
	Tracked &T = g_track[t];
	unsigned f = zero_flag(L, 10);
	void *p = dslab_alloc(T.cache.load(std::memory_order_relaxed), f);
	on_alloc(L, p, K_CACHE, (uint16_t)t, T.obj_size, L.socket, f || T.zero, "dslab_alloc");
}

void op_alloc_bulk(Lcore &L)
{
	unsigned t = pick_shared(L);
	Tracked &T = g_track[t];
	unsigned f = zero_flag(L, 10);
	unsigned n = 1 + L.rng.below(16);
	void *arr[16];
	unsigned got = dslab_alloc_bulk(T.cache.load(std::memory_order_relaxed), f, n, arr);
	if (got != n) {
		error("dslab_alloc_bulk(%s, %u) returned %u, rte_errno %d", T.name, n, got, rte_errno);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		on_alloc(L, arr[i], K_CACHE, (uint16_t)t, T.obj_size, L.socket, f || T.zero,
			 "dslab_alloc_bulk");
}

void op_alloc_node(Lcore &L)
{
	unsigned t = pick_shared(L);
	Tracked &T = g_track[t];
	unsigned f = zero_flag(L, 10);
	int s = L.rng.chance(85) ? (int)other_socket(L) : L.rng.chance(50) ? SOCKET_ID_ANY : (int)L.socket;
	void *p = dslab_alloc_node(T.cache.load(std::memory_order_relaxed), f, s);
	on_alloc(L, p, K_CACHE, (uint16_t)t, T.obj_size, s < 0 ? L.socket : (unsigned)s, f || T.zero,
		 "dslab_alloc_node");
}

void op_kmalloc(Lcore &L)
{
	uint32_t size = small_size(L.rng);
	unsigned f = zero_flag(L, 5);
	on_alloc(L, dslab_kmalloc(size, f), K_KMALLOC, kNoTrack, size, L.socket, f, "dslab_kmalloc");
}

void op_kzalloc(Lcore &L)
{
	uint32_t size = small_size(L.rng);
	on_alloc(L, dslab_kzalloc(size, 0), K_KMALLOC, kNoTrack, size, L.socket, true, "dslab_kzalloc");
}

void op_kmalloc_node(Lcore &L)
{
	bool large = L.nlarge < kMaxLargePerLcore && L.rng.chance(2);
	uint32_t size = large ? large_size(L.rng) : small_size(L.rng);
	unsigned f = zero_flag(L, 10);
	int s = L.rng.chance(85) ? (int)other_socket(L) : SOCKET_ID_ANY;
	void *p = dslab_kmalloc_node(size, f, s);
	on_alloc(L, p, large ? K_LARGE : K_KMALLOC, kNoTrack, size, s < 0 ? L.socket : (unsigned)s,
		 f, "dslab_kmalloc_node");
}

void op_kmalloc_large(Lcore &L)
{
	if (L.nlarge >= kMaxLargePerLcore) {
		op_kmalloc(L);
		return;
	}
	uint32_t size = large_size(L.rng);
	unsigned f = zero_flag(L, 20);
	on_alloc(L, dslab_kmalloc(size, f), K_LARGE, kNoTrack, size, L.socket, f,
		 "dslab_kmalloc(large)");
}

void op_kvmalloc(Lcore &L)
{
	bool large = L.nlarge < kMaxLargePerLcore && L.rng.chance(25);
	uint32_t size = large ? large_size(L.rng) : small_size(L.rng);
	unsigned f = zero_flag(L, 20);
	on_alloc(L, dslab_kvmalloc(size, f), large ? K_LARGE : K_KMALLOC, kNoTrack, size, L.socket, f,
		 "dslab_kvmalloc");
}

void op_free(Lcore &L)
{
	if (L.pool.empty())
		return;
	size_t i = L.rng.below((uint32_t)L.pool.size());
	Obj o = L.pool[i];
	pool_remove(L, i);
	release(L, o);
}

void op_free_bulk(Lcore &L)
{
	if (L.pool.empty())
		return;
	size_t sz = L.pool.size();
	size_t i0 = L.rng.below((uint32_t)sz);
	Obj first = L.pool[i0];
	if (first.kind == K_LARGE) {
		pool_remove(L, i0);
		release(L, first);
		return;
	}
	unsigned want = 1 + L.rng.below(32);
	size_t idx[64];
	unsigned n = 0;
	idx[n++] = i0;
	for (size_t step = 1; step < std::min<size_t>(sz, 256) && n < want; step++) {
		size_t j = (i0 + step) % sz;
		if (L.pool[j].track == first.track)
			idx[n++] = j;
	}
	std::sort(idx, idx + n, [](size_t a, size_t b) { return a > b; });
	Obj objs[64];
	for (unsigned k = 0; k < n; k++) {
		objs[k] = L.pool[idx[k]];
		pool_remove(L, idx[k]);
	}
	bulk_release(L, objs, n);
}

/* Out of line: GCC 12 sees rte_ring's unrolled copy read past a short
 * array (-Wmaybe-uninitialized) when inlined into the caller. */
__attribute__((noinline)) unsigned ring_send(rte_ring *r, void *const *objs, unsigned n)
{
	return rte_ring_sp_enqueue_burst(r, objs, n, nullptr);
}

void op_remote_send(Lcore &L)
{
	if (L.pool.empty())
		return;
	const auto &peers = g_socket_lcores[other_socket(L)];
	unsigned dest = peers[L.rng.below((uint32_t)peers.size())];
	unsigned want = 1 + L.rng.below(8);
	bool same = L.rng.chance(50);
	void *buf[8];
	Obj objs[8];
	unsigned n = 0;
	for (unsigned tries = 0; n < want && tries < 4 * want && !L.pool.empty(); tries++) {
		size_t i = L.rng.below((uint32_t)L.pool.size());
		const Obj &o = L.pool[i];
		if (o.kind == K_PRIV) /* private caches never leave their lcore */
			continue;
		if (same && n > 0 && o.track != objs[0].track)
			continue;
		objs[n] = o;
		buf[n++] = o.p;
		pool_remove(L, i);
	}
	if (n == 0)
		return;
	unsigned sent = ring_send(g_ring[L.id][dest], buf, n);
	L.remote_sent += sent;
	for (unsigned i = sent; i < n; i++) {
		L.ring_full++;
		release(L, objs[i]);
	}
}

void op_prefill(Lcore &L)
{
	unsigned t = pick_shared(L);
	Tracked &T = g_track[t];
	dslab_cache *c = T.cache.load(std::memory_order_relaxed);
	unsigned lim = T.capacity ? 2 * T.capacity : 16;
	unsigned n = 1 + L.rng.below(lim);
	struct dslab_sheaf *s = dslab_prefill_sheaf(c, 0, n);
	if (s == nullptr) {
		error("dslab_prefill_sheaf(%s, %u): NULL, rte_errno %d", T.name, n, rte_errno);
		return;
	}
	if (dslab_sheaf_size(s) < n)
		error("dslab_prefill_sheaf(%s, %u): holds only %u", T.name, n, dslab_sheaf_size(s));
	unsigned f = zero_flag(L, 10);
	unsigned k = L.rng.below(std::min(n, 24u) + 1);
	for (unsigned i = 0; i < k; i++) {
		void *p = dslab_alloc_from_sheaf(c, f, s);
		L.ops[OP_ALLOC_FROM_SHEAF]++;
		if (!on_alloc(L, p, K_CACHE, (uint16_t)t, T.obj_size, L.socket, f || T.zero,
			      "dslab_alloc_from_sheaf"))
			break;
	}
	if (L.rng.chance(30)) {
		unsigned n2 = 1 + L.rng.below(2 * lim);
		L.ops[OP_REFILL_SHEAF]++;
		if (dslab_refill_sheaf(c, 0, &s, n2) != 0) {
			error("dslab_refill_sheaf(%s, %u): rte_errno %d", T.name, n2, rte_errno);
		} else {
			if (dslab_sheaf_size(s) < n2)
				error("dslab_refill_sheaf(%s, %u): holds only %u", T.name, n2,
				      dslab_sheaf_size(s));
			for (unsigned i = L.rng.below(std::min(n2, 16u) + 1); i > 0; i--) {
				void *p = dslab_alloc_from_sheaf(c, f, s);
				L.ops[OP_ALLOC_FROM_SHEAF]++;
				if (!on_alloc(L, p, K_CACHE, (uint16_t)t, T.obj_size, L.socket, f || T.zero,
					      "dslab_alloc_from_sheaf(refilled)"))
					break;
			}
		}
	}
	if (dslab_sheaf_size(s) <= 8 && L.rng.chance(20)) {
		/* Empty it: then it must say ENOENT. */
		while (dslab_sheaf_size(s) != 0) {
			void *p = dslab_alloc_from_sheaf(c, f, s);
			L.ops[OP_ALLOC_FROM_SHEAF]++;
			if (!on_alloc(L, p, K_CACHE, (uint16_t)t, T.obj_size, L.socket, f || T.zero,
				      "dslab_alloc_from_sheaf(last)"))
				break;
		}
		rte_errno = 0;
		void *p = dslab_alloc_from_sheaf(c, f, s);
		if (p != nullptr || rte_errno != ENOENT)
			error("dslab_alloc_from_sheaf on an empty sheaf: %p, rte_errno %d", p, rte_errno);
	}
	L.ops[OP_RETURN_SHEAF]++;
	dslab_return_sheaf(c, s);
}

/* The lcore's private cache: a random geometry each time. */
void priv_create(Lcore &L)
{
	static const uint32_t caps[] = {DSLAB_SHEAF_CAPACITY_AUTO, DSLAB_SHEAF_CAPACITY_AUTO, 0, 1, 2,
					7, 32, 200};
	Tracked &T = g_track[L.priv_track];
	dslab_cache_args a{};
	size_t size = L.rng.chance(30) ? 1 + L.rng.below(64) : 65 + L.rng.below(3000);
	a.sheaf_capacity = caps[L.rng.below(sizeof(caps) / sizeof(caps[0]))];
	a.barn_max_full = L.rng.below(4);
	a.barn_max_empty = L.rng.below(4);
	a.flags = (L.rng.chance(25) ? DSLAB_CACHE_ZERO : 0) |
		  (L.rng.chance(25) ? DSLAB_CACHE_HWCACHE_ALIGN : 0);
	a.align = L.rng.chance(30) ? (size_t)1 << (3 + L.rng.below(8)) : 0;
	char name[DSLAB_NAME_SIZE];
	snprintf(name, sizeof(name), "soak-private-%u", L.id);
	dslab_cache *c = dslab_cache_create(name, size, &a);
	L.ops[OP_PRIV_CREATE]++;
	if (c == nullptr) {
		error("dslab_cache_create(%s, %zu, cap %u, align %zu, flags %#x) (generation %u): "
		      "rte_errno %d (%s)", name, size, a.sheaf_capacity, a.align, a.flags, L.priv_gen,
		      rte_errno, rte_strerror(rte_errno));
		return;
	}
	L.priv_gen++;
	L.priv_allocs = L.priv_frees = 0;
	T.zero = a.flags & DSLAB_CACHE_ZERO;
	track_set(L.priv_track, c);
}

void drop_refs(Lcore &L);
void online();

/* Free every private object, prove the cache empty, destroy it. */
void priv_destroy(Lcore &L)
{
	Tracked &T = g_track[L.priv_track];
	dslab_cache *c = T.cache.load(std::memory_order_relaxed);
	if (c == nullptr)
		return;
	for (size_t i = L.pool.size(); i-- > 0;) {
		if (L.pool[i].kind != K_PRIV)
			continue;
		Obj o = L.pool[i];
		pool_remove(L, i);
		release(L, o);
	}
	struct dslab_cache_stats s;
	dslab_cache_stats(c, &s);
	uint64_t lib_allocs = lib_allocs_of(s);
	uint64_t lib_frees = lib_frees_of(s);
	if (s.objects_in_use != 0 || T.live.load() != 0 || lib_allocs != L.priv_allocs ||
	    lib_frees != L.priv_frees)
		error("private cache %s before destroy: objects_in_use %" PRIu64 ", registry %" PRId64
		      ", library allocs %" PRIu64 " frees %" PRIu64 ", soak allocs %" PRIu64
		      " frees %" PRIu64, T.name, s.objects_in_use, T.live.load(), lib_allocs, lib_frees,
		      L.priv_allocs, L.priv_frees);
	T.cache.store(nullptr, std::memory_order_release);
	if (L.rng.chance(50)) {
		/* Seed 002: unlinked now (the name is free for the next
		 * create), reaped after its barrier by dslab's thread. */
		if (dslab_cache_destroy_async(c) != 0)
			error("dslab_cache_destroy_async(%s): rte_errno %d", T.name, rte_errno);
		L.ops[OP_PRIV_DESTROY_ASYNC]++;
	} else {
		/* The synchronous destroy waits for the cache's barrier: an
		 * online reader would wait on itself (dslab refuses). */
		drop_refs(L);
		dslab_rcu_offline();
		dslab_cache_destroy(c);
		online();
		L.ops[OP_PRIV_DESTROY]++;
	}
	if (dslab_cache_lookup(T.name) != nullptr)
		error("private cache %s still found after dslab_cache_destroy", T.name);
}

void op_priv_alloc(Lcore &L)
{
	Tracked &T = g_track[L.priv_track];
	dslab_cache *c = T.cache.load(std::memory_order_relaxed);
	if (c == nullptr) {
		priv_create(L);
		if ((c = T.cache.load(std::memory_order_relaxed)) == nullptr)
			return;
	}
	uint16_t t = (uint16_t)L.priv_track;
	switch (L.rng.below(4)) {
	case 0:
	case 1: {
		unsigned f = zero_flag(L, 20);
		on_alloc(L, dslab_alloc(c, f), K_PRIV, t, T.obj_size, L.socket, f || T.zero,
			 "dslab_alloc(private)");
		break;
	}
	case 2: {
		unsigned n = 1 + L.rng.below(8);
		void *arr[8];
		if (dslab_alloc_bulk(c, 0, n, arr) != n) {
			error("dslab_alloc_bulk(%s, %u): rte_errno %d", T.name, n, rte_errno);
			break;
		}
		for (unsigned i = 0; i < n; i++)
			on_alloc(L, arr[i], K_PRIV, t, T.obj_size, L.socket, T.zero,
				 "dslab_alloc_bulk(private)");
		break;
	}
	default: {
		unsigned s = other_socket(L);
		on_alloc(L, dslab_alloc_node(c, 0, (int)s), K_PRIV, t, T.obj_size, s, T.zero,
			 "dslab_alloc_node(private)");
		break;
	}
	}
}

void op_priv_recycle(Lcore &L)
{
	priv_destroy(L);
	priv_create(L);
}

void op_shrink(Lcore &L)
{
	unsigned t = L.rng.below(g_nshared + g_nkmalloc);
	(void)dslab_cache_shrink(g_track[t].cache.load(std::memory_order_relaxed));
}

/* ---------------------------------------------------------------------- */
/* kfree_rcu under readers
 *
 * g_pub holds published objects: live in the registry, owned by their slot.
 * A writer publishes a new object with an exchange and retires the one it
 * replaced with dslab_kfree_rcu, dslab_kvfree_rcu or dslab_kfree_rcu_nolock
 * (the object leaves the registry then, without a tombstone). Every lcore is
 * an online reader of dslab's QSBR variable: it takes references to
 * published objects and checks them at every step until its next quiescent
 * state (dslab_quiescent(), a barrier, going offline to park). An object
 * reclaimed before the grace period is over would be reused (new header),
 * linked into a slab or poisoned (checked builds): the check sees it. */
constexpr unsigned kPubSlots = 256;
constexpr size_t kPubHead = kHdr; /* offset of the object's dslab_rcu_head */
constexpr size_t kPubMin = kHdr + sizeof(struct dslab_rcu_head) + 8;
std::atomic<void *> g_pub[kPubSlots];
unsigned g_trcu = UINT32_MAX; /* soak-rcu-120's track */
std::atomic<uint64_t> g_ref_failures{0};

/* The id of an intact published object (header, and with full the pattern
 * after its rcu head, which kfree_rcu may write), else 0. */
uint64_t pub_check(const void *p, uint64_t want_id, bool full)
{
	Hdr h;
	memcpy(&h, p, kHdr);
	if ((h.info >> 56) != 0x5a || h.check != hdr_check(h.id, h.info, p) ||
	    (want_id != 0 && h.id != want_id) || h.id == 0)
		return 0;
	uint32_t size = (uint32_t)h.info;
	if (size < kPubMin)
		return 0;
	if (full && check_pattern(static_cast<const unsigned char *>(p), h.id,
				  kPubHead + sizeof(struct dslab_rcu_head), size) != SIZE_MAX)
		return 0;
	return h.id;
}

void ref_failed(Lcore &L, const Ref &r, const char *when)
{
	g_ref_failures.fetch_add(1, std::memory_order_relaxed);
	error("reader lcore %u: published object %p (id %" PRIu64 ") changed %s, before the "
	      "reader's quiescent state: reclaimed before its grace period", L.id, r.p, r.id, when);
}

/* Every step: the header of every held reference. */
void check_refs(Lcore &L)
{
	for (unsigned i = 0; i < L.nref; i++) {
		L.ref_checks++;
		if (pub_check(L.refs[i].p, L.refs[i].id, false) == 0)
			ref_failed(L, L.refs[i], "while held");
	}
}

/* Before any quiescent point: a last full check, then let go. */
void drop_refs(Lcore &L)
{
	for (unsigned i = 0; i < L.nref; i++) {
		L.ref_checks++;
		if (pub_check(L.refs[i].p, L.refs[i].id, true) == 0)
			ref_failed(L, L.refs[i], "at the last check");
	}
	L.nref = 0;
}

void op_rcu_read(Lcore &L)
{
	for (unsigned k = 1 + L.rng.below(4); k > 0; k--) {
		unsigned i = L.rng.below(kPubSlots);
		const void *p = g_pub[i].load(std::memory_order_acquire);
		if (p == nullptr)
			continue;
		L.ref_checks++;
		uint64_t id = pub_check(p, 0, true);
		if (id == 0) {
			g_ref_failures.fetch_add(1, std::memory_order_relaxed);
			error("reader lcore %u: published object %p (slot %u) not intact when read: "
			      "reclaimed before its grace period", L.id, p, i);
			continue;
		}
		if (L.nref < kMaxRefs) {
			L.refs[L.nref++] = Ref{p, id};
			L.refs_taken++;
		}
	}
}

/* Retire an object taken out of its slot: readers may still hold it. */
void retire_published(Lcore &L, void *p)
{
	Obj o;
	if (!reg_find(p, &o)) {
		error("published object %p is not live in the registry", p);
		return;
	}
	if (!prepare_free(L, o, false))
		return;
	L.retired++;
	auto *head = reinterpret_cast<struct dslab_rcu_head *>(static_cast<char *>(p) + kPubHead);
	unsigned r = L.rng.below(100), api;
	if (g_opt.rcu_bound != 0 && r < 80)
		drop_refs(L); /* kfree_rcu may wait: a quiescent point */
	if (r < 50) {
		dslab_kfree_rcu_head(p, head);
		api = API_KFREE_RCU;
	} else if (r < 80) {
		dslab_kvfree_rcu(p);
		api = API_KVFREE_RCU;
	} else {
		dslab_kfree_rcu_nolock_head(p, head);
		api = API_KFREE_RCU_NOLOCK;
	}
	L.by_api[api]++;
}

/* Publish a new object into a random slot (soak-rcu-120, local or the other
 * socket's: a remote kfree_rcu later; or kmalloc, 48 bytes to 2 KiB), and
 * retire the one it replaces; sometimes only empty a slot. */
void op_rcu_publish(Lcore &L)
{
	unsigned i = L.rng.below(kPubSlots);
	if (L.rng.chance(15)) {
		void *old = g_pub[i].exchange(nullptr, std::memory_order_acq_rel);
		L.ops[OP_RCU_UNPUBLISH]++;
		if (old != nullptr)
			retire_published(L, old);
		return;
	}
	Tracked &T = g_track[g_trcu];
	dslab_cache *c = T.cache.load(std::memory_order_relaxed);
	size_t before = L.pool.size();
	unsigned r = L.rng.below(100);
	if (r < 55) {
		on_alloc(L, dslab_alloc(c, 0), K_CACHE, (uint16_t)g_trcu, T.obj_size, L.socket, T.zero,
			 "dslab_alloc(published)");
	} else if (r < 70) {
		unsigned s = other_socket(L);
		on_alloc(L, dslab_alloc_node(c, 0, (int)s), K_CACHE, (uint16_t)g_trcu, T.obj_size, s,
			 T.zero, "dslab_alloc_node(published)");
	} else {
		uint32_t size = (uint32_t)kPubMin + L.rng.below(2048 - (uint32_t)kPubMin);
		on_alloc(L, dslab_kmalloc(size, 0), K_KMALLOC, kNoTrack, size, L.socket, false,
			 "dslab_kmalloc(published)");
	}
	if (L.pool.size() == before)
		return; /* failed, reported */
	Obj o = L.pool.back();
	L.pool.pop_back(); /* the slot owns it now */
	void *old = g_pub[i].exchange(o.p, std::memory_order_acq_rel);
	L.published++;
	if (old != nullptr)
		retire_published(L, old);
}

/* A barrier is a quiescent point of its caller: references go first. */
void op_rcu_barrier(Lcore &L)
{
	drop_refs(L);
	unsigned r = L.rng.below(100);
	if (r < 35) {
		dslab_rcu_barrier();
		L.ops[OP_BARRIER_ALL]++;
	} else if (r < 80) {
		unsigned t = L.rng.below(g_nshared + g_nkmalloc);
		dslab_rcu_barrier_on_cache(g_track[t].cache.load(std::memory_order_relaxed));
		L.ops[OP_BARRIER_CACHE]++;
	} else {
		dslab_deferred_barrier();
		L.ops[OP_BARRIER_DEFERRED]++;
	}
}

/* The op table: weights out of their sum; "allocates" ops turn into frees
 * while the lcore holds --live objects. New ops (kfree_rcu, nolock) are
 * added here with an OpId. */
struct OpDef {
	OpId id;
	unsigned weight;
	bool allocates;
	void (*fn)(Lcore &);
};
const OpDef g_ops[] = {
	{OP_ALLOC, 1200, true, op_alloc},
	{OP_ALLOC_BULK, 200, true, op_alloc_bulk},
	{OP_ALLOC_NODE, 300, true, op_alloc_node},
	{OP_KMALLOC, 900, true, op_kmalloc},
	{OP_KZALLOC, 300, true, op_kzalloc},
	{OP_KMALLOC_NODE, 200, true, op_kmalloc_node},
	{OP_KMALLOC_LARGE, 6, true, op_kmalloc_large},
	{OP_KVMALLOC, 40, true, op_kvmalloc},
	{OP_FREE, 2800, false, op_free},
	{OP_FREE_BULK, 250, false, op_free_bulk},
	{OP_REMOTE_SEND, 400, false, op_remote_send},
	{OP_PREFILL, 60, true, op_prefill},
	{OP_PRIV_ALLOC, 400, true, op_priv_alloc},
	{OP_PRIV_RECYCLE, 3, false, op_priv_recycle},
	{OP_SHRINK, 3, false, op_shrink},
	{OP_RCU_PUBLISH, 150, false, op_rcu_publish},
	{OP_RCU_READ, 300, false, op_rcu_read},
	{OP_RCU_BARRIER, 2, false, op_rcu_barrier},
};
static_assert(sizeof(g_ops) / sizeof(g_ops[0]) == NR_TABLE_OPS, "one table entry per op");
unsigned g_weight_sum;

/* --inject: one fault on lcore 1 after the first pause check, to prove the
 * soak catches it (the run must end in FAIL). */
std::atomic<bool> g_inject_armed{false};

void inject_fault(Lcore &L)
{
	g_inject_armed.store(false, std::memory_order_relaxed);
	const std::string &f = g_opt.inject;
	if (f == "foreign") {
		/* Another socket's object pushed into this lcore's main sheaf, as a
		 * remote free that wrongly stayed local would do. */
		dslab_cache *c = g_track[0].cache.load();
		void *p = dslab_alloc_node(c, 0, (int)other_socket(L));
		if (!on_alloc(L, p, K_CACHE, 0, g_track[0].obj_size, other_socket(L), false, "inject"))
			return;
		Obj o = L.pool.back();
		struct dslab_pcs *pc = &c->pcs[L.id];
		/* Room below main's far end (slot main_size is written). */
		if (pc->capacity == 0 ||
		    pc->main_size + 1 >= __atomic_load_n(&pc->main_top, __ATOMIC_RELAXED)) {
			/* Main full (or not set up) at this step: the object
			 * stays in the pool as any other, and the next step
			 * tries again (this hangs on timing, not on the seed:
			 * giving up failed the self-test about once in 40). */
			g_inject_armed.store(true, std::memory_order_relaxed);
			return;
		}
		if (!prepare_free(L, o))
			return; /* reported */
		L.pool.pop_back();
		/* At the bottom of the sheaf (LIFO): it stays there for a while. */
		memmove(&pc->main_objs[1], &pc->main_objs[0], pc->main_size * sizeof(void *));
		pc->main_objs[0] = o.p;
		/* Counted as a free, so that objects_in_use stays right: only
		 * the walk may see it. Stored as the free fast path stores
		 * (dslab_pcs.h): the main lcore reads the counters, main_size
		 * among them, while lcore 1 runs (sample_pending). */
		__atomic_store_n(&pc->main_size, pc->main_size + 1, __ATOMIC_RELAXED);
		DSLAB_STAT_ADD_REL_(pc->free_cpu_sheaf, 1);
		printf("inject foreign: %p of socket %u put at the bottom of lcore %u's main sheaf\n", o.p,
		       o.socket, L.id);
		return;
	}
	if (f == "rcu-early") {
		/* An object freed with no grace period while a reader (this
		 * lcore) still holds it, then allocated again: what a grace
		 * period cut short looks like to the reader. */
		Tracked &T = g_track[g_trcu];
		dslab_cache *c = T.cache.load();
		if (!on_alloc(L, dslab_alloc(c, 0), K_CACHE, (uint16_t)g_trcu, T.obj_size, L.socket,
			      T.zero, "inject"))
			return;
		Obj o = L.pool.back();
		if (L.nref == kMaxRefs)
			drop_refs(L);
		L.refs[L.nref++] = Ref{o.p, o.id};
		L.pool.pop_back();
		if (!prepare_free(L, o))
			return;
		dslab_free(c, o.p);
		on_alloc(L, dslab_alloc(c, 0), K_CACHE, (uint16_t)g_trcu, T.obj_size, L.socket, T.zero,
			 "inject");
		printf("inject rcu-early: %p (id %" PRIu64 ") freed and allocated again under a reader\n",
		       o.p, o.id);
		return;
	}
	if (L.pool.empty())
		return;
	Obj o = L.pool.back();
	if (f == "corrupt") {
		static_cast<unsigned char *>(o.p)[o.size / 2] ^= 0x40; /* a stray write */
		printf("inject corrupt: byte %u of %p (id %" PRIu64 ") flipped\n", o.size / 2, o.p, o.id);
	} else if (f == "leak") {
		/* Forgotten by the soak, never freed: the books must not balance. */
		L.pool.pop_back();
		reg_take(o);
		printf("inject leak: %p (id %" PRIu64 ") dropped\n", o.p, o.id);
	} else if (f == "lost-free") {
		/* Freed to the library behind the registry's back: as if the
		 * allocator had lost track of a live object. */
		L.pool.pop_back();
		if (o.kind == K_LARGE)
			L.nlarge--;
		dslab_kfree(o.p);
		printf("inject lost-free: %p (id %" PRIu64 ", %s) freed, still registered live\n", o.p,
		       o.id, kind_name(o.kind));
	}
}

const OpDef *draw_op(Lcore &L)
{
	unsigned r = L.rng.below(g_weight_sum);
	for (const OpDef &d : g_ops) {
		if (r < d.weight)
			return &d;
		r -= d.weight;
	}
	return &g_ops[0];
}

/* The target swings between 5% and 100% of --live in a triangle of
 * kFillPeriod seconds, each lcore a quarter period apart: caches grow
 * (slabs carved, chunks mapped) and shrink (slabs and chunks given back)
 * over and over, with long-lived objects in between. */
constexpr double kFillPeriod = 12.0;
uint64_t g_start_cycles;

void update_target(Lcore &L)
{
	double t = (double)(rte_get_timer_cycles() - g_start_cycles) / (double)rte_get_timer_hz();
	double x = t / kFillPeriod + L.id / 4.0;
	x -= (double)(uint64_t)x;
	double tri = 1.0 - std::abs(2.0 * x - 1.0);
	L.target = (size_t)((double)g_opt.live * (0.05 + 0.95 * tri));
}

void step(Lcore &L)
{
	drain_inbox(L);
	check_refs(L);
	if (unlikely(L.id == 1 && g_inject_armed.load(std::memory_order_relaxed)))
		inject_fault(L);
	if ((L.ops_done.load(std::memory_order_relaxed) & 255) == 0)
		update_target(L);
	const OpDef *op = draw_op(L);
	/* Steer the lcore's live objects towards its target: allocations turn
	 * into frees above it, a third of the frees into allocations below. */
	if (op->allocates && L.pool.size() >= L.target) {
		op = &g_ops[L.rng.chance(80) ? OP_FREE : OP_REMOTE_SEND];
	} else if (!op->allocates && L.pool.size() < L.target && L.rng.chance(35)) {
		while (!op->allocates)
			op = draw_op(L);
	}
	/* The quiescent state of a reader lcore, as a dataplane loop reports
	 * it between bursts: its references go first. */
	if ((L.ops_done.load(std::memory_order_relaxed) & 63) == 0) {
		drop_refs(L);
		dslab_quiescent();
	}
	L.cur_op.store(op->id, std::memory_order_relaxed);
	op->fn(L);
	L.ops[op->id]++;
	L.cur_op.store(-1, std::memory_order_relaxed);
	L.ops_done.store(L.ops_done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void online()
{
	if (dslab_rcu_online() != 0)
		error("dslab_rcu_online on lcore %u: rte_errno %d", rte_lcore_id(), rte_errno);
}

/* --rcu-bound: this lcore's bound, 1..N (it outlives going offline). */
void set_rcu_bound(Lcore &L)
{
	if (g_opt.rcu_bound != 0 &&
	    dslab_rcu_set_max_pending(1 + L.rng.below(g_opt.rcu_bound)) != 0)
		error("dslab_rcu_set_max_pending on lcore %u: rte_errno %d", rte_lcore_id(), rte_errno);
	/* --rcu-qbound: the waits are at dslab_quiescent(), where the lcore
	 * holds no reference anyway. */
	if (g_opt.rcu_qbound != 0 &&
	    dslab_rcu_set_quiescent_bound(1 + L.rng.below(g_opt.rcu_qbound)) != 0)
		error("dslab_rcu_set_quiescent_bound on lcore %u: rte_errno %d", rte_lcore_id(),
		      rte_errno);
}

/* ---------------------------------------------------------------------- */
/* Pause check (main lcore, every other lcore parked) */

struct Figures {
	uint64_t checks = 0;
	uint64_t sheaf_slots = 0, tomb_checked = 0;
	uint64_t peak_bytes_held = 0;
	uint64_t peak_pending_rcu = 0; /* one cache's objects_pending_rcu */
	uint64_t peak_published = 0;
	unsigned dying_at_end = 0;
	uint64_t peak_pending_all = 0, sum_pending = 0, samples = 0; /* sample_pending() */
	uint64_t bound_waits = 0; /* rcu_max_pending_wait seen by sample_pending(): at least */
	uint64_t qbound_waits = 0; /* rcu_quiescent_bound_wait, likewise */
	uint64_t sum_objects_in_use_checked = 0;
	uint64_t pause_cycles = 0, pause_max = 0; /* request to resume */
} g_fig;

void walk_sheaf(unsigned t, unsigned lc, const char *which, void *const *objs, uint32_t n,
		std::unordered_set<const void *> &seen)
{
	Tracked &T = g_track[t];
	unsigned sock = g_lc[lc].socket;
	for (uint32_t i = 0; i < n; i++) {
		const void *p = objs[i];
		g_fig.sheaf_slots++;
		if (!seen.insert(p).second)
			error("cache %s: %p found twice in sheaves (lcore %u %s sheaf)", T.name, p, lc, which);
		Obj o;
		if (reg_find(p, &o))
			error("cache %s: %p in lcore %u's %s sheaf is live (id %" PRIu64 ", lcore %u)",
			      T.name, p, lc, which, o.id, o.lcore);
		int ts = read_tomb(p, T.obj_size);
		if (ts >= 0) {
			g_fig.tomb_checked++;
			if ((unsigned)ts != sock)
				error("cache %s: lcore %u (socket %u) %s sheaf holds %p of socket %d "
				      "(tombstone)", T.name, lc, sock, which, p, ts);
		}
		uintptr_t e = dslab_pm_entry_(p);
		if ((e & DSLAB_PM_TAG_MASK) != DSLAB_PM_TAG(sock))
			error("cache %s: lcore %u (socket %u) %s sheaf holds %p with page-map tag %#x",
			      T.name, lc, sock, which, p, (unsigned)(e & DSLAB_PM_TAG_MASK));
	}
}

void pause_check()
{
	g_fig.checks++;
	/* 1. Library count == registry count, cache by cache. */
	unsigned ncaches = 0;
	uint64_t bytes = 0;
	uint64_t in_sheaves[kMaxTrack] = {};
	for (unsigned t = 0; t < g_ntrack; t++) {
		Tracked &T = g_track[t];
		dslab_cache *c = T.cache.load(std::memory_order_acquire);
		if (c == nullptr)
			continue;
		ncaches++;
		struct dslab_cache_stats s;
		if (dslab_cache_stats(c, &s) != 0) {
			error("dslab_cache_stats(%s) failed", T.name);
			continue;
		}
		bytes += s.bytes_held;
		in_sheaves[t] = s.objects_in_sheaves;
		g_fig.sum_objects_in_use_checked += s.objects_in_use;
		int64_t live = T.live.load(std::memory_order_relaxed);
		/* Frees a handler's nolock call deferred are done, but still
		 * counted in use until the lcore's next safe point. */
		if ((int64_t)(s.objects_in_use - s.objects_deferred) != live)
			error("check %" PRIu64 ": cache %s objects_in_use %" PRIu64 " (%" PRIu64
			      " deferred), registry %" PRId64 " live", g_fig.checks, T.name,
			      s.objects_in_use, s.objects_deferred, live);
		g_fig.peak_pending_rcu = std::max(g_fig.peak_pending_rcu, s.objects_pending_rcu);
	}
	unsigned listed = 0;
	dslab_cache_walk([](struct dslab_cache *, void *arg) { ++*static_cast<unsigned *>(arg); return 0; },
			 &listed);
	if (listed != ncaches)
		error("dslab_cache_walk lists %u caches, the soak knows %u", listed, ncaches);
	g_fig.peak_bytes_held = std::max(g_fig.peak_bytes_held, bytes);

	/* 2. The soak's own books: registry == pools + rings + published. */
	int64_t held = 0, published = 0;
	for (unsigned lc = 0; lc < kLcores; lc++)
		held += (int64_t)g_lc[lc].pool.size() + (int64_t)ring_count_to(lc);
	for (const auto &slot : g_pub)
		published += slot.load(std::memory_order_relaxed) != nullptr;
	g_fig.peak_published = std::max(g_fig.peak_published, (uint64_t)published);
	if (held + published != g_live.load())
		error("check %" PRIu64 ": registry has %" PRId64 " live, lcores hold %" PRId64
		      " (pools + rings) and %" PRId64 " are published", g_fig.checks, g_live.load(), held,
		      published);

	/* 3. Sheaves: no live object, no duplicate, no foreign object. */
	std::unordered_set<const void *> seen;
	for (unsigned t = 0; t < g_ntrack; t++) {
		dslab_cache *c = g_track[t].cache.load(std::memory_order_acquire);
		if (c == nullptr)
			continue;
		uint64_t walked = 0;
		for (unsigned lc = 0; lc < kLcores; lc++) {
			const struct dslab_pcs *p = &c->pcs[lc];
			if (p->capacity == 0)
				continue; /* not set up */
			if (p->socket_tag != DSLAB_PM_TAG(g_lc[lc].socket) || p->main_size > p->capacity ||
			    (p->spare != nullptr && p->spare->size > p->spare->capacity)) {
				error("cache %s lcore %u: pcs socket_tag %#x main %u/%u spare %u/%u",
				      g_track[t].name, lc, p->socket_tag, p->main_size, p->capacity,
				      p->spare ? p->spare->size : 0, p->spare ? p->spare->capacity : 0);
				continue;
			}
			walk_sheaf(t, lc, "main", p->main_objs, p->main_size, seen);
			walked += p->main_size;
			if (p->spare != nullptr) {
				walk_sheaf(t, lc, "spare", p->spare->objects, p->spare->size, seen);
				walked += p->spare->size;
			}
		}
		/* objects_in_sheaves also counts the barns, which are not walked. */
		if (walked > in_sheaves[t])
			error("cache %s: %" PRIu64 " objects in lcores' sheaves, objects_in_sheaves %" PRIu64,
			      g_track[t].name, walked, in_sheaves[t]);
	}
}

/* Park every other lcore, check, let them go. */
/* Signal handlers do nothing while set (see on_sig_timer). */
std::atomic<bool> g_sig_hold{false};

void pause_all_and_check()
{
	/* Offline while the others park (see maybe_park). */
	drop_refs(g_lc[rte_lcore_id()]);
	dslab_rcu_offline();
	g_sig_hold.store(true, std::memory_order_release);
	uint64_t gen = g_req_gen.load(std::memory_order_relaxed) + 1;
	g_req_gen.store(gen, std::memory_order_release);
	uint64_t hz = rte_get_timer_hz(), start = rte_get_timer_cycles();
	unsigned main_lc = rte_lcore_id(), spins = 0;
	for (unsigned lc = 0; lc < kLcores; lc++) {
		if (lc == main_lc)
			continue;
		while (g_lc[lc].ack.load(std::memory_order_acquire) != gen) {
			relax(spins);
			if (rte_get_timer_cycles() - start > kStuckSeconds * hz) {
				int op = g_lc[lc].cur_op.load(std::memory_order_relaxed);
				error("lcore %u has not reached a pause point for %" PRIu64
				      " s (in op %s): stuck", lc, kStuckSeconds, op >= 0 ? kOpName[op] : "none");
				fflush(stdout);
				_exit(2);
			}
		}
	}
	/* dslab's reaper (dslab_cache_destroy_async) may still be running a
	 * barrier that moves objects between rings, batches and slabs: let it
	 * finish (every lcore is offline, it waits for none) so that the
	 * counters read below are one snapshot. */
	while (dslab_caches_dying() != 0) {
		relax(spins);
		if (rte_get_timer_cycles() - start > kStuckSeconds * hz) {
			error("%u caches destroyed with dslab_cache_destroy_async() not reaped for %" PRIu64
			      " s with every lcore offline: stuck", dslab_caches_dying(), kStuckSeconds);
			fflush(stdout);
			_exit(2);
		}
	}
	pause_check();
	if (g_fig.checks == 1 && !g_opt.inject.empty())
		g_inject_armed.store(true, std::memory_order_relaxed);
	g_sig_hold.store(false, std::memory_order_release);
	g_done_gen.store(gen, std::memory_order_release);
	uint64_t took = rte_get_timer_cycles() - start;
	g_fig.pause_cycles += took;
	g_fig.pause_max = std::max(g_fig.pause_max, took);
	online();
}

void maybe_park(Lcore &L)
{
	uint64_t gen = g_req_gen.load(std::memory_order_acquire);
	if (gen == L.seen_gen)
		return;
	L.seen_gen = gen;
	/* A parked lcore holds no reference and reports nothing: offline, so
	 * that a barrier running on another lcore (or the reaper) does not
	 * wait for it while that lcore has not parked yet. */
	drop_refs(L);
	dslab_rcu_offline();
	L.ack.store(gen, std::memory_order_release);
	unsigned spins = 0;
	while (g_done_gen.load(std::memory_order_acquire) < gen)
		relax(spins);
	online();
}

/* ---------------------------------------------------------------------- */
/* The end: stop sending, drain, free everything, flush own sheaves */

void end_phase(Lcore &L)
{
	drop_refs(L);
	g_arrive_a.fetch_add(1, std::memory_order_acq_rel);
	unsigned spins = 0;
	while (g_arrive_a.load(std::memory_order_acquire) < kLcores) {
		drain_inbox(L);
		/* Still online: answer a barrier another lcore's last op runs. */
		dslab_quiescent();
		relax(spins);
	}
	/* Nobody sends any more: what is in the ring is all there will be. */
	while (ring_count_to(L.id) != 0)
		drain_inbox(L);
	while (!L.pool.empty()) {
		Obj o = L.pool.back();
		pool_remove(L, L.pool.size() - 1);
		release(L, o);
	}
	/* This lcore's share of the published objects. */
	for (unsigned i = L.id; i < kPubSlots; i += kLcores) {
		void *p = g_pub[i].exchange(nullptr, std::memory_order_acq_rel);
		if (p != nullptr)
			retire_published(L, p);
	}
	priv_destroy(L);
	/* Offline before the flush: its rcu sheaves are handed over, and the
	 * final barrier waits for no lcore that has stopped. */
	dslab_rcu_offline();
	/* Flush this lcore's sheaves (and the barns) of every cache. */
	for (unsigned t = 0; t < g_nshared + g_nkmalloc; t++)
		(void)dslab_cache_shrink(g_track[t].cache.load(std::memory_order_relaxed));
}

uint64_t total_ops()
{
	uint64_t n = 0;
	for (unsigned lc = 0; lc < kLcores; lc++)
		n += g_lc[lc].ops_done.load(std::memory_order_relaxed);
	return n;
}

/* ---------------------------------------------------------------------- */
/* Signals: a 5 kHz timer per lcore whose handler allocates and frees
 * kmalloc-64 objects with the nolock calls, interrupting whatever the lcore
 * is doing (dslab included). Its objects are stamped and checked like the
 * rest; they count in the kmalloc-64 registry (T.live, atomic) and in the
 * handler's own tallies, added at the end. Held off while the lcores are
 * paused for a check (g_sig_hold). */

struct SigObj {
	uint64_t w[6];
	struct dslab_rcu_head head;
};
static_assert(sizeof(SigObj) == 64, "kmalloc-64");
constexpr uint64_t kSigLive = 0x5349474c49564531ull;
constexpr uint64_t kSigFree = 0x534947465245453aull;
constexpr unsigned kSigHeld = 32;

struct alignas(64) SigState {
	volatile sig_atomic_t armed;
	timer_t timer;
	bool have_timer;
	SigObj *held[kSigHeld];
	unsigned n;
	uint64_t seq, signals, allocs, fails, frees, rcu_frees, bad;
};
SigState g_sig[kLcores];
unsigned g_t64 = UINT32_MAX; /* kmalloc-64's track */

void sig_stamp(SigObj *o, uint64_t id)
{
	o->w[1] = id;
	for (unsigned i = 2; i < 6; i++)
		o->w[i] = id * (2 * i + 1);
	o->w[0] = kSigLive;
}

bool sig_intact(const SigObj *o)
{
	if (o->w[0] != kSigLive)
		return false;
	for (unsigned i = 2; i < 6; i++)
		if (o->w[i] != o->w[1] * (2 * i + 1))
			return false;
	return true;
}

void on_sig_timer(int)
{
	int saved_errno = errno, saved_rte = rte_errno;
	unsigned lc = rte_lcore_id();
	if (lc >= kLcores)
		return;
	SigState &h = g_sig[lc];
	h.signals++;
	if (h.armed && !g_sig_hold.load(std::memory_order_acquire)) {
		auto *o = static_cast<SigObj *>(dslab_kmalloc_nolock(sizeof(SigObj), 0, -1));
		if (o != nullptr) {
			if (o->w[0] == kSigLive)
				h.bad++; /* held by someone else */
			g_track[g_t64].live.fetch_add(1, std::memory_order_relaxed);
			sig_stamp(o, ((uint64_t)lc << 40) | ++h.seq);
			h.held[h.n++] = o;
			h.allocs++;
		} else {
			h.fails++;
		}
		if (h.n == kSigHeld || (h.n > kSigHeld / 2 && (h.signals & 1))) {
			SigObj *x = h.held[--h.n];
			if (!sig_intact(x))
				h.bad++;
			x->w[0] = kSigFree;
			g_track[g_t64].live.fetch_sub(1, std::memory_order_relaxed);
			if (h.signals % 5 == 0) {
				dslab_kfree_rcu_nolock(x, head);
				h.rcu_frees++;
			} else {
				dslab_kfree_nolock(x);
			}
			h.frees++;
		}
	}
	rte_errno = saved_rte;
	errno = saved_errno;
}

void sig_start(Lcore &L)
{
	SigState &h = g_sig[L.id];
	struct sigevent sev {};
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &h.timer) != 0) {
		error("lcore %u: timer_create failed: no signals", L.id);
		return;
	}
	h.have_timer = true;
	h.armed = 1;
	struct itimerspec its {};
	its.it_interval.tv_nsec = 200 * 1000; /* 5 kHz */
	its.it_value.tv_nsec = 200 * 1000;
	timer_settime(h.timer, 0, &its, nullptr);
}

/* Stop the timer and free what the handler holds (regular calls). */
void sig_stop(Lcore &L)
{
	SigState &h = g_sig[L.id];
	h.armed = 0;
	if (h.have_timer)
		timer_delete(h.timer);
	h.have_timer = false;
	for (unsigned i = 0; i < h.n; i++) {
		if (!sig_intact(h.held[i]))
			h.bad++;
		h.held[i]->w[0] = kSigFree;
		g_track[g_t64].live.fetch_sub(1, std::memory_order_relaxed);
		dslab_kfree(h.held[i]);
		h.frees++;
	}
	h.n = 0;
	if (h.bad != 0)
		error("lcore %u: %" PRIu64 " handler objects handed out twice or changed", L.id, h.bad);
}

/* ---------------------------------------------------------------------- */
/* A crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) prints what a rare one
 * needs to be chased: the seed, the stage, the faulting address and thread,
 * each lcore's op in progress, and the stack; then the default action runs
 * (a core where the system keeps them). Only write(2) and backtrace (loaded
 * at start) are used. Not under ASan or TSan, whose handlers report more. */

enum Stage : int { ST_INIT, ST_RUN, ST_END, ST_FINAL, ST_FINI };
const char *const kStageName[] = {"set-up", "run", "end phase", "final checks", "dslab_fini/cleanup"};
std::atomic<int> g_stage{ST_INIT};

void crash_puts(const char *s) { (void)!write(STDERR_FILENO, s, strlen(s)); }

void crash_putu(uint64_t v, unsigned base)
{
	char b[24];
	unsigned i = sizeof(b);
	b[--i] = 0;
	do
		b[--i] = "0123456789abcdef"[v % base];
	while ((v /= base) != 0 && i > 0);
	crash_puts(&b[i]);
}

void on_crash(int sig, siginfo_t *si, void *)
{
	crash_puts("\ndslab_soak: CRASH: ");
	crash_puts(sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGILL ? "SIGILL"
		   : sig == SIGFPE ? "SIGFPE" : "SIGABRT");
	crash_puts(" at address 0x");
	crash_putu((uintptr_t)si->si_addr, 16);
	crash_puts(" (si_code ");
	crash_putu((uint64_t)(int64_t)si->si_code, 10);
	crash_puts(") on lcore ");
	unsigned self = rte_lcore_id();
	if (self < kLcores)
		crash_putu(self, 10);
	else
		crash_puts("none");
	crash_puts(", seed ");
	crash_putu(g_opt.seed, 10);
	crash_puts(", stage ");
	crash_puts(kStageName[g_stage.load(std::memory_order_relaxed)]);
	crash_puts("\n");
	for (unsigned lc = 0; lc < kLcores; lc++) {
		int op = g_lc[lc].cur_op.load(std::memory_order_relaxed);
		crash_puts("  lcore ");
		crash_putu(lc, 10);
		crash_puts(": op ");
		crash_puts(op >= 0 ? kOpName[op] : "none");
		crash_puts(", ops done ");
		crash_putu(g_lc[lc].ops_done.load(std::memory_order_relaxed), 10);
		crash_puts(", signals ");
		crash_putu(g_sig[lc].signals, 10);
		crash_puts("\n");
	}
	crash_puts("stack (addr2line -f -C -e <object> <+offset>):\n");
	void *frames[64];
	backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
	raise(sig); /* SA_RESETHAND: the default action now */
}

void crash_handler_install()
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return; /* the sanitizer's own report says more */
#endif
	void *warm[1];
	(void)backtrace(warm, 1); /* loads libgcc now, not in the handler */
	struct sigaction sa {};
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
		sigaction(sig, &sa, nullptr);
}

int worker_main(void *)
{
	Lcore &L = g_lc[rte_lcore_id()];
	unsigned spins = 0;
	while (!g_go.load(std::memory_order_acquire))
		relax(spins);
	online();
	set_rcu_bound(L);
	sig_start(L);
	for (;;) {
		maybe_park(L);
		if (g_stop.load(std::memory_order_acquire))
			break;
		step(L);
	}
	sig_stop(L);
	end_phase(L);
	g_finished.fetch_add(1, std::memory_order_release);
	return 0;
}

double g_elapsed;

/* Objects waiting for a grace period, all tracked caches, every ms. */
void sample_pending()
{
	static dslab_cache *seen_c[kMaxTrack];
	static uint64_t seen_w[kMaxTrack], seen_q[kMaxTrack];
	uint64_t pending = 0;
	for (unsigned t = 0; t < g_ntrack; t++) {
		dslab_cache *c = g_track[t].cache.load(std::memory_order_acquire);
		struct dslab_cache_stats s;
		if (c != nullptr && g_track[t].tkind != T_PRIVATE && dslab_cache_stats(c, &s) == 0) {
			pending += s.objects_pending_rcu;
			/* --rcu-bound: the waits, per cache instance (a
			 * re-created cache counts from 0). */
			if (c != seen_c[t] || s.rcu_max_pending_wait < seen_w[t] ||
			    s.rcu_quiescent_bound_wait < seen_q[t])
				seen_w[t] = seen_q[t] = 0;
			g_fig.bound_waits += s.rcu_max_pending_wait - seen_w[t];
			g_fig.qbound_waits += s.rcu_quiescent_bound_wait - seen_q[t];
			seen_c[t] = c;
			seen_w[t] = s.rcu_max_pending_wait;
			seen_q[t] = s.rcu_quiescent_bound_wait;
		}
	}
	g_fig.peak_pending_all = std::max(g_fig.peak_pending_all, pending);
	g_fig.sum_pending += pending;
	g_fig.samples++;
}

void main_loop(Lcore &L)
{
	uint64_t hz = rte_get_timer_hz(), start = rte_get_timer_cycles();
	uint64_t deadline = g_opt.seconds > 0 ? start + (uint64_t)(g_opt.seconds * (double)hz) : UINT64_MAX;
	uint64_t period = g_opt.check_ms * hz / 1000;
	uint64_t next_check = start + period, next_report = start + 10 * hz, next_sample = start;
	online();
	set_rcu_bound(L);
	sig_start(L);
	for (;;) {
		for (unsigned k = 0; k < 32; k++)
			step(L);
		uint64_t now = rte_get_timer_cycles();
		if (now >= next_sample) {
			sample_pending();
			next_sample = now + hz / 1000;
		}
		if (now >= next_check) {
			pause_all_and_check();
			next_check = rte_get_timer_cycles() + period;
		}
		if (now >= next_report) {
			printf("  %5.0f s: %" PRIu64 " ops, %" PRId64 " live objects, %" PRIu64
			       " checks, %" PRIu64 " errors\n", (double)(now - start) / (double)hz,
			       total_ops(), g_live.load(), g_fig.checks, g_errors.load());
			fflush(stdout);
			next_report += 10 * hz;
		}
		if (now >= deadline || (g_opt.ops != 0 && total_ops() >= g_opt.ops) ||
		    g_errors.load(std::memory_order_relaxed) > 1000)
			break;
	}
	/* One last check with everything live, then stop. */
	pause_all_and_check();
	g_elapsed = (double)(rte_get_timer_cycles() - start) / (double)hz;
	g_stage.store(ST_END);
	g_stop.store(true, std::memory_order_release);
	sig_stop(L);
	end_phase(L);
}

/* ---------------------------------------------------------------------- */
/* Final accounting */

struct dslab_cache_stats g_lib_sum;
/* Counter inconsistencies that are not failures of the run: printed. */
std::vector<std::string> g_notes;

void add_stats(struct dslab_cache_stats &a, const struct dslab_cache_stats &b)
{
#define SOAK_ADD_(name, doc) a.name += b.name;
	DSLAB_STATS_FIELDS(SOAK_ADD_)
#undef SOAK_ADD_
}

uint64_t final_checks()
{
	/* Every object handed to kfree_rcu is freed after a barrier (every
	 * lcore has gone offline: none is waited for). */
	dslab_rcu_barrier();
	for (const auto &slot : g_pub)
		if (slot.load() != nullptr)
			error("end: a published object is still in its slot");
	/* Caches destroyed with dslab_cache_destroy_async() are reaped after
	 * their barrier; a leak there would have been logged (an error). */
	uint64_t hz = rte_get_timer_hz(), t0 = rte_get_timer_cycles();
	while (dslab_caches_dying() != 0 && rte_get_timer_cycles() - t0 < 60 * hz)
		usleep(1000);
	g_fig.dying_at_end = dslab_caches_dying();
	if (g_fig.dying_at_end != 0)
		error("end: %u caches destroyed with dslab_cache_destroy_async() not reaped after 60 s",
		      g_fig.dying_at_end);
	for (unsigned t = 0; t < g_ntrack; t++) {
		dslab_cache *c = g_track[t].cache.load();
		if (c == nullptr)
			continue;
		struct dslab_cache_stats s;
		dslab_cache_stats(c, &s);
		if (s.objects_pending_rcu != 0)
			error("end: cache %s: objects_pending_rcu %" PRIu64 " after dslab_rcu_barrier()",
			      g_track[t].name, s.objects_pending_rcu);
	}
	/* Registry empty, every pool and ring empty. */
	uint64_t regsize = 0;
	for (Shard &s : g_reg)
		regsize += s.map.size();
	if (regsize != 0 || g_live.load() != 0)
		error("end: registry still holds %" PRIu64 " objects (count %" PRId64 ")", regsize,
		      g_live.load());
	for (unsigned lc = 0; lc < kLcores; lc++)
		if (!g_lc[lc].pool.empty() || ring_count_to(lc) != 0)
			error("end: lcore %u still holds %zu objects, %u in its ring", lc,
			      g_lc[lc].pool.size(), ring_count_to(lc));
	if (g_large_bytes.load() != 0)
		error("end: %" PRId64 " bytes of large regions still counted", g_large_bytes.load());

	uint64_t allocs = 0, frees = 0, quarantined = 0;
	for (auto &L : g_lc) {
		allocs += L.allocs;
		frees += L.frees;
		quarantined += L.quarantined;
	}
	if (allocs != frees)
		error("end: %" PRIu64 " objects allocated, %" PRIu64 " freed", allocs, frees);
	if (quarantined != 0)
		error("end: %" PRIu64 " objects not freed (corrupted or not live)", quarantined);

	/* Library counts == soak counts, cache by cache; nothing in use. */
	for (unsigned t = 0; t < g_nshared + g_nkmalloc; t++) {
		Tracked &T = g_track[t];
		dslab_cache *c = T.cache.load();
		struct dslab_cache_stats s;
		dslab_cache_stats(c, &s);
		add_stats(g_lib_sum, s);
		uint64_t lib_allocs = lib_allocs_of(s);
		uint64_t lib_frees = lib_frees_of(s);
		uint64_t my_allocs = 0, my_frees = 0;
		for (auto &L : g_lc) {
			my_allocs += L.track_alloc[t];
			my_frees += L.track_free[t];
		}
		if (t == g_t64)
			for (const SigState &h : g_sig) {
				my_allocs += h.allocs;
				my_frees += h.frees;
			}
		if (s.slabs != s.alloc_slab - s.free_slab)
			g_notes.push_back(std::string(T.name) + ": slabs " + std::to_string(s.slabs) +
					  " != alloc_slab " + std::to_string(s.alloc_slab) + " - free_slab " +
					  std::to_string(s.free_slab));
		if (s.objects_in_use != 0 || T.live.load() != 0 || lib_allocs != my_allocs ||
		    lib_frees != my_frees)
			error("end: cache %s objects_in_use %" PRIu64 " (registry %" PRId64 "), library "
			      "allocs %" PRIu64 " frees %" PRIu64 ", soak allocs %" PRIu64 " frees %" PRIu64,
			      T.name, s.objects_in_use, T.live.load(), lib_allocs, lib_frees, my_allocs,
			      my_frees);
	}
	for (unsigned lc = 0; lc < kLcores; lc++)
		if (g_track[g_lc[lc].priv_track].cache.load() != nullptr)
			error("end: private cache of lcore %u not destroyed", lc);

	/* Destroy the shared caches; shrink the kmalloc ones. */
	for (unsigned t = 0; t < g_nshared; t++) {
		dslab_cache *c = g_track[t].cache.load();
		g_track[t].cache.store(nullptr);
		dslab_cache_destroy(c);
		if (dslab_cache_lookup(g_track[t].name) != nullptr)
			error("end: cache %s still found after destroy", g_track[t].name);
	}
	uint64_t end_bytes = 0;
	unsigned left = 0;
	for (unsigned t = g_kmalloc_first; t < g_kmalloc_first + g_nkmalloc; t++) {
		dslab_cache *c = g_track[t].cache.load();
		(void)dslab_cache_shrink(c);
		struct dslab_cache_stats s;
		dslab_cache_stats(c, &s);
		end_bytes += s.bytes_held;
		if (s.objects_in_use != 0 || s.bytes_held != 0)
			error("end: %s after shrink: objects_in_use %" PRIu64 ", bytes_held %" PRIu64
			      ", slabs %" PRIu64, g_track[t].name, s.objects_in_use, s.bytes_held, s.slabs);
	}
	dslab_cache_walk([](struct dslab_cache *, void *arg) { ++*static_cast<unsigned *>(arg); return 0; },
			 &left);
	if (left != g_nkmalloc)
		error("end: %u caches left, want only the %u kmalloc classes", left, g_nkmalloc);
	return end_bytes;
}

std::string seconds_text(double s)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%g s", s);
	return buf;
}

std::string human(uint64_t b)
{
	char buf[64];
	if (b >= (1ull << 30))
		snprintf(buf, sizeof(buf), "%" PRIu64 " (%.2f GiB)", b, (double)b / (1ull << 30));
	else if (b >= (1ull << 20))
		snprintf(buf, sizeof(buf), "%" PRIu64 " (%.1f MiB)", b, (double)b / (1ull << 20));
	else
		snprintf(buf, sizeof(buf), "%" PRIu64, b);
	return buf;
}

void print_figures(uint64_t end_bytes)
{
	uint64_t ops[NR_OPS] = {}, api[NR_API] = {};
	uint64_t allocs = 0, frees = 0, verified = 0, zero = 0, sent = 0, full = 0, total = 0;
	for (auto &L : g_lc) {
		for (unsigned i = 0; i < NR_OPS; i++)
			ops[i] += L.ops[i];
		for (unsigned i = 0; i < NR_API; i++)
			api[i] += L.by_api[i];
		allocs += L.allocs;
		frees += L.frees;
		verified += L.verified;
		zero += L.zero_checked;
		sent += L.remote_sent;
		full += L.ring_full;
		total += L.ops_done.load();
	}
	printf("operations run: %" PRIu64 " in %.1f s (%.0f/s), per type:\n", total, g_elapsed,
	       g_elapsed > 0 ? (double)total / g_elapsed : 0.0);
	for (unsigned i = 0; i < NR_OPS; i++)
		printf("  %-28s %12" PRIu64 "\n", kOpName[i], ops[i]);
	printf("objects allocated: %" PRIu64 ", freed: %" PRIu64 " (", allocs, frees);
	for (unsigned i = 0; i < NR_API; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", kApiName[i], api[i]);
	printf(")\n");
	printf("remote frees: %" PRIu64 " objects sent through rings (%" PRIu64 " freed locally, ring full)\n",
	       sent, full);
	{
		uint64_t sg = 0, al = 0, fl = 0, fr = 0, rc = 0;
		for (const SigState &h : g_sig) {
			sg += h.signals;
			al += h.allocs;
			fl += h.fails;
			fr += h.frees;
			rc += h.rcu_frees;
		}
		printf("signals: %" PRIu64 " timer signals into the lcores; handlers: %" PRIu64
		       " kmalloc_nolock (%" PRIu64 " NULL: lcore inside dslab or slabs locked), %" PRIu64
		       " frees (%" PRIu64 " kfree_rcu_nolock), all objects checked\n",
		       sg, al, fl, fr, rc);
	}
	printf("objects checked: %" PRIu64 " headers+patterns verified at free, %" PRIu64
	       " zeroed allocations checked, %" PRIu64 " sheaf slots walked (%" PRIu64
	       " with a tombstone socket) in %" PRIu64 " pause checks\n", verified, zero,
	       g_fig.sheaf_slots, g_fig.tomb_checked, g_fig.checks);
	double ms = 1000.0 / (double)rte_get_timer_hz();
	printf("pause checks: %" PRIu64 ", %.1f ms paused in all, longest %.2f ms (objects_in_use "
	       "summed over checks: %" PRIu64 ")\n", g_fig.checks, (double)g_fig.pause_cycles * ms,
	       (double)g_fig.pause_max * ms, g_fig.sum_objects_in_use_checked);
	printf("peak live objects: %" PRId64 "\n", g_peak_live.load());
	printf("peak bytes held: %s (sum of bytes_held over caches, sampled at each pause check); "
	       "large regions peak %s\n", human(g_fig.peak_bytes_held).c_str(),
	       human((uint64_t)g_peak_large_bytes.load()).c_str());
	printf("peak pending: %" PRIu64 " objects of one cache waiting for a grace period "
	       "(objects_pending_rcu, sampled at each pause check); all shared and kmalloc caches, "
	       "sampled every ms: peak %" PRIu64 ", mean %.0f\n", g_fig.peak_pending_rcu,
	       g_fig.peak_pending_all,
	       g_fig.samples ? (double)g_fig.sum_pending / (double)g_fig.samples : 0.0);
	if (g_opt.rcu_bound != 0)
		printf("rcu bound: 1..%u sheaves per lcore (dslab_rcu_set_max_pending), kfree_rcu "
		       "waits at the bound: at least %" PRIu64 " (sampled every ms)\n",
		       g_opt.rcu_bound, g_fig.bound_waits);
	if (g_opt.rcu_qbound != 0)
		printf("rcu quiescent bound: 1..%u sheaves per lcore (dslab_rcu_set_quiescent_bound), "
		       "dslab_quiescent() waits at the bound: at least %" PRIu64 " (sampled every ms)\n",
		       g_opt.rcu_qbound, g_fig.qbound_waits);
	{
		uint64_t taken = 0, checks = 0, pub = 0, ret = 0;
		for (auto &L : g_lc) {
			taken += L.refs_taken;
			checks += L.ref_checks;
			pub += L.published;
			ret += L.retired;
		}
		printf("rcu readers: 4 online lcores took %" PRIu64 " references to published objects "
		       "and checked them %" PRIu64 " times before their quiescent states (%" PRIu64
		       " found changed); %" PRIu64 " objects published, %" PRIu64 " retired by "
		       "kfree_rcu/kvfree_rcu/kfree_rcu_nolock, %" PRIu64 " published at most\n",
		       taken, checks, g_ref_failures.load(), pub, ret, g_fig.peak_published);
		printf("caches destroyed: %" PRIu64 " with dslab_cache_destroy, %" PRIu64
		       " with dslab_cache_destroy_async (%u not reaped at the end)\n", ops[OP_PRIV_DESTROY],
		       ops[OP_PRIV_DESTROY_ASYNC], g_fig.dying_at_end);
	}
	printf("bytes held at the end: %s (kmalloc caches after shrink; other caches destroyed)\n",
	       human(end_bytes).c_str());
	printf("library counters, shared + kmalloc caches (private caches not included):\n ");
	unsigned col = 0;
#define SOAK_PRINT_(name, doc)                                                   \
	if (g_lib_sum.name != 0) {                                               \
		printf(" %s=%" PRIu64, #name, g_lib_sum.name);                    \
		if (++col % 4 == 0)                                              \
			printf("\n ");                                           \
	}
	DSLAB_STATS_FIELDS(SOAK_PRINT_)
#undef SOAK_PRINT_
	printf("\n");
	const char *want[] = {"sheaf_swap", "barn_get", "barn_get_fail", "barn_put", "barn_put_fail",
			      "sheaf_refill", "sheaf_flush", "alloc_node_remote",
			      g_opt.remote == DSLAB_REMOTE_RING ? "free_remote_ring" : "free_remote_node",
			      "alloc_slowpath", "free_slowpath", "sheaf_prefill_fast", "sheaf_prefill_slow",
			      "sheaf_prefill_oversize", "sheaf_return_fast", "sheaf_return_slow", "free_slab",
			      "free_rcu_sheaf", "free_rcu_sheaf_fail", "rcu_sheaf_submit", "rcu_sheaf_reclaim",
			      "rcu_reclaimed", "free_nolock_deferred", "free_deferred_done"};
	std::string missing;
#define SOAK_MISS_(name, doc)                                                    \
	for (const char *w : want)                                               \
		if (strcmp(w, #name) == 0 && g_lib_sum.name == 0)                \
			missing += std::string(" ") + #name;
	DSLAB_STATS_FIELDS(SOAK_MISS_)
#undef SOAK_MISS_
	printf("paths not exercised:%s\n", missing.empty() ? " none" : missing.c_str());
	for (const std::string &n : g_notes)
		printf("NOTE (counter consistency, not a failure): %s\n", n.c_str());
}

} // namespace

int main(int argc, char **argv)
{
	if (!parse_options(argc, argv)) {
		usage(argv[0]);
		return 2;
	}
	if (!g_opt.seed_set)
		g_opt.seed = mix64((uint64_t)time(nullptr) ^ ((uint64_t)getpid() << 32));
	setvbuf(stdout, nullptr, _IOLBF, 0);
	crash_handler_install();
	cookie_io_functions_t log_fns = {nullptr, log_write, nullptr, nullptr};
	FILE *log = fopencookie(nullptr, "w", log_fns);
	if (log != nullptr) {
		setvbuf(log, nullptr, _IOLBF, 0);
		rte_openlog_stream(log);
	}

	std::string prefix = "--file-prefix=soak" + std::to_string(getpid());
	const char *eal[] = {"dslab_soak", "--no-huge", "--no-pci", "-m", "512", "--no-shconf",
			     prefix.c_str(), "--lcores=0@0,1@1,2@0,3@1", "--log-level=lib.eal:error"};
	if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "dslab_soak: rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	if (rte_lcore_count() != kLcores || rte_get_main_lcore() != 0) {
		fprintf(stderr, "dslab_soak: want lcores 0-3 with 0 the main one\n");
		return 2;
	}
	setenv("DSLAB_TOPOLOGY", kTopology, 1); /* LOGICAL sockets */
	struct dslab_config cfg {};
	cfg.remote_free = g_opt.remote;
	if (dslab_init(&cfg) != 0) {
		fprintf(stderr, "dslab_soak: dslab_init failed: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	g_log_watch.store(true);
	printf("dslab_soak: seed %" PRIu64 ", %s%s, %u live objects per lcore at most, check every %u ms\n",
	       g_opt.seed,
	       g_opt.seconds > 0 ? seconds_text(g_opt.seconds).c_str() : "no time bound",
	       g_opt.ops ? (", " + std::to_string(g_opt.ops) + " ops").c_str() : "", g_opt.live,
	       g_opt.check_ms);
	printf("topology: 4 lcores on 2 cores (--lcores=0@0,1@1,2@0,3@1), %u LOGICAL sockets "
	       "(DSLAB_TOPOLOGY=%s: lcores 0,1 on logical socket 0, lcores 2,3 on logical socket 1)\n",
	       dslab_socket_count(), kTopology);
	if (dslab_socket_count() != 2) {
		fprintf(stderr, "dslab_soak: want 2 logical sockets\n");
		return 2;
	}

	/* Tracked caches: shared, kmalloc classes, private slots. */
	for (const SharedSpec &sp : kShared) {
		dslab_cache_args a{};
		a.align = sp.align;
		a.sheaf_capacity = sp.capacity;
		a.barn_max_full = sp.max_full;
		a.barn_max_empty = sp.max_empty;
		a.flags = sp.flags;
		dslab_cache *c = dslab_cache_create(sp.name, sp.size, &a);
		if (c == nullptr) {
			fprintf(stderr, "dslab_soak: dslab_cache_create(%s): %s\n", sp.name,
				rte_strerror(rte_errno));
			return 2;
		}
		g_track[g_ntrack].tkind = T_SHARED;
		g_track[g_ntrack].zero = sp.flags & DSLAB_CACHE_ZERO;
		if (strcmp(sp.name, "soak-rcu-120") == 0)
			g_trcu = g_ntrack;
		track_set(g_ntrack++, c);
	}
	g_nshared = g_ntrack;
	g_kmalloc_first = g_ntrack;
	struct Collect {
		std::vector<dslab_cache *> v;
	} km;
	dslab_cache_walk(
		[](struct dslab_cache *c, void *arg) {
			if (strncmp(dslab_cache_name(c), "kmalloc-", 8) == 0)
				static_cast<Collect *>(arg)->v.push_back(c);
			return 0;
		},
		&km);
	for (dslab_cache *c : km.v) {
		g_track[g_ntrack].tkind = T_KMALLOC;
		if (strcmp(dslab_cache_name(c), "kmalloc-64") == 0)
			g_t64 = g_ntrack;
		track_set(g_ntrack++, c);
	}
	if (g_t64 == UINT32_MAX) {
		fprintf(stderr, "dslab_soak: no kmalloc-64 cache\n");
		return 2;
	}
	struct sigaction sa {};
	sa.sa_handler = on_sig_timer;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, nullptr);
	g_nkmalloc = g_ntrack - g_kmalloc_first;
	g_priv_first = g_ntrack;
	for (unsigned lc = 0; lc < kLcores; lc++)
		g_track[g_ntrack++].tkind = T_PRIVATE;
	for (const OpDef &d : g_ops)
		g_weight_sum += d.weight;

	for (unsigned lc = 0; lc < kLcores; lc++) {
		Lcore &L = g_lc[lc];
		L.id = lc;
		int s = dslab_lcore_socket(lc);
		if (s != kExpectSocket[lc]) {
			fprintf(stderr, "dslab_soak: lcore %u on socket %d, want %d\n", lc, s, kExpectSocket[lc]);
			return 2;
		}
		L.socket = (unsigned)s;
		L.rng.s = mix64(g_opt.seed + lc * 0x1234567ull);
		L.pool.reserve(g_opt.live + 64);
		L.priv_track = g_priv_first + lc;
		g_socket_lcores[s].push_back(lc);
	}
	for (unsigned src = 0; src < kLcores; src++) {
		for (unsigned dst = 0; dst < kLcores; dst++) {
			if (g_lc[src].socket == g_lc[dst].socket)
				continue;
			char name[RTE_RING_NAMESIZE];
			snprintf(name, sizeof(name), "soak_%u_to_%u", src, dst);
			g_ring[src][dst] = rte_ring_create(name, kRingSize, SOCKET_ID_ANY,
							   RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (g_ring[src][dst] == nullptr) {
				fprintf(stderr, "dslab_soak: rte_ring_create: %s\n", rte_strerror(rte_errno));
				return 2;
			}
		}
	}
	printf("caches: %u shared, %u kmalloc classes, 1 private per lcore (destroyed and "
	       "re-created at random)\n", g_nshared, g_nkmalloc);

	unsigned lc;
	RTE_LCORE_FOREACH_WORKER(lc)
		rte_eal_remote_launch(worker_main, nullptr, lc);
	g_start_cycles = rte_get_timer_cycles();
	for (auto &L : g_lc)
		update_target(L);
	g_stage.store(ST_RUN);
	g_go.store(true, std::memory_order_release);
	main_loop(g_lc[rte_lcore_id()]);
	for (unsigned spins = 0; g_finished.load(std::memory_order_acquire) != kLcores - 1;)
		relax(spins);
	rte_eal_mp_wait_lcore();

	g_stage.store(ST_FINAL);
	uint64_t end_bytes = final_checks();
	print_figures(end_bytes);

	for (auto &row : g_ring)
		for (rte_ring *r : row)
			rte_ring_free(r);
	g_stage.store(ST_FINI);
	dslab_fini();
	g_log_watch.store(false);
	if (g_lib_reports.load() != 0)
		error("the library logged %" PRIu64 " messages during the run (above)", g_lib_reports.load());
	rte_eal_cleanup();
	uint64_t errors = g_errors.load();
	printf("RESULT: %s (%" PRIu64 " errors)\n", errors == 0 ? "PASS" : "FAIL", errors);
	return errors == 0 ? 0 : 1;
}
