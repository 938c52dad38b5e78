/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * main() for the repository's GoogleTest files on a REAL two-socket machine
 * (test/qemu/run.sh links it with test/multilcore_test.cpp and the other
 * files named in DSLAB_QEMU_GTEST_SOURCES, instead of test/test_main.cpp,
 * which hard-codes --no-huge and the DSLAB_TOPOLOGY override).
 *
 * Here EAL runs with hugepages and lcores 0-3 on CPUs 0-3 (the guest puts
 * CPUs 0-1 on node 0 and 2-3 on node 1), and dslab takes DPDK's own
 * topology: lcores 0,1 are socket 0, lcores 2,3 socket 1, as the tests
 * expect, but now real sockets whose slabs come from rte_malloc_socket().
 *
 * Usage: numa_gtest [gtest flags] [-- EAL args]
 * (default EAL args: -l 0-3 --no-pci --in-memory --log-level=lib.eal:error)
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_lcore.h>

#include <dslab.h>

int main(int argc, char **argv)
{
	std::vector<char *> eal{argv[0]};
	int gargc = argc;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			gargc = i;
			for (int j = i + 1; j < argc; j++)
				eal.push_back(argv[j]);
			break;
		}
	}
	static char defaults[][40] = {"-l", "0-3", "--no-pci", "--in-memory",
				      "--log-level=lib.eal:error"};
	if (eal.size() == 1)
		for (auto &d : defaults)
			eal.push_back(d);
	::testing::InitGoogleTest(&gargc, argv);
	if (rte_eal_init((int)eal.size(), eal.data()) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	unsetenv("DSLAB_TOPOLOGY"); /* DPDK's own topology */
	if (!rte_eal_has_hugepages() || rte_socket_count() != 2) {
		fprintf(stderr, "want hugepages and 2 sockets: hugepages %d, %u sockets\n",
			rte_eal_has_hugepages(), rte_socket_count());
		return 1;
	}
	if (dslab_init(nullptr) != 0) {
		fprintf(stderr, "dslab_init failed\n");
		return 1;
	}
	printf("numa_gtest: DPDK topology, hugepages, %u sockets; lcore sockets:", dslab_socket_count());
	unsigned lc;
	RTE_LCORE_FOREACH(lc)
	printf(" %u:%d", lc, dslab_lcore_socket(lc));
	printf("\n");
	int rc = RUN_ALL_TESTS();
	dslab_fini();
	rte_eal_cleanup();
	return rc;
}
