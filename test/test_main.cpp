/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * main() of the GoogleTest programs: EAL once per binary (4 lcores on the
 * machine's cores, no hugepages, a file prefix of its own), dslab with 2
 * LOGICAL sockets through the topology override (lcores 0,1 on socket 0;
 * 2,3 on socket 1), then the tests. Remote frees go straight to the home
 * slabs (DSLAB_REMOTE_DIRECT: the counters the tests assert); a binary that
 * tests another configuration defines test_configure().
 */
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rte_eal.h>

#include <dslab.h>

/* Weak: a test binary may override the configuration. */
__attribute__((weak)) void test_configure(struct dslab_config *cfg)
{
	cfg->remote_free = DSLAB_REMOTE_DIRECT;
}

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	std::string prefix = "--file-prefix=dslabt" + std::to_string(getpid());
	const char *eal[] = {argv[0], "--no-huge", "--no-pci", "-m", "512", "--no-shconf",
			     prefix.c_str(), "--lcores=0@0,1@1,2@0,3@1", "--log-level=lib.eal:error"};
	if (rte_eal_init(sizeof(eal) / sizeof(eal[0]), const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	setenv("DSLAB_TOPOLOGY", "0:0,1:0,2:1,3:1", 1); /* logical sockets */
	struct dslab_config cfg {};
	test_configure(&cfg);
	if (dslab_init(&cfg) != 0) {
		fprintf(stderr, "dslab_init failed\n");
		return 1;
	}
	int rc = RUN_ALL_TESTS();
	dslab_fini();
	rte_eal_cleanup();
	return rc;
}
