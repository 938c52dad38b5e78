/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * A plain C DPDK application using dslab as an installed library: built by
 * pkgconfig_test.sh with
 *     cc -std=gnu11 -Wall -Wextra -Werror c_api_test.c \
 *        $(pkg-config --cflags --libs dslab)
 * <dslab.h> comes first and is the only dslab header included: it must be
 * self-contained C. Runs on the main lcore, with no hugepages and no NIC.
 */
#include <dslab.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

static int failures;

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "c_api_test.c:%d: FAILED: %s\n", __LINE__, \
				#cond);                                            \
			failures++;                                                \
		}                                                                  \
	} while (0)

struct item {
	uint64_t id;
	char payload[40];
	struct dslab_rcu_head rh;
};

/* EAL's runtime directory for our own --file-prefix: removed at exit once
 * EAL's exit handlers have removed the telemetry socket from it. */
static char rundir[PATH_MAX];

static void remove_rundir(void)
{
	if (rundir[0] != '\0')
		rmdir(rundir);
}

static int count_caches(struct dslab_cache *c, void *arg)
{
	(void)c;
	(*(unsigned *)arg)++;
	return 0;
}

static struct dslab_cache_stats stats_of(const struct dslab_cache *c)
{
	struct dslab_cache_stats s;

	memset(&s, 0xff, sizeof(s));
	CHECK(dslab_cache_stats(c, &s) == 0);
	return s;
}

int main(int argc, char **argv)
{
	char prefix[64];
	char *eal[] = {argv[0], "--no-huge", "--no-pci", "-m", "256", "--no-shconf", prefix,
		       "-l", "0", "--log-level=lib.eal:error"};

	(void)argc;
	snprintf(prefix, sizeof(prefix), "--file-prefix=dslab_capi%d", (int)getpid());
	atexit(remove_rundir); /* runs after EAL's own exit handlers */
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	printf("dslab %s, C API through pkg-config\n", DSLAB_VERSION);

	/* Before dslab_init(): refused, not crashed. */
	CHECK(dslab_socket_count() == 0);
	CHECK(dslab_cache_create("early", 64, NULL) == NULL && rte_errno == EINVAL);

	CHECK(dslab_init(NULL) == 0);
	CHECK(dslab_init(NULL) == -EALREADY);
	CHECK(dslab_socket_count() >= 1);
	CHECK(dslab_lcore_socket(rte_lcore_id()) >= 0);

	/* A cache with arguments. */
	struct dslab_cache_args args;
	memset(&args, 0, sizeof(args));
	args.sheaf_capacity = 32;
	args.flags = DSLAB_CACHE_HWCACHE_ALIGN;
	struct dslab_cache *c = dslab_cache_create("c_items", sizeof(struct item), &args);
	CHECK(c != NULL);
	if (c == NULL)
		return 1;
	CHECK(dslab_cache_create("c_items", 16, NULL) == NULL && rte_errno == EEXIST);
	CHECK(dslab_cache_lookup("c_items") == c);
	CHECK(dslab_cache_lookup("no_such_cache") == NULL && rte_errno == ENOENT);
	CHECK(strcmp(dslab_cache_name(c), "c_items") == 0);
	CHECK(dslab_cache_obj_size(c) == 64);

	/* One object, zeroed on request. */
	struct item *it = dslab_alloc(c, DSLAB_F_ZERO);
	CHECK(it != NULL && it->id == 0 && it->payload[39] == 0);
	CHECK(((uintptr_t)it & 63) == 0);
	CHECK(dslab_ksize(it) == 64);
	it->id = 42;
	struct dslab_cache_stats s = stats_of(c);
	CHECK(s.objects_in_use == 1);
	CHECK(s.object_size == 64 && s.sheaf_capacity == 32);
	dslab_free(c, it);

	/* Bulk, more than a sheaf holds. */
	void *objs[100];
	CHECK(dslab_alloc_bulk(c, 0, 100, objs) == 100);
	for (int i = 0; i < 100; i++)
		memset(objs[i], i, sizeof(struct item));
	CHECK(stats_of(c).objects_in_use == 100);
	dslab_free_bulk(c, 100, objs);
	CHECK(stats_of(c).objects_in_use == 0);

	/* kmalloc of every size class edge, kzalloc, kvmalloc above the classes. */
	static const size_t sizes[] = {1, 8, 9, 64, 100, 1024, 1025, 4096, DSLAB_KMALLOC_MAX_SIZE};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = dslab_kmalloc(sizes[i], 0);
		CHECK(p != NULL && dslab_ksize(p) >= sizes[i]);
		if (p != NULL)
			memset(p, 0x5a, sizes[i]);
		dslab_kfree(p);
	}
	uint64_t *z = dslab_kzalloc(256, 0);
	CHECK(z != NULL && z[0] == 0 && z[31] == 0);
	dslab_kfree(z);
	char *big = dslab_kvmalloc(1u << 20, DSLAB_F_ZERO);
	CHECK(big != NULL && big[0] == 0 && big[(1u << 20) - 1] == 0);
	dslab_kvfree(big);
	CHECK(dslab_kmalloc(0, 0) == NULL && rte_errno == EINVAL);
	dslab_kfree(NULL);

	/* A prefilled sheaf: n allocations that cannot fail. */
	struct dslab_sheaf *sh = dslab_prefill_sheaf(c, 0, 8);
	CHECK(sh != NULL && dslab_sheaf_size(sh) >= 8);
	if (sh != NULL) {
		void *o = dslab_alloc_from_sheaf(c, 0, sh);
		CHECK(o != NULL);
		dslab_free(c, o);
		dslab_return_sheaf(c, sh);
	}

	/* kfree_rcu from an online reader lcore, then a barrier. */
	CHECK(dslab_rcu_online() == 0);
	it = dslab_alloc(c, 0);
	CHECK(it != NULL);
	dslab_kfree_rcu(it, rh);
	dslab_quiescent();
	dslab_rcu_barrier();
	dslab_rcu_offline();

	s = stats_of(c);
	CHECK(s.objects_in_use == 0);
	CHECK(s.objects_pending_rcu == 0);
	/* 1 + 100 + 1 from the lcore's sheaves or slabs, 1 from the prefilled one. */
	CHECK(s.alloc_cpu_sheaf + s.alloc_slowpath == 102);
	CHECK(s.alloc_from_sheaf == 1);
	CHECK(s.rcu_reclaimed == 1);
	CHECK(s.alloc_fail == 0);
	printf("counters of %s:", dslab_cache_name(c));
#define PRINT_FIELD_(name, doc) printf(" %s=%" PRIu64, #name, s.name);
	DSLAB_STATS_FIELDS(PRINT_FIELD_)
#undef PRINT_FIELD_
	printf("\n");
	CHECK(dslab_cache_stats(NULL, &s) == -EINVAL);

	unsigned ncaches = 0;
	CHECK(dslab_cache_walk(count_caches, &ncaches) == 0);
	CHECK(ncaches >= 2); /* c_items and the kmalloc caches */
	(void)dslab_cache_shrink(c);
	dslab_cache_destroy(c);
	CHECK(dslab_cache_lookup("c_items") == NULL);
	dslab_fini();
	rte_eal_cleanup();

	if (failures != 0) {
		printf("c_api_test: %d check(s) FAILED\n", failures);
		return 1;
	}
	printf("c_api_test: OK\n");
	return 0;
}
