#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# dslab as an installed library: install the build directory into a
# temporary root (DESTDIR), then build c_api_test.c the way a DPDK C
# application is built,
#     cc -std=gnu11 -Wall -Wextra -Werror app.c $(pkg-config --cflags --libs dslab)
# and run it.
# The C example of README.md is built and run the same way, if given.
# Usage: pkgconfig_test.sh BUILD_DIR C_SOURCE [README]
set -euo pipefail
build=$1 src=$2 readme=${3:-}
root=$(mktemp -d "${TMPDIR:-/tmp}/dslab_pc.XXXXXX")
trap 'rm -rf "$root"' EXIT

meson install -C "$build" --destdir "$root" --no-rebuild > "$root/install.log" 2>&1 || {
	cat "$root/install.log"; echo "meson install failed"; exit 1; }
pc=$(find "$root" -name dslab.pc | head -n 1)
[ -n "$pc" ] || { echo "dslab.pc was not installed"; exit 1; }

# The .pc names the configured prefix (/usr/local); point a copy at the
# DESTDIR tree. Only dslab.pc is changed: libdpdk.pc is the system's.
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir "$root/pc"
sed "s|^prefix=.*|prefix=$root$prefix|" "$pc" > "$root/pc/dslab.pc"
export PKG_CONFIG_PATH="$root/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --exists --print-errors dslab

# A sanitized library needs the sanitizer runtime in the application too.
san=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))')
sanflags=()
[ "$san" = none ] || sanflags=("-fsanitize=$san")
# Under TSan, make DPDK's launch/wait visible to it (see tsan_launch.c).
case $san in *thread*) sanflags+=("$(dirname "$0")/tsan_launch.c" -ldl) ;; esac

cflags=$(pkg-config --cflags dslab)
libs=$(pkg-config --libs dslab)
libdir=$(pkg-config --variable=libdir dslab)
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "cc -std=gnu11 -Wall -Wextra -Werror ${sanflags[*]} c_api_test.c $cflags $libs"
# shellcheck disable=SC2086 # pkg-config output is a list of words
cc -std=gnu11 -Wall -Wextra -Werror "${sanflags[@]}" -o "$root/c_api_test" "$src" $cflags $libs
"$root/c_api_test"

if [ -n "$readme" ]; then
	# The first ```c block of the README.
	awk '/^```c$/ { f = 1; next } /^```$/ { if (f) exit } f' "$readme" > "$root/readme_example.c"
	[ -s "$root/readme_example.c" ] || { echo "no C example in $readme"; exit 1; }
	# shellcheck disable=SC2086
	cc -std=gnu11 -Wall -Wextra -Werror "${sanflags[@]}" -o "$root/readme_example" \
		"$root/readme_example.c" $cflags $libs
	"$root/readme_example" --no-huge --no-pci -m 256 --lcores=0@0,1@1 --no-shconf \
		--file-prefix="dslab_readme$$" --log-level=lib.eal:error
	rm -rf "/var/run/dpdk/dslab_readme$$" "${XDG_RUNTIME_DIR:-/tmp}/dpdk/dslab_readme$$" 2>/dev/null || true
	echo "README.md example: OK"
fi
