/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * The server side of telemetry_test.sh: a DPDK application with telemetry
 * on (EAL args from the command line) holding two caches, "tm_a" with
 * TM_A_HELD objects in use and "tm_b" with none. Once set up it prints
 *     ready
 *     stats {"name": "tm_a", "alloc_cpu_sheaf": N, ...}
 * (tm_a's counters as dslab_cache_stats() reads them, for the script to
 * compare with /dslab/info), then waits until stdin closes or
 * TM_TIMEOUT_S seconds pass, frees everything and exits 0 if nothing is
 * left in use.
 */
#include <dslab.h>

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>

#define TM_A_HELD 7
#define TM_TIMEOUT_S 60

static void print_stats(const char *name)
{
	struct dslab_cache_stats s;

	if (dslab_cache_stats(dslab_cache_lookup(name), &s) != 0)
		return;
	printf("stats {\"name\": \"%s\"", name);
#define TM_FIELD_(f, doc) printf(", \"%s\": %" PRIu64, #f, s.f);
	DSLAB_STATS_FIELDS(TM_FIELD_)
#undef TM_FIELD_
#define TM_GAUGE_(f) printf(", \"%s\": %" PRIu64, #f, s.f);
	TM_GAUGE_(objects_in_use)
	TM_GAUGE_(objects_pending_rcu)
	TM_GAUGE_(objects_in_sheaves)
	TM_GAUGE_(slabs)
	TM_GAUGE_(bytes_held)
	TM_GAUGE_(object_size)
	TM_GAUGE_(sheaf_capacity)
#undef TM_GAUGE_
	printf("}\n");
}

/* Wait for EOF on stdin, at most TM_TIMEOUT_S seconds. */
static void wait_stdin(void)
{
	uint64_t end = rte_get_timer_cycles() + TM_TIMEOUT_S * rte_get_timer_hz();
	char buf[256];

	while (rte_get_timer_cycles() < end) {
		struct pollfd p = {.fd = 0, .events = POLLIN};

		if (poll(&p, 1, 100) > 0 && read(0, buf, sizeof(buf)) <= 0)
			return;
	}
	fprintf(stderr, "telemetry_server: timed out after %d s\n", TM_TIMEOUT_S);
}

int main(int argc, char **argv)
{
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	if (dslab_init(NULL) != 0)
		return 1;
	struct dslab_cache *a = dslab_cache_create("tm_a", 64, NULL);
	struct dslab_cache *b = dslab_cache_create("tm_b", 256, NULL);
	if (a == NULL || b == NULL)
		return 1;
	void *held[TM_A_HELD];
	for (int i = 0; i < TM_A_HELD; i++)
		if ((held[i] = dslab_alloc(a, 0)) == NULL)
			return 1;
	dslab_free(b, dslab_alloc(b, 0));
	printf("ready\n");
	print_stats("tm_a");
	fflush(stdout);

	wait_stdin();

	for (int i = 0; i < TM_A_HELD; i++)
		dslab_free(a, held[i]);
	struct dslab_cache_stats s;
	int ok = dslab_cache_stats(a, &s) == 0 && s.objects_in_use == 0;
	dslab_cache_destroy(a);
	dslab_cache_destroy(b);
	dslab_fini();
	rte_eal_cleanup();
	return ok ? 0 : 1;
}
