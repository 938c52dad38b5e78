#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Run dslab's multi-socket tests on a REAL two-node NUMA machine: a QEMU guest
# (-smp 4,sockets=2, one memory-backend-ram and one -numa node per socket,
# 2 MiB hugepages reserved per node) booted from a Debian kernel and an
# initramfs holding busybox, the test binaries and the libraries they load.
# Inside, on DPDK's own topology (no DSLAB_TOPOLOGY) and with hugepages:
#   numa_placement_test  every socket's slabs (cache objects, kmalloc, large
#                        kmalloc) are on that node, checked with move_pages();
#                        a workload on the lcores of both sockets.
#   numa_gtest           the repository's GoogleTest files (multilcore_test.cpp
#                        etc.) linked with test/qemu/numa_gtest_main.cpp
#                        instead of test/test_main.cpp (which hard-codes
#                        --no-huge and the logical-socket override).
#   dslab_core_test      the build's own binary, unchanged (--no-huge, 2
#                        LOGICAL sockets): in the guest logical socket s takes
#                        mmap + mbind memory from the real node s.
# The guest prints "DSLAB_QEMU_RESULT=PASS" (or =FAIL) on its serial console.
#
# Usage: test/qemu/run.sh [BUILD_DIR]
# Environment (all optional):
#   DSLAB_QEMU_BUILD      build directory (default: <repo>/build-qemu); BUILD_DIR wins
#   DSLAB_QEMU_SRC        source tree to build (default: this repository)
#   DSLAB_QEMU_WORK       kernel, initramfs and logs (default: BUILD/qemu)
#   DSLAB_QEMU_ACCEL      auto (kvm if /dev/kvm is usable, else tcg), kvm or tcg
#   DSLAB_QEMU_TIMEOUT    seconds the guest may run (default 1200)
#   DSLAB_QEMU_NODE_MEM   memory of each of the two nodes, in GiB (default 2G)
#   DSLAB_QEMU_HUGEPAGES  2 MiB hugepages reserved per node (default 512: the
#                         kmalloc tests hold well over 256 MiB of a socket)
#   DSLAB_QEMU_MARCH      -march of the build (default x86-64-v2: the emulated
#                         CPU has no AVX-512)
#   DSLAB_QEMU_KERNEL     a vmlinuz to boot instead of the Debian package's
#   DSLAB_QEMU_GTEST_SOURCES  test/*.cpp files linked into numa_gtest (default:
#                         dslab_core_test's, read from test/meson.build)
#   DSLAB_QEMU_GTEST_FILTER   --gtest_filter of numa_gtest
#   DSLAB_QEMU_RCU_TEST   1: also link test/rcu_test.cpp into numa_rcu_gtest and
#                         run it (default 0: 45 s on a host core, minutes in TCG)
#   DSLAB_QEMU_CORE_TEST  1 (default): also run the build's dslab_core_test
#   DSLAB_NUMA_SECONDS    length of numa_placement_test's workload (default 2)
# pkg-config's flags are split into words on purpose; commas are QEMU's.
# shellcheck disable=SC2046,SC2054,SC2207
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
src=$(cd "${DSLAB_QEMU_SRC:-$repo}" && pwd)
build=${1:-${DSLAB_QEMU_BUILD:-$repo/build-qemu}}
mkdir -p "$build"
build=$(cd "$build" && pwd)
work=${DSLAB_QEMU_WORK:-$build/qemu}
accel=${DSLAB_QEMU_ACCEL:-auto}
vm_timeout=${DSLAB_QEMU_TIMEOUT:-1200}
node_mem=${DSLAB_QEMU_NODE_MEM:-2G}
hugepages=${DSLAB_QEMU_HUGEPAGES:-512}
[[ $node_mem =~ ^[1-9][0-9]*G$ ]] || { echo "qemu-run: DSLAB_QEMU_NODE_MEM=$node_mem: want e.g. 2G" >&2; exit 1; }
march=${DSLAB_QEMU_MARCH:-x86-64-v2}
# dslab_core_test's sources as test/meson.build lists them, but test_main.cpp.
core_sources=$(sed -n "/executable('dslab_core_test'/,/dependencies:/p" "$src/test/meson.build" |
	grep -o "'[A-Za-z0-9_]*\.cpp'" | tr -d "'" | grep -vx test_main.cpp | tr '\n' ' ' || true)
gtest_sources=${DSLAB_QEMU_GTEST_SOURCES:-${core_sources:-multilcore_test.cpp kmalloc_test.cpp paths_test.cpp}}
rcu_test=${DSLAB_QEMU_RCU_TEST:-0}
gtest_filter=${DSLAB_QEMU_GTEST_FILTER:-*}
core_test=${DSLAB_QEMU_CORE_TEST:-1}
numa_seconds=${DSLAB_NUMA_SECONDS:-2}

t_start=$(date +%s)
log() { echo "qemu-run: [$(($(date +%s) - t_start)) s] $*"; }

# ---------------------------------------------------------------- packages
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
packages=(build-essential meson ninja-build pkg-config libdpdk-dev libnuma-dev libgtest-dev
	qemu-system-x86 busybox-static cpio gzip)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	"${sudo[@]}" apt-get update -q
	apt_updated=1
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- kernel
# The Debian kernel that linux-image-amd64 points at, downloaded from the apt
# archive and unpacked here (not installed on this machine: only vmlinuz is
# needed; NUMA, hugetlbfs, devtmpfs, the 8250 console and gzip initramfs are
# built in).
mkdir -p "$work/kernel"
if [ -n "${DSLAB_QEMU_KERNEL:-}" ]; then
	kernel=$DSLAB_QEMU_KERNEL
else
	kernel_pkg() {
		apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ && k == "" { k = $2 } END { print k }'
	}
	kpkg=$(kernel_pkg || true)
	if [ -z "$kpkg" ] && [ "$apt_updated" = 0 ]; then
		"${sudo[@]}" apt-get update -q
		apt_updated=1
		kpkg=$(kernel_pkg || true)
	fi
	[ -n "$kpkg" ] || { echo "qemu-run: no linux-image-amd64 in the apt archive" >&2; exit 1; }
	kdir=$work/kernel
	kernel=$kdir/vmlinuz-${kpkg#linux-image-}
	if [ ! -f "$kernel" ]; then
		log "downloading $kpkg from the apt archive"
		rm -f "$kdir"/*.deb
		if ! (cd "$kdir" && apt-get download "$kpkg"); then
			[ "$apt_updated" = 1 ] || "${sudo[@]}" apt-get update -q
			(cd "$kdir" && apt-get download "$kpkg")
		fi
		deb=$(find "$kdir" -maxdepth 1 -name "${kpkg}_*.deb" | head -1)
		[ -n "$deb" ] || { echo "qemu-run: apt-get download $kpkg failed" >&2; exit 1; }
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './boot/vmlinuz-*'
		mv "$kdir"/boot/vmlinuz-* "$kernel"
		rmdir "$kdir/boot"
		rm -f "$deb"
	fi
fi
log "kernel $kernel"

# ---------------------------------------------------------------- build
# A portable -march: binaries built for this host (-march=native) may use
# AVX-512, which the emulated CPU lacks (SIGILL). DPDK's pkg-config cflags add
# -march=corei7 after ours, which is as portable (SSE4.2, no AVX).
if [ ! -f "$build/build.ninja" ]; then
	log "meson setup $build"
	meson setup "$build" "$src" -Dbench=disabled -Dexamples=false -Dtests=enabled \
		-Dc_args="-march=$march" -Dcpp_args="-march=$march"
fi
log "building $build"
ninja -C "$build"

bin=$work/bin
mkdir -p "$bin"
cxxflags=(-std=c++20 -O2 -g -Wall -Wextra -Wno-volatile -Wno-missing-field-initializers
	$(pkg-config --cflags libdpdk) -march="$march" -I"$src/src" -I"$build/src")
ldflags=(-L"$build/src" -Wl,-rpath,"$build/src" -ldslab $(pkg-config --libs libdpdk) -lnuma -pthread)
log "compiling numa_placement_test"
g++ "${cxxflags[@]}" "$here/numa_placement_test.cpp" -o "$bin/numa_placement_test" "${ldflags[@]}"
# The test files' objects as meson compiled them for dslab_core_test (and
# dslab_rcu_test), relinked with numa_gtest_main.cpp instead of
# test_main.cpp; a file the build did not compile is compiled here.
gtest_obj() { # FILE MESON_TARGET -> prints the object
	local o=$build/test/$2.p/$1.o
	if [ ! -f "$o" ]; then
		o=$bin/gtest_${1%.cpp}.o
		g++ "${cxxflags[@]}" $(pkg-config --cflags gtest) -I"$src/test" -c "$src/test/$1" -o "$o" ||
			return 1
	fi
	echo "$o"
}
log "linking numa_gtest (numa_gtest_main.cpp + ${gtest_sources})"
g++ "${cxxflags[@]}" $(pkg-config --cflags gtest) -c "$here/numa_gtest_main.cpp" -o "$bin/numa_gtest_main.o"
objs=("$bin/numa_gtest_main.o")
for f in $gtest_sources; do objs+=("$(gtest_obj "$f" dslab_core_test)"); done
g++ "${objs[@]}" -o "$bin/numa_gtest" $(pkg-config --libs gtest) "${ldflags[@]}"
progs=("$bin/numa_placement_test" "$bin/numa_gtest")
rcu_line=
if [ "$rcu_test" = 1 ]; then
	log "linking numa_rcu_gtest (numa_gtest_main.cpp + rcu_test.cpp)"
	g++ "$bin/numa_gtest_main.o" "$(gtest_obj rcu_test.cpp dslab_rcu_test)" -o "$bin/numa_rcu_gtest" \
		$(pkg-config --libs gtest) "${ldflags[@]}"
	progs+=("$bin/numa_rcu_gtest")
	rcu_line="run numa_rcu_gtest /opt/dslab/numa_rcu_gtest -- -l 0-3 --no-pci --in-memory --log-level=lib.eal:error"
fi
[ "$core_test" != 1 ] || progs+=("$build/test/dslab_core_test")

# No AVX-512 in what we built (the emulated CPU would raise SIGILL; DPDK's own
# libraries choose their code paths at run time).
for f in "${progs[@]}" "$build"/src/libdslab.so.*.*; do
	if objdump -d --no-show-raw-insn "$f" | grep -q '%zmm\|%k[0-7]\b'; then
		echo "qemu-run: $f uses AVX-512: build with a portable -march" >&2
		exit 1
	fi
done

# ---------------------------------------------------------------- initramfs
log "building the initramfs"
root=$work/rootfs
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,run,var/run,opt/dslab,lib/x86_64-linux-gnu,lib64}
cp -L "$(command -v busybox)" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
for f in "${progs[@]}"; do
	cp -L "$f" "$root/opt/dslab/"
	# Every library it loads (ldd: the whole closure). EAL's driver
	# directory (pkg-config --variable=pmdsdir: none set here; the
	# compiled-in /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0) is left out:
	# EAL loads no drivers when it is absent, and the tests need none
	# (--no-pci; rings and rte_malloc only).
	ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			case $lib in
			*/ld-linux*) cp -L "$lib" "$root/lib64/$(basename "$lib")" ;;
			*) cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
			esac
		done
done
core_line=
if [ "$core_test" = 1 ]; then
		# No hugepages there (--no-huge -m 512): give them back first.
	# shellcheck disable=SC2016 # expanded by the guest's shell
	core_line='for n in /sys/devices/system/node/node[0-9]*; do echo 0 > $n/hugepages/hugepages-2048kB/nr_hugepages; done
run dslab_core_test /opt/dslab/dslab_core_test'
fi
cat > "$root/init" <<EOF
#!/bin/sh
# Generated by test/qemu/run.sh.
export PATH=/bin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu DSLAB_NUMA_SECONDS=$numa_seconds
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/hugepages
mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
echo "dslab-qemu: kernel \$(uname -r), \$(grep -c ^processor /proc/cpuinfo) CPUs, \$(grep -m1 'model name' /proc/cpuinfo)"
for n in /sys/devices/system/node/node[0-9]*; do
	echo $hugepages > \$n/hugepages/hugepages-2048kB/nr_hugepages
	echo "dslab-qemu: \${n##*/}: cpus \$(cat \$n/cpulist), \$(awk '/MemTotal/ { print \$4 " " \$5 }' \$n/meminfo), 2 MiB hugepages \$(cat \$n/hugepages/hugepages-2048kB/nr_hugepages) (free \$(cat \$n/hugepages/hugepages-2048kB/free_hugepages))"
done
fails=
run() {
	name=\$1
	shift
	echo "dslab-qemu: ===== \$name: \$*"
	t0=\$(date +%s)
	timeout 600 "\$@"
	rc=\$?
	echo "dslab-qemu: ===== \$name: exit status \$rc, \$((\$(date +%s) - t0)) s"
	[ \$rc = 0 ] || fails="\$fails \$name"
	rm -f /dev/hugepages/* 2>/dev/null
}
run numa_placement_test /opt/dslab/numa_placement_test -l 0-3 --no-pci --in-memory
run numa_gtest /opt/dslab/numa_gtest --gtest_filter='$gtest_filter' -- -l 0-3 --no-pci --in-memory --log-level=lib.eal:error
$rcu_line
$core_line
if [ -z "\$fails" ]; then
	echo "DSLAB_QEMU_RESULT=PASS"
else
	echo "DSLAB_QEMU_RESULT=FAIL:\$fails"
fi
sync
poweroff -f
EOF
chmod +x "$root/init"
initrd=$work/initramfs.cpio.gz
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 > "$initrd")
log "initramfs $initrd: $(du -h "$initrd" | cut -f1)"

# ---------------------------------------------------------------- boot
case $accel in
auto)
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		accel_args=(-accel kvm -accel tcg) # QEMU falls back to TCG if KVM fails
	else
		accel_args=(-accel tcg)
	fi
	;;
kvm | tcg) accel_args=(-accel "$accel") ;;
*) echo "qemu-run: DSLAB_QEMU_ACCEL=$accel: want auto, kvm or tcg" >&2; exit 1 ;;
esac
serial=$work/serial.log
qemu=(qemu-system-x86_64 -machine q35 "${accel_args[@]}" -cpu max
	-smp 4,sockets=2,cores=2,threads=1 -m "$((2 * ${node_mem%G}))G"
	-object memory-backend-ram,id=m0,size="$node_mem" -object memory-backend-ram,id=m1,size="$node_mem"
	-numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init"
	-nographic -no-reboot -nic none)
log "booting: ${qemu[*]}"
t_boot=$(date +%s)
set +e
timeout -k 10 "$vm_timeout" "${qemu[@]}" < /dev/null 2>&1 | tee "$serial"
qrc=${PIPESTATUS[0]}
set -e
log "guest ran $(($(date +%s) - t_boot)) s (qemu exit status $qrc), serial log $serial"
if [ "$qrc" = 124 ]; then
	echo "qemu-run: FAIL: the guest ran past ${vm_timeout} s" >&2
	exit 1
fi
result=$(tr -d '\r' < "$serial" | grep -a '^DSLAB_QEMU_RESULT=' | tail -1 || true)
if [ "$result" = DSLAB_QEMU_RESULT=PASS ]; then
	log "PASS (total $(($(date +%s) - t_start)) s)"
	exit 0
fi
echo "qemu-run: FAIL: ${result:-no result line from the guest}" >&2
exit 1
