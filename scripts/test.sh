#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Install what is missing, then build and run the whole test suite in four
# configurations, and fuzz:
#   normal   the default build (debugoptimized), every suite
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     ThreadSanitizer
#   checked  -Dchecked=true (every free verified)
#   fuzz     the libFuzzer API target (clang, ASan+UBSan, checked) for
#            FUZZ_SECONDS (default 120) from fuzz/corpus (scripts/fuzz.sh)
#   memcheck valgrind memcheck (uninitialised reads, which no gcc sanitizer
#            sees) over the soak, ring and direct remote frees, and the unit
#            tests (scripts/memcheck.sh)
#   qemu     the multi-socket tests on a real two-node NUMA machine: a QEMU
#            guest (TCG unless DSLAB_QEMU_ACCEL says otherwise) on DPDK's own
#            topology with hugepages per node (test/qemu/run.sh)
# Only the normal build has the benchmarks (they bring their own allocators,
# which sanitizers replace) and runs the 'bench' suite.
# Usage: scripts/test.sh [normal|asan|tsan|checked|fuzz|memcheck|qemu]...   (default: all)
# Build directories: $DSLAB_BUILD_ROOT/<config> (default build-test/);
# extra meson options for every build: DSLAB_MESON_OPTS; extra arguments of
# every `meson test` (e.g. "--suite integration"): DSLAB_TEST_ARGS.
# Ends with one line "test.sh: N passed, N failed, N skipped" over all
# configurations; exits non-zero if any build or test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
root=${DSLAB_BUILD_ROOT:-build-test}

configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(normal asan tsan checked fuzz memcheck qemu)

scripts/deps.sh

# Sanitizer settings: fail on the first report, suppressions only for
# named DPDK internals (scripts/*.supp says why for each).
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$top/scripts/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="suppressions=$top/scripts/tsan.supp:halt_on_error=0:second_deadlock_stack=1:print_suppressions=0"

failed_configs=()
results=()
# A configuration that is one script: passed or failed as a whole.
run_script() {
	local cfg=$1 title=$2 t0=$SECONDS
	shift 2
	echo
	echo "=============== $cfg: $title ==============="
	if "$@"; then
		results+=("$cfg 1 0 0 $((SECONDS - t0))")
	else
		results+=("$cfg 0 1 0 $((SECONDS - t0))")
		failed_configs+=("$cfg")
	fi
}

run_config() {
	local cfg=$1 dir=$root/$1 opts=() suites=() rounds=${DSLAB_RACE_ROUNDS:-}
	case $cfg in
	qemu)
		run_script qemu "two NUMA nodes ($dir)" \
			env DSLAB_QEMU_ACCEL="${DSLAB_QEMU_ACCEL:-tcg}" test/qemu/run.sh "$dir"
		return ;;
	fuzz)
		run_script fuzz "${FUZZ_SECONDS:-120} s ($dir)" \
			env FUZZ_BUILD="$dir" FUZZ_SECONDS="${FUZZ_SECONDS:-120}" scripts/fuzz.sh
		return ;;
	memcheck)
		# The normal build, already there when 'normal' ran first.
		run_script memcheck "valgrind ($root/normal)" scripts/memcheck.sh "$root/normal"
		return ;;
	esac
	case $cfg in
	normal) ;;
	asan) opts=("-Db_sanitize=address,undefined" -Db_lundef=false -Dbench=disabled)
		suites=(--no-suite bench) rounds=${rounds:-300} ;;
	tsan) opts=(-Db_sanitize=thread -Db_lundef=false -Dbench=disabled)
		suites=(--no-suite bench) rounds=${rounds:-200} ;;
	checked) opts=(-Dchecked=true -Dbench=disabled)
		suites=(--no-suite bench) ;;
	*) echo "test.sh: unknown configuration '$cfg' (normal, asan, tsan, checked, fuzz, memcheck, qemu)"; exit 2 ;;
	esac
	echo
	echo "=============== $cfg: build ($dir) ==============="
	local t0=$SECONDS
	if ! scripts/build.sh "$dir" "${opts[@]}"; then
		echo "test.sh: $cfg: BUILD FAILED"
		failed_configs+=("$cfg (build)")
		results+=("$cfg build")
		return
	fi
	echo "=============== $cfg: test ==============="
	local rc=0
	# shellcheck disable=SC2086 # DSLAB_TEST_ARGS is a list of words
	# The flush-vs-fill race runs thousands of rounds normally, fewer
	# under the (10x slower) sanitizers.
	DSLAB_RACE_ROUNDS=$rounds meson test -C "$dir" --no-rebuild --print-errorlogs \
		"${suites[@]}" ${DSLAB_TEST_ARGS:-} || rc=$?
	local counts
	counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r == "SKIP": skip += 1
    else: bad += 1
print(ok, bad, skip)
PY
)
	results+=("$cfg $counts $((SECONDS - t0))")
	[ "$rc" = 0 ] || failed_configs+=("$cfg")
}

for cfg in "${configs[@]}"; do
	run_config "$cfg"
done

echo
echo "=============== summary ==============="
passed=0 failed=0 skipped=0
for r in "${results[@]}"; do
	read -r cfg ok bad skip secs <<< "$r"
	if [ "$ok" = build ]; then
		printf '  %-9s build failed\n' "$cfg"
		failed=$((failed + 1))
		continue
	fi
	printf '  %-9s %3d passed, %d failed, %d skipped  (%d s)\n' "$cfg" "$ok" "$bad" "$skip" "$secs"
	passed=$((passed + ok)) failed=$((failed + bad)) skipped=$((skipped + skip))
done
if [ ${#failed_configs[@]} -gt 0 ] && [ "$failed" = 0 ]; then
	failed=${#failed_configs[@]} # meson test failed without a test result
fi
echo "test.sh: $passed passed, $failed failed, $skipped skipped"
[ ${#failed_configs[@]} -eq 0 ] && [ "$failed" = 0 ]
