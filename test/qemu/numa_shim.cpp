/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Runs the repository's GoogleTest binaries on a REAL two-socket machine
 * without changing them: test/qemu/run.sh relinks the objects meson compiled
 * for a test binary (test_main.cpp.o included, so its configuration, e.g.
 * test_configure(), stays whatever the tree says) with this file and
 *   -Wl,--wrap=rte_eal_init -Wl,--wrap=setenv
 * test_main.cpp hard-codes "--no-huge -m 512 --no-shconf --file-prefix=...
 * --lcores=0@0,1@1,2@0,3@1" and sets DSLAB_TOPOLOGY=0:0,1:0,2:1,3:1 (2
 * LOGICAL sockets). Here:
 *  - rte_eal_init() gets hugepages and lcores 0-3 on CPUs 0-3: --no-huge,
 *    -m, --no-shconf, --file-prefix, --lcores/-l/-c are dropped and
 *    "-l 0-3 --in-memory" added (the guest puts CPUs 0,1 on node 0 and 2,3
 *    on node 1, so lcores 0,1 are socket 0 and 2,3 socket 1, as the tests
 *    expect, but real sockets now, and the slabs come from
 *    rte_malloc_socket());
 *  - setenv("DSLAB_TOPOLOGY", ...) is ignored: dslab takes DPDK's topology.
 * Extra EAL arguments: the environment variable DSLAB_QEMU_EAL_EXTRA
 * (words separated by spaces).
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_lcore.h>

extern "C" {
int __real_rte_eal_init(int argc, char **argv);
int __real_setenv(const char *name, const char *value, int overwrite);

int __wrap_setenv(const char *name, const char *value, int overwrite)
{
	if (name != nullptr && strcmp(name, "DSLAB_TOPOLOGY") == 0) {
		printf("numa_shim: setenv(DSLAB_TOPOLOGY=%s) ignored: DPDK's own topology\n",
		       value != nullptr ? value : "(null)");
		return 0;
	}
	return __real_setenv(name, value, overwrite);
}

int __wrap_rte_eal_init(int argc, char **argv)
{
	static std::vector<std::string> words;
	static std::vector<char *> args;
	words.clear();
	words.emplace_back(argc > 0 ? argv[0] : "test");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--no-huge") == 0 || strcmp(a, "--no-shconf") == 0 ||
		    strncmp(a, "--file-prefix", 13) == 0 || strncmp(a, "--lcores", 8) == 0 ||
		    strncmp(a, "--in-memory", 11) == 0)
			continue;
		if (strcmp(a, "-m") == 0 || strcmp(a, "-l") == 0 || strcmp(a, "-c") == 0) {
			i++; /* and its value */
			continue;
		}
		words.emplace_back(a);
	}
	for (const char *a : {"-l", "0-3", "--in-memory"})
		words.emplace_back(a);
	if (const char *extra = getenv("DSLAB_QEMU_EAL_EXTRA")) {
		std::string e = extra;
		size_t p = 0;
		while (p < e.size()) {
			size_t q = e.find(' ', p);
			if (q == std::string::npos)
				q = e.size();
			if (q > p)
				words.push_back(e.substr(p, q - p));
			p = q + 1;
		}
	}
	args.clear();
	printf("numa_shim: rte_eal_init(");
	for (auto &w : words) {
		args.push_back(w.data());
		printf("%s%s", &w == &words[0] ? "" : " ", w.c_str());
	}
	printf(")\n");
	args.push_back(nullptr);
	int rc = __real_rte_eal_init((int)words.size(), args.data());
	if (rc >= 0) {
		printf("numa_shim: EAL: hugepages %s, %u sockets, lcore sockets:",
		       rte_eal_has_hugepages() ? "yes" : "NO", rte_socket_count());
		unsigned lc;
		RTE_LCORE_FOREACH(lc)
		printf(" %u:%u", lc, rte_lcore_to_socket_id(lc));
		printf("\n");
		if (!rte_eal_has_hugepages() || rte_socket_count() != 2) {
			fprintf(stderr, "numa_shim: want hugepages and 2 sockets\n");
			return -1;
		}
	}
	fflush(stdout);
	return rc;
}
}
