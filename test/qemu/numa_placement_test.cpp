/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * NUMA placement on a REAL two-node machine (run by test/qemu/run.sh inside
 * a QEMU guest with two NUMA nodes and 2 MiB hugepages reserved per node).
 *
 * No topology override: dslab takes DPDK's topology, and with hugepages its
 * slabs come from rte_malloc_socket(). The kernel is asked where every page
 * really is (libnuma move_pages() with nodes == NULL, cross-checked with
 * get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)) and DPDK where it thinks it is
 * (the memseg list's socket):
 *  1. from the main lcore, for each socket s: cache objects from
 *     dslab_alloc_node(cache, 0, s) and kmalloc memory of every size class
 *     (and two large sizes) from dslab_kmalloc_node(size, 0, s) are on node s;
 *  2. a multi-lcore workload on all lcores of both sockets: each lcore
 *     allocates locally (dslab_alloc, dslab_kmalloc), on the other socket
 *     (dslab_alloc_node, dslab_kmalloc_node), checks samples of both with
 *     move_pages(), and passes the objects through rings to lcores of the
 *     other socket, which verify and free them (cross-socket frees go home);
 *     afterwards objects_in_use of every cache is back where it started.
 * Prints "numa_placement_test: PASS" or "... FAIL (n failed checks)".
 *
 * Usage: numa_placement_test [EAL args]   (default: -l 0-3 --no-pci --in-memory)
 * Environment: DSLAB_NUMA_SECONDS, the workload's length (default 2).
 * Plain C++ (no GoogleTest), so that it builds against an installed or
 * built libdslab with g++ alone.
 */
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_ring.h>

#include <dslab.h>

namespace {

std::atomic<unsigned> g_failed{0};
std::atomic<unsigned> g_checks{0};

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		g_checks++;                                                     \
		if (!(cond)) {                                                  \
			g_failed++;                                             \
			printf("CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                    \
			printf("\n");                                           \
			fflush(stdout);                                         \
		}                                                               \
	} while (0)

const uintptr_t kPage = (uintptr_t)sysconf(_SC_PAGESIZE);

/* Distinct pages spanned by [p, p + len) (every page of the object). */
void add_pages(std::set<uintptr_t> &pages, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p & ~(kPage - 1), end = (uintptr_t)p + len;
	for (; a < end; a += kPage)
		pages.insert(a);
}

struct Placement {
	std::map<int, unsigned> kernel;  /* move_pages(): node -> pages */
	std::map<int, unsigned> policy;  /* get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR) */
	std::map<int, unsigned> dpdk;    /* memseg list socket (-1: not DPDK memory) */
	unsigned pages = 0;
	long err = 0;                    /* move_pages() failure (errno), 0 when fine */

	bool all_on(int node) const
	{
		return err == 0 && pages > 0 && kernel.size() == 1 && kernel.begin()->first == node;
	}
	std::string str(const std::map<int, unsigned> &m) const
	{
		std::string s;
		for (auto &[n, c] : m) {
			if (!s.empty())
				s += ' ';
			s += (n >= 0 ? "node" + std::to_string(n) : "status" + std::to_string(n)) + "=" +
			     std::to_string(c);
		}
		return s.empty() ? "-" : s;
	}
};

/* Where the kernel (and DPDK) say the pages are. Every page must have been
 * touched (move_pages() reports -ENOENT for a page not present). */
Placement place(const std::set<uintptr_t> &pages)
{
	Placement r;
	std::vector<void *> v;
	for (uintptr_t a : pages)
		v.push_back((void *)a);
	std::vector<int> status(v.size(), INT32_MIN);
	r.pages = (unsigned)v.size();
	if (!v.empty() && move_pages(0, v.size(), v.data(), nullptr, status.data(), 0) != 0)
		r.err = errno;
	for (size_t i = 0; i < v.size(); i++) {
		r.kernel[status[i]]++;
		int node = -1;
		if (get_mempolicy(&node, nullptr, 0, v[i], MPOL_F_NODE | MPOL_F_ADDR) != 0)
			node = -errno;
		r.policy[node]++;
		const struct rte_memseg_list *msl = rte_mem_virt2memseg_list(v[i]);
		r.dpdk[msl != nullptr ? msl->socket_id : -1]++;
	}
	return r;
}

void check_placement(const char *what, const std::set<uintptr_t> &pages, unsigned objs, int socket)
{
	Placement p = place(pages);
	bool ok = p.all_on(socket);
	printf("placement %-44s socket %d: %5u objects on %5u pages: kernel(move_pages) %s | "
	       "get_mempolicy %s | DPDK memseg %s -> %s\n",
	       what, socket, objs, p.pages, p.str(p.kernel).c_str(), p.str(p.policy).c_str(),
	       p.str(p.dpdk).c_str(), ok ? "OK" : "WRONG NODE");
	CHECK(p.err == 0, "move_pages failed: %s", strerror((int)p.err));
	CHECK(ok, "%s for socket %d not all on node %d", what, socket, socket);
	CHECK(p.dpdk.size() == 1 && p.dpdk.begin()->first == socket,
	      "%s: DPDK places the memory on socket(s) %s, want %d", what, p.str(p.dpdk).c_str(),
	      socket);
}

/* The (first) CPU an lcore runs on (rte_lcore_to_cpu_id() is the core id
 * within its socket, not the CPU number). */
int lcore_cpu(unsigned lc)
{
	rte_cpuset_t set = rte_lcore_cpuset(lc);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

uint64_t in_use_all()
{
	uint64_t sum = 0;
	dslab_cache_walk(
		[](struct dslab_cache *c, void *arg) -> int {
			struct dslab_cache_stats st;
			if (dslab_cache_stats(c, &st) == 0)
				*static_cast<uint64_t *>(arg) += st.objects_in_use;
			return 0;
		},
		&sum);
	return sum;
}

/* Every non-zero counter, by name (whatever counters this version has). */
std::string counters(const struct dslab_cache_stats &st)
{
	std::string r;
	char buf[96];
#define NUMA_TEST_PRINT_(name, doc)                                                   \
	if (st.name != 0) {                                                            \
		snprintf(buf, sizeof(buf), "%s%s %" PRIu64, r.empty() ? "" : ", ", #name, \
			 (uint64_t)st.name);                                             \
		r += buf;                                                              \
	}
	DSLAB_STATS_FIELDS(NUMA_TEST_PRINT_)
#undef NUMA_TEST_PRINT_
	snprintf(buf, sizeof(buf), "; objects_in_use %" PRIu64 ", slabs %" PRIu64 ", bytes_held %" PRIu64,
		 (uint64_t)st.objects_in_use, (uint64_t)st.slabs, (uint64_t)st.bytes_held);
	return r + buf;
}

/* Objects freed on another socket and sent home, however they went (the
 * counters named free_remote*: straight to the home slabs, or in a ring
 * batch, depending on the version and configuration). */
uint64_t sent_home(const struct dslab_cache_stats &st)
{
	uint64_t n = 0;
#define NUMA_TEST_SUM_(name, doc)                        \
	if (strncmp(#name, "free_remote", 11) == 0) \
		n += st.name;
	DSLAB_STATS_FIELDS(NUMA_TEST_SUM_)
#undef NUMA_TEST_SUM_
	return n;
}

struct dslab_cache_stats stats_of(const struct dslab_cache *c)
{
	struct dslab_cache_stats st;
	memset(&st, 0, sizeof(st));
	CHECK(dslab_cache_stats(c, &st) == 0, "dslab_cache_stats");
	return st;
}

/* ------------------------------------------------------------------ */
/* 1. From the main lcore: alloc_node / kmalloc_node on each socket.    */

constexpr size_t kObjSize = 256;

void node_allocations(struct dslab_cache *c, int socket)
{
	constexpr unsigned kObjs = 4096; /* 1 MiB of objects */
	std::vector<void *> objs;
	std::set<uintptr_t> pages;
	for (unsigned i = 0; i < kObjs; i++) {
		void *p = dslab_alloc_node(c, 0, socket);
		CHECK(p != nullptr, "dslab_alloc_node(socket %d): %s", socket, rte_strerror(rte_errno));
		if (p == nullptr)
			break;
		memset(p, 0xa5, kObjSize); /* touch */
		objs.push_back(p);
		add_pages(pages, p, kObjSize);
	}
	check_placement("dslab_alloc_node(cache 256 B)", pages, (unsigned)objs.size(), socket);
	for (void *p : objs)
		dslab_free(c, p);

	/* Every kmalloc size class up to DSLAB_KMALLOC_MAX_SIZE, then two large
	 * sizes (separately mapped regions). */
	static const size_t sizes[] = {8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096,
				       8192, 16384, 32768, 65536, 1u << 20};
	for (size_t sz : sizes) {
		unsigned n = sz <= 4096 ? 256 : sz <= 32768 ? 16 : 4;
		std::vector<void *> mem;
		std::set<uintptr_t> kp;
		for (unsigned i = 0; i < n; i++) {
			void *p = dslab_kmalloc_node(sz, 0, socket);
			CHECK(p != nullptr, "dslab_kmalloc_node(%zu, socket %d): %s", sz, socket,
			      rte_strerror(rte_errno));
			if (p == nullptr)
				break;
			memset(p, 0x5a, sz);
			mem.push_back(p);
			add_pages(kp, p, sz);
		}
		char what[64];
		snprintf(what, sizeof(what), "dslab_kmalloc_node(%zu)", sz);
		check_placement(what, kp, (unsigned)mem.size(), socket);
		for (void *p : mem)
			dslab_kfree(p);
	}
}

/* ------------------------------------------------------------------ */
/* 2. Multi-lcore workload across both sockets.                         */

struct Hdr {
	uint32_t magic;
	uint16_t lcore;  /* allocating lcore */
	int16_t socket;  /* socket the memory must be on */
	uint64_t seq;
	uint32_t kind;   /* 1: cache object, 2: kmalloc */
	uint32_t size;
};
constexpr uint32_t kMagic = 0xd51ab0bb;

struct Workload {
	struct dslab_cache *cache;
	std::vector<unsigned> lcores;            /* all lcores, main included */
	std::map<unsigned, unsigned> peer;       /* lcore -> an lcore of another socket */
	struct rte_ring *ring[RTE_MAX_LCORE] = {};
	std::chrono::steady_clock::time_point deadline;
	std::atomic<int> done{0};
	std::atomic<uint64_t> made{0}, freed{0}, corrupt{0}, alloc_fail{0};
	std::atomic<uint64_t> sampled{0}, misplaced{0}, remote_made{0};
	std::atomic<uint64_t> per_lcore_ops[RTE_MAX_LCORE] = {};
};

void release(Workload &w, void *p)
{
	auto *h = static_cast<Hdr *>(p);
	if (h->magic != kMagic)
		w.corrupt++;
	h->magic = 0;
	if (h->kind == 1)
		dslab_free(w.cache, p);
	else
		dslab_kfree(p);
	w.freed++;
}

/* Is the page of p on node want (sampled: move_pages is a system call). */
void sample(Workload &w, const void *p, int want)
{
	void *page = (void *)((uintptr_t)p & ~(kPage - 1));
	int status = INT32_MIN;
	if (move_pages(0, 1, &page, nullptr, &status, 0) != 0)
		status = -errno;
	w.sampled++;
	if (status != want) {
		if (w.misplaced++ < 10)
			printf("misplaced: lcore %u: %p wanted on node %d, kernel says %d\n",
			       rte_lcore_id(), p, want, status);
	}
}

int worker(void *arg)
{
	Workload &w = *static_cast<Workload *>(arg);
	unsigned lc = rte_lcore_id();
	int my = (int)rte_lcore_to_socket_id(lc);
	unsigned to = w.peer.at(lc);
	int other = (int)rte_lcore_to_socket_id(to);
	uint64_t seq = 0, rnd = 0x9e3779b9u * (lc + 1);
	auto drain = [&] {
		void *in[32];
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst(w.ring[lc], in, 32, nullptr)) != 0)
			for (unsigned i = 0; i < n; i++)
				release(w, in[i]);
	};
	auto make = [&](void *p, int socket, uint32_t kind, uint32_t size) -> void * {
		if (p == nullptr) {
			w.alloc_fail++;
			return nullptr;
		}
		auto *h = static_cast<Hdr *>(p);
		memset(p, 0x11, size);
		*h = Hdr{kMagic, (uint16_t)lc, (int16_t)socket, ++seq, kind, size};
		w.made++;
		if ((seq & 63) == 1)
			sample(w, p, socket);
		return p;
	};
	for (uint64_t it = 0;; it++) {
		if ((it & 127) == 0 && std::chrono::steady_clock::now() > w.deadline)
			break;
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t ksz = (uint32_t)(sizeof(Hdr) + (rnd >> 33) % 3000);
		void *objs[4] = {
			make(dslab_alloc(w.cache, 0), my, 1, kObjSize),
			make(dslab_kmalloc(ksz, 0), my, 2, ksz),
			make(dslab_alloc_node(w.cache, 0, other), other, 1, kObjSize),
			make(dslab_kmalloc_node(ksz, 0, other), other, 2, ksz),
		};
		w.remote_made += 2;
		/* Local objects go to the other socket's lcore (freed there: a
		 * cross-socket free); the other socket's objects are freed here
		 * every other time (also cross-socket), else sent over too (there
		 * they are local). */
		for (int k = 0; k < 4; k++) {
			if (objs[k] == nullptr)
				continue;
			if (k >= 2 && (it & 1)) {
				release(w, objs[k]);
				continue;
			}
			while (rte_ring_mp_enqueue(w.ring[to], objs[k]) != 0)
				drain();
		}
		drain();
		w.per_lcore_ops[lc] += 4;
	}
	w.done.fetch_add(1);
	while (w.done.load() < (int)w.lcores.size()) {
		drain();
		sched_yield();
	}
	drain();
	dslab_quiescent(); /* the lcore's deferred work, if any */
	return 0;
}

void multi_lcore_workload(double seconds)
{
	Workload w;
	w.cache = dslab_cache_create("numa_ml", kObjSize, nullptr);
	CHECK(w.cache != nullptr, "dslab_cache_create: %s", rte_strerror(rte_errno));
	if (w.cache == nullptr)
		return;
	unsigned lc;
	RTE_LCORE_FOREACH(lc)
	w.lcores.push_back(lc);
	/* Peer: the lcore of the same rank on the next socket (0<->2, 1<->3). */
	std::map<unsigned, std::vector<unsigned>> by_socket;
	for (unsigned l : w.lcores)
		by_socket[rte_lcore_to_socket_id(l)].push_back(l);
	for (size_t i = 0; i < w.lcores.size(); i++) {
		unsigned me = w.lcores[i];
		unsigned ms = rte_lcore_to_socket_id(me);
		auto it = by_socket.find(ms);
		size_t rank = std::find(it->second.begin(), it->second.end(), me) - it->second.begin();
		auto next = std::next(it) == by_socket.end() ? by_socket.begin() : std::next(it);
		w.peer[me] = next->second[rank % next->second.size()];
		CHECK(w.peer[me] != me, "lcore %u has no peer on another socket", me);
		std::string n = "numa_ml" + std::to_string(me);
		w.ring[me] = rte_ring_create(n.c_str(), 1024, (int)rte_lcore_to_socket_id(me), RING_F_SC_DEQ);
		CHECK(w.ring[me] != nullptr, "rte_ring_create: %s", rte_strerror(rte_errno));
		if (w.ring[me] == nullptr)
			return;
		printf("workload: lcore %u (cpu %d, socket %u) sends to lcore %u (socket %u)\n", me,
		       lcore_cpu(me), rte_lcore_to_socket_id(me), w.peer[me],
		       rte_lcore_to_socket_id(w.peer[me]));
	}
	const uint64_t in_use_before = in_use_all();
	auto t0 = std::chrono::steady_clock::now();
	w.deadline = t0 + std::chrono::milliseconds((long)(seconds * 1000));
	rte_eal_mp_remote_launch(worker, &w, CALL_MAIN);
	rte_eal_mp_wait_lcore();
	double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

	for (unsigned l : w.lcores) {
		CHECK(rte_ring_count(w.ring[l]) == 0, "ring of lcore %u not empty", l);
		printf("workload: lcore %u: %" PRIu64 " allocations\n", l, w.per_lcore_ops[l].load());
	}
	struct dslab_cache_stats s = stats_of(w.cache);
	uint64_t in_use_after = in_use_all();
	printf("workload: %.2f s, %u lcores, %" PRIu64 " allocated, %" PRIu64 " freed (%.0f alloc+free/s), "
	       "%" PRIu64 " placement samples, %" PRIu64 " misplaced\n",
	       el, (unsigned)w.lcores.size(), w.made.load(), w.freed.load(), w.made.load() / el,
	       w.sampled.load(), w.misplaced.load());
	printf("workload: cache numa_ml: %s\n", counters(s).c_str());
	printf("workload: objects in use over all caches: before %" PRIu64 ", after %" PRIu64 "\n",
	       in_use_before, in_use_after);
	CHECK(w.made.load() > 0, "nothing allocated");
	CHECK(w.freed.load() == w.made.load(), "made %" PRIu64 " freed %" PRIu64, w.made.load(),
	      w.freed.load());
	CHECK(w.corrupt.load() == 0, "%" PRIu64 " objects corrupted", w.corrupt.load());
	CHECK(w.alloc_fail.load() == 0, "%" PRIu64 " allocations failed", w.alloc_fail.load());
	CHECK(w.sampled.load() > 0, "no placement sampled");
	CHECK(w.misplaced.load() == 0, "%" PRIu64 " objects on the wrong node", w.misplaced.load());
	CHECK(s.objects_in_use == 0, "cache numa_ml: %" PRIu64 " objects in use", s.objects_in_use);
	CHECK(in_use_after == in_use_before, "in use over all caches %" PRIu64 " -> %" PRIu64,
	      in_use_before, in_use_after);
	CHECK(sent_home(s) > 0, "no cross-socket free counted (free_remote*)");
	CHECK(s.alloc_node_remote > 0, "no remote alloc_node counted");
	for (unsigned l : w.lcores)
		rte_ring_free(w.ring[l]);
	dslab_cache_destroy(w.cache);
}

} // namespace

int main(int argc, char **argv)
{
	setvbuf(stdout, nullptr, _IOLBF, 0);
	std::vector<char *> eal;
	static char defaults[][32] = {"-l", "0-3", "--no-pci", "--in-memory"};
	eal.push_back(argv[0]);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			eal.push_back(argv[i]);
	} else {
		for (auto &d : defaults)
			eal.push_back(d);
	}
	printf("numa_placement_test: EAL args:");
	for (char *a : eal)
		printf(" %s", a);
	printf("\n");
	if (rte_eal_init((int)eal.size(), eal.data()) < 0) {
		printf("numa_placement_test: rte_eal_init failed: %s\nnuma_placement_test: FAIL\n",
		       rte_strerror(rte_errno));
		return 1;
	}

	/* The machine as the kernel, libnuma and DPDK see it. */
	printf("machine: libnuma: numa_available %d, %d configured nodes, %d CPUs; page size %zu\n",
	       numa_available(), numa_available() >= 0 ? numa_num_configured_nodes() : 0,
	       numa_num_configured_cpus(), (size_t)kPage);
	printf("machine: DPDK: %u sockets, %u lcores, hugepages %s\n", rte_socket_count(),
	       rte_lcore_count(), rte_eal_has_hugepages() ? "yes" : "NO");
	for (unsigned i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats ms;
		int s = rte_socket_id_by_idx(i);
		if (rte_malloc_get_socket_stats(s, &ms) == 0)
			printf("machine: DPDK heap of socket %d: %zu KiB total, %zu KiB free\n", s,
			       ms.heap_totalsz_bytes >> 10, ms.heap_freesz_bytes >> 10);
	}
	CHECK(rte_eal_has_hugepages(), "EAL runs without hugepages: per-socket memory needs them");
	CHECK(rte_socket_count() == 2, "DPDK sees %u sockets, want 2", rte_socket_count());

	if (getenv("DSLAB_TOPOLOGY") != nullptr) {
		printf("note: DSLAB_TOPOLOGY=%s unset: this test is about DPDK's own topology\n",
		       getenv("DSLAB_TOPOLOGY"));
		unsetenv("DSLAB_TOPOLOGY");
	}
	if (dslab_init(nullptr) != 0) {
		printf("numa_placement_test: dslab_init failed: %s\nnuma_placement_test: FAIL\n",
		       rte_strerror(rte_errno));
		return 1;
	}
	printf("dslab: %u sockets\n", dslab_socket_count());
	CHECK(dslab_socket_count() == 2, "dslab_socket_count() = %u, want 2", dslab_socket_count());
	std::set<int> sockets_with_lcores;
	unsigned lc;
	RTE_LCORE_FOREACH(lc)
	{
		int s = dslab_lcore_socket(lc);
		int cpu = lcore_cpu(lc);
		printf("dslab: lcore %u on cpu %d: dslab socket %d, DPDK socket %u, libnuma node of cpu %d\n",
		       lc, cpu, s, rte_lcore_to_socket_id(lc), numa_node_of_cpu(cpu));
		CHECK(s == (int)rte_lcore_to_socket_id(lc), "lcore %u: dslab socket %d, DPDK %u", lc, s,
		      rte_lcore_to_socket_id(lc));
		CHECK(s == numa_node_of_cpu(cpu), "lcore %u: dslab socket %d, node of its cpu %d is %d",
		      lc, s, cpu, numa_node_of_cpu(cpu));
		sockets_with_lcores.insert(s);
	}
	CHECK(sockets_with_lcores.size() == 2, "lcores on %zu sockets, want both",
	      sockets_with_lcores.size());

	struct dslab_cache *c = dslab_cache_create("numa_place", kObjSize, nullptr);
	CHECK(c != nullptr, "dslab_cache_create: %s", rte_strerror(rte_errno));
	const uint64_t in_use_before = in_use_all();
	if (c != nullptr && dslab_socket_count() == 2) {
		for (int s = 0; s < 2; s++)
			node_allocations(c, s);
		struct dslab_cache_stats st = stats_of(c);
		printf("cache numa_place: %s\n", counters(st).c_str());
		CHECK(sent_home(st) > 0, "numa_place: frees of socket 1's objects on socket 0 not counted");
		CHECK(st.objects_in_use == 0, "numa_place: %" PRIu64 " in use", st.objects_in_use);
		CHECK(in_use_all() == in_use_before, "in use over all caches %" PRIu64 " -> %" PRIu64,
		      in_use_before, in_use_all());

		const char *secs = getenv("DSLAB_NUMA_SECONDS");
		multi_lcore_workload(secs != nullptr ? atof(secs) : 2.0);
	}
	dslab_cache_destroy(c);
	dslab_fini();
	rte_eal_cleanup();

	unsigned f = g_failed.load();
	if (f == 0)
		printf("numa_placement_test: PASS (%u checks)\n", g_checks.load());
	else
		printf("numa_placement_test: FAIL (%u of %u checks failed)\n", f, g_checks.load());
	return f == 0 ? 0 : 1;
}
