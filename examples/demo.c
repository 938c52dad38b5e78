/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * dslab_demo: a multi-lcore DPDK application using dslab from C.
 *
 * Every lcore, for a fixed time:
 *  - allocates 64 B messages from the cache "demo_64" and sends them to the
 *    next lcore through that lcore's rte_ring; the receiver frees them (half
 *    with dslab_free(), half with dslab_kfree_rcu()), so frees cross lcores
 *    and, under a topology override, cross (logical) sockets;
 *  - allocates and frees bursts of 256 B objects of the cache "demo_256"
 *    (dslab_alloc_bulk / dslab_free_bulk);
 *  - allocates kmalloc memory of mixed sizes (32 B to 4 KiB), frees half of
 *    it itself and sends the other half to the next lcore, which frees it
 *    with dslab_kfree() (the cache is found from the address).
 * Then it prints per-lcore and total throughput, every counter of both
 * caches (the DSLAB_STATS_FIELDS X-macro), the kmalloc caches used, and
 * exits non-zero if any object of any cache is left in use.
 *
 * Usage: dslab_demo [EAL args] [-- [-t SECONDS]]
 * Without EAL args (nothing, or "--" first) it runs with
 *   --no-huge --no-pci -m 512 --no-shconf --file-prefix=dslab_demo<pid>
 *   --lcores=0@0,1@1,2@0,3@1 --log-level=lib.eal:error
 * (4 lcores on 2 cores, no hugepages, no NIC). Set
 * DSLAB_TOPOLOGY="0:0,1:0,2:1,3:1" to give the lcores two LOGICAL sockets
 * on a one-socket machine.
 */
#define _GNU_SOURCE /* rte_lcore_cpuset(), CPU_ISSET() */
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <dslab.h>

#define MSG_MAGIC 0xd51abu
#define KIND_CACHE 1u
#define KIND_KMALLOC 2u
#define BURST 16
#define RING_SIZE 4096

/* Header of everything sent between lcores (a whole demo_64 object, the
 * start of a kmalloc block). */
struct msg {
	uint32_t magic;
	uint16_t from;
	uint16_t kind;
	uint64_t seq;
	struct dslab_rcu_head rh;
};

struct lcore_state {
	uint64_t ops;  /* allocations plus frees, objects */
	uint64_t sent; /* objects handed to the next lcore */
	uint64_t recv; /* objects received and freed */
	uint64_t bad;  /* received objects with a wrong header */
	unsigned done; /* set (release) when the worker has finished */
} __rte_cache_aligned;

static struct dslab_cache *c64, *c256;
static struct rte_ring *inbox[RTE_MAX_LCORE];
static unsigned next_lcore[RTE_MAX_LCORE], prev_lcore[RTE_MAX_LCORE];
static struct lcore_state st[RTE_MAX_LCORE];
static uint64_t deadline;

/* Free what arrived in lcore @p lc's inbox. */
static unsigned drain(unsigned lc)
{
	void *in[BURST];
	unsigned n = rte_ring_dequeue_burst(inbox[lc], in, BURST, NULL);

	for (unsigned i = 0; i < n; i++) {
		struct msg *m = in[i];

		if (m->magic != MSG_MAGIC || m->from != prev_lcore[lc])
			st[lc].bad++;
		if (m->kind == KIND_KMALLOC)
			dslab_kfree(m);
		else if (m->seq & 1)
			dslab_kfree_rcu(m, rh); /* readers may still hold it */
		else
			dslab_free(c64, m);
	}
	st[lc].recv += n;
	st[lc].ops += n;
	return n;
}

static void send_next(unsigned lc, struct msg *m, uint16_t kind, uint64_t seq)
{
	m->magic = MSG_MAGIC;
	m->from = (uint16_t)lc;
	m->kind = kind;
	m->seq = seq;
	if (rte_ring_enqueue(inbox[next_lcore[lc]], m) == 0) {
		st[lc].sent++;
	} else { /* next lcore is behind: free it here */
		dslab_kfree(m);
		st[lc].ops++;
	}
}

static int worker(void *arg)
{
	unsigned lc = rte_lcore_id();
	uint64_t seq = 0, ops = 0;
	uint32_t rnd = 2463534242u + lc;

	(void)arg;
	dslab_rcu_online();
	while (rte_get_timer_cycles() < deadline) {
		for (int k = 0; k < 64; k++, seq++) {
			void *burst[BURST];
			struct msg *m;

			/* A 64 B message for the next lcore. */
			m = dslab_alloc(c64, 0);
			if (m != NULL) {
				ops++;
				send_next(lc, m, KIND_CACHE, seq);
			}
			/* A burst of 256 B objects, used and freed here. */
			if (dslab_alloc_bulk(c256, 0, BURST, burst) == BURST) {
				for (int i = 0; i < BURST; i++)
					*(uint64_t *)burst[i] = seq;
				dslab_free_bulk(c256, BURST, burst);
				ops += 2 * BURST;
			}
			/* kmalloc of a mixed size (xorshift32): even ones
			 * freed here, odd ones by the next lcore. */
			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			size_t size = sizeof(struct msg) + rnd % (4096 - sizeof(struct msg) + 1);
			m = dslab_kmalloc(size, 0);
			if (m != NULL) {
				ops++;
				if (seq & 1) {
					send_next(lc, m, KIND_KMALLOC, seq);
				} else {
					memset(m, 0, sizeof(*m));
					dslab_kfree(m);
					ops++;
				}
			}
			drain(lc);
		}
		dslab_quiescent();
	}
	st[lc].ops += ops;
	dslab_rcu_offline();
	/* EAL's rte_eal_wait_lcore() synchronises in uninstrumented code; this
	 * release store (and the acquire load in main) lets ThreadSanitizer
	 * see that the worker's last writes happen before main reads them. */
	__atomic_store_n(&st[lc].done, 1, __ATOMIC_RELEASE);
	return 0;
}

static int print_kmalloc_cache(struct dslab_cache *c, void *arg)
{
	struct dslab_cache_stats s;

	(void)arg;
	if (strncmp(dslab_cache_name(c), "kmalloc", 7) != 0 || dslab_cache_stats(c, &s) != 0)
		return 0;
	if (s.alloc_cpu_sheaf + s.alloc_slowpath + s.alloc_node_remote == 0)
		return 0;
	/* Remote frees go home by ring batches (free_remote_ring, the default
	 * with several sockets) or straight to the slabs (free_remote_node). */
	printf("  %-16s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", dslab_cache_name(c),
	       s.alloc_cpu_sheaf + s.alloc_slowpath + s.alloc_node_remote,
	       s.free_cpu_sheaf + s.free_slowpath + s.free_remote_node + s.free_remote_ring,
	       s.free_remote_node + s.free_remote_ring, s.objects_in_use);
	return 0;
}

static void print_cache(struct dslab_cache *c)
{
	struct dslab_cache_stats s;

	if (dslab_cache_stats(c, &s) != 0)
		return;
	printf("cache %s (object %" PRIu64 " B, sheaf capacity %" PRIu64 "):\n", dslab_cache_name(c),
	       s.object_size, s.sheaf_capacity);
#define DEMO_PRINT_(name, doc) printf("  %-24s %14" PRIu64 "  %s\n", #name, s.name, doc);
	DSLAB_STATS_FIELDS(DEMO_PRINT_)
#undef DEMO_PRINT_
#define DEMO_GAUGE_(name) printf("  %-24s %14" PRIu64 "\n", #name, s.name);
	DEMO_GAUGE_(objects_in_use)
	DEMO_GAUGE_(objects_pending_rcu)
	DEMO_GAUGE_(objects_deferred)
	DEMO_GAUGE_(objects_in_transit)
	DEMO_GAUGE_(objects_in_sheaves)
	DEMO_GAUGE_(slabs)
	DEMO_GAUGE_(bytes_held)
#undef DEMO_GAUGE_
}

/* Objects in use over every cache (kmalloc caches included). */
static int sum_in_use(struct dslab_cache *c, void *arg)
{
	struct dslab_cache_stats s;

	if (dslab_cache_stats(c, &s) == 0) {
		if (s.objects_in_use != 0 || s.objects_pending_rcu != 0)
			printf("LEAK: cache %s: %" PRIu64 " objects in use, %" PRIu64 " pending rcu\n",
			       dslab_cache_name(c), s.objects_in_use, s.objects_pending_rcu);
		*(uint64_t *)arg += s.objects_in_use + s.objects_pending_rcu;
	}
	return 0;
}

/* First CPU of an lcore's affinity set. */
static int lcore_cpu(unsigned lc)
{
	rte_cpuset_t set = rte_lcore_cpuset(lc);

	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			return cpu;
	return -1;
}

/* EAL's runtime directory for our own --file-prefix: removed at exit once
 * EAL's exit handlers have removed the telemetry socket from it. */
static char rundir[PATH_MAX];

static void remove_rundir(void)
{
	if (rundir[0] != '\0')
		rmdir(rundir);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [EAL args] [-- [-t SECONDS]]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	char prefix[64];
	char *defaults[] = {argv[0], "--no-huge", "--no-pci", "-m", "512", "--no-shconf", prefix,
			    "--lcores=0@0,1@1,2@0,3@1", "--log-level=lib.eal:error", NULL};
	int ndefaults = (int)(sizeof(defaults) / sizeof(defaults[0])) - 1;
	double seconds = 1.0;
	int ret, app_argc;
	char **app_argv;

	snprintf(prefix, sizeof(prefix), "--file-prefix=dslab_demo%d", (int)getpid());
	if (argc == 1 || strcmp(argv[1], "--") == 0) {
		/* No EAL arguments: the defaults; ours follow "--". */
		atexit(remove_rundir); /* runs after EAL's own exit handlers */
		ret = rte_eal_init(ndefaults, defaults);
		if (ret >= 0)
			snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
		app_argc = argc > 1 ? argc - 1 : 1;
		app_argv = argc > 1 ? argv + 1 : argv;
	} else {
		ret = rte_eal_init(argc, argv);
		app_argc = argc - (ret > 0 ? ret : 0);
		app_argv = argv + (ret > 0 ? ret : 0);
	}
	if (ret < 0) {
		fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	for (int i = 1; i < app_argc; i++) {
		if (strcmp(app_argv[i], "-t") == 0 && i + 1 < app_argc)
			seconds = atof(app_argv[++i]);
		else
			usage(argv[0]);
	}
	if (!(seconds > 0 && seconds < 3600))
		usage(argv[0]);

	if (dslab_init(NULL) != 0) {
		fprintf(stderr, "dslab_init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	const char *topo = getenv("DSLAB_TOPOLOGY");
	if (topo != NULL)
		printf("topology override in use (DSLAB_TOPOLOGY=\"%s\"): %u LOGICAL sockets\n", topo,
		       dslab_socket_count());
	else
		printf("topology: DPDK's, %u socket(s)\n", dslab_socket_count());

	c64 = dslab_cache_create("demo_64", 64, NULL);
	c256 = dslab_cache_create("demo_256", 256, NULL);
	if (c64 == NULL || c256 == NULL) {
		fprintf(stderr, "dslab_cache_create failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}

	/* The lcores in a circle: each sends to the next one's inbox. */
	unsigned lc, prev = RTE_MAX_LCORE, first = RTE_MAX_LCORE;
	RTE_LCORE_FOREACH(lc) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "demo_in%u", lc);
		/* HTS rings synchronise with C11 atomics (which sanitizers
		 * understand) rather than with bare fences. */
		inbox[lc] = rte_ring_create(name, RING_SIZE, rte_lcore_to_socket_id(lc),
					    RING_F_MP_HTS_ENQ | RING_F_MC_HTS_DEQ);
		if (inbox[lc] == NULL) {
			fprintf(stderr, "rte_ring_create failed: %s\n", rte_strerror(rte_errno));
			return 1;
		}
		if (prev == RTE_MAX_LCORE)
			first = lc;
		else
			next_lcore[prev] = lc;
		prev_lcore[lc] = prev;
		prev = lc;
	}
	next_lcore[prev] = first;
	prev_lcore[first] = prev;

	printf("running %.2f s on %u lcores...\n", seconds, rte_lcore_count());
	fflush(stdout);
	uint64_t t0 = rte_get_timer_cycles();
	deadline = t0 + (uint64_t)(seconds * (double)rte_get_timer_hz());
	rte_eal_mp_remote_launch(worker, NULL, CALL_MAIN);
	rte_eal_mp_wait_lcore();
	double elapsed = (double)(rte_get_timer_cycles() - t0) / (double)rte_get_timer_hz();
	RTE_LCORE_FOREACH(lc)
		while (__atomic_load_n(&st[lc].done, __ATOMIC_ACQUIRE) == 0)
			rte_pause();

	/* Objects still in flight, then every grace period. */
	RTE_LCORE_FOREACH(lc) {
		while (drain(lc) != 0)
			;
		rte_ring_free(inbox[lc]);
	}
	dslab_rcu_barrier();

	uint64_t total = 0, sent = 0, recv = 0, bad = 0;
	printf("\nthroughput (allocations + frees of objects, cache and kmalloc;\n"
	       "lcores pinned to the same cpu share it):\n");
	RTE_LCORE_FOREACH(lc) {
		printf("  lcore %2u (socket %d, cpu %d): %8.2f Mops/s  (%" PRIu64 " objects sent to lcore %u)\n",
		       lc, dslab_lcore_socket(lc), lcore_cpu(lc),
		       (double)st[lc].ops / elapsed / 1e6, st[lc].sent, next_lcore[lc]);
		total += st[lc].ops;
		sent += st[lc].sent;
		recv += st[lc].recv;
		bad += st[lc].bad;
	}
	printf("  total: %.2f Mops/s over %.2f s\n\n", (double)total / elapsed / 1e6, elapsed);

	print_cache(c64);
	print_cache(c256);
	printf("kmalloc caches used:\n  %-16s %12s %12s %12s %12s\n", "cache", "allocs", "frees",
	       "remote", "in_use");
	dslab_cache_walk(print_kmalloc_cache, NULL);

	uint64_t in_use = 0;
	dslab_cache_walk(sum_in_use, &in_use);
	printf("\nobjects sent across lcores %" PRIu64 ", received %" PRIu64 ", bad headers %" PRIu64
	       "\nobjects_in_use at the end (all caches): %" PRIu64 "\n",
	       sent, recv, bad, in_use);
	bool ok = in_use == 0 && bad == 0 && sent == recv;

	dslab_cache_destroy(c64);
	dslab_cache_destroy(c256);
	dslab_fini();
	rte_eal_cleanup();
	printf("%s\n", ok ? "OK: every object came back" : "FAILED");
	return ok ? 0 : 1;
}
