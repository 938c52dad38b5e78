#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The soak's self-test: with --inject F the run must catch the fault and end
# in RESULT: FAIL (exit status 1), after printing that the fault went in.
# Usage: inject_test.sh SOAK_BINARY FAULT
set -u
soak=$1 fault=$2
out=$("$soak" --seconds 1 --seed 1 --inject "$fault" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E "^inject|RESULT|ERROR" | head -8
# A sanitizer's report is not what the self-test looks for: show it whole.
if printf '%s\n' "$out" | grep -q "WARNING: .*Sanitizer\|ERROR: .*Sanitizer"; then
	printf '%s\n' "$out" | sed -n '/WARNING: .*Sanitizer\|ERROR: .*Sanitizer/,/^SUMMARY: /p'
fi
if [ "$rc" != 1 ]; then
	echo "inject $fault: exit status $rc, want 1 (the soak caught the fault)"
	exit 1
fi
printf '%s\n' "$out" | grep -q "^inject $fault: " || { echo "inject $fault: the fault did not go in"; exit 1; }
printf '%s\n' "$out" | grep -q "^RESULT: FAIL" || { echo "inject $fault: no RESULT: FAIL"; exit 1; }
echo "inject $fault: caught"
