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
#   <test>-numa          each GoogleTest binary of the build (dslab_core_test,
#                        dslab_nolock_test...), relinked from meson's own
#                        objects with test/qemu/numa_shim.cpp, which rewrites
#                        the EAL arguments test/test_main.cpp hard-codes
#                        (--no-huge, --lcores) and drops its DSLAB_TOPOLOGY.
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
#   DSLAB_QEMU_ACCEL      auto (default: kvm if /dev/kvm opens and the guest's
#                         /init speaks within DSLAB_QEMU_KVM_PROBE seconds,
#                         default 60; else tcg), kvm or tcg
#   DSLAB_QEMU_TIMEOUT    seconds the guest may run (default 1200)
#   DSLAB_QEMU_NODE_MEM   memory of each of the two nodes, in GiB (default 2G)
#   DSLAB_QEMU_HUGEPAGES  2 MiB hugepages reserved per node (default 512: the
#                         kmalloc tests hold well over 256 MiB of a socket)
#   DSLAB_QEMU_MARCH      -march of the build (default x86-64-v2: the emulated
#                         CPU has no AVX-512)
#   DSLAB_QEMU_KERNEL     a vmlinuz to boot instead of the Debian package's
#   DSLAB_QEMU_GTESTS     GoogleTest binaries of the build to relink and run on
#                         the real topology (default: every executable named
#                         dslab_*_test in test/meson.build but dslab_rcu_test)
#   DSLAB_QEMU_RCU_TEST   1: include dslab_rcu_test in the default list
#   DSLAB_QEMU_GTEST_FILTER   --gtest_filter of those runs (default *)
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
# The GoogleTest binaries test/meson.build defines (dslab_rcu_test only on
# request: 45 s on a host core, about 90 s in TCG).
all_gtests=$(grep -o "executable('dslab_[A-Za-z0-9_]*_test'" "$src/test/meson.build" | cut -d"'" -f2 || true)
if [ "${DSLAB_QEMU_RCU_TEST:-0}" != 1 ]; then
	all_gtests=$(echo "$all_gtests" | grep -vx dslab_rcu_test || true)
fi
gtests=${DSLAB_QEMU_GTESTS:-$(echo "$all_gtests" | tr '\n' ' ')}
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
progs=("$bin/numa_placement_test")
# The GoogleTest binaries, relinked from the objects meson compiled for them
# (test_main.cpp.o included) with numa_shim.cpp wrapped around rte_eal_init()
# and setenv(): hugepages, lcores 0-3 on CPUs 0-3, no DSLAB_TOPOLOGY.
log "compiling numa_shim.cpp"
g++ "${cxxflags[@]}" -c "$here/numa_shim.cpp" -o "$bin/numa_shim.o"
gtest_lines=
for t in $gtests; do
	[ -d "$build/test/$t.p" ] || { echo "qemu-run: no $build/test/$t.p: not a test of this build" >&2; exit 1; }
	log "relinking $t as $t-numa"
	g++ "$build/test/$t.p"/*.o "$bin/numa_shim.o" -Wl,--wrap=rte_eal_init -Wl,--wrap=setenv \
		-o "$bin/$t-numa" $(pkg-config --libs gtest) "${ldflags[@]}"
	progs+=("$bin/$t-numa")
	gtest_lines+="run $t-numa /opt/dslab/$t-numa --gtest_filter='$gtest_filter'"$'\n'
done
[ "$core_test" != 1 ] || progs+=("$build/test/dslab_core_test")

# No AVX-512 in what we built (the emulated CPU would raise SIGILL; DPDK's own
# libraries choose their code paths at run time).
for f in "${progs[@]}" $(find "$build/src" -maxdepth 1 -type f -name "libdslab.so.*"); do
	n=$(objdump -d --no-show-raw-insn "$f" | grep -c '%zmm\|%k[0-7]\b' || true)
	if [ "$n" != 0 ]; then
		echo "qemu-run: $f uses AVX-512 ($n instructions): build with a portable -march" >&2
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
$gtest_lines$core_line
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
serial=$work/serial.log
qemu=(qemu-system-x86_64 -machine q35 -cpu max
	-smp 4,sockets=2,cores=2,threads=1 -m "$((2 * ${node_mem%G}))G"
	-object memory-backend-ram,id=m0,size="$node_mem" -object memory-backend-ram,id=m1,size="$node_mem"
	-numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init"
	-nographic -no-reboot -nic none)

# Boot with accelerator $1, the serial console going to $serial and to
# stdout; qrc: qemu's exit status. With $2, a guest whose /init has not
# spoken within $2 seconds is killed and the function returns 1 (a /dev/kvm
# that opens but runs nothing: nested KVM on some hosts hangs right after
# the kernel is decompressed).
boot() {
	log "booting: ${qemu[*]} -accel $1"
	: > "$serial"
	timeout -k 10 "$vm_timeout" "${qemu[@]}" -accel "$1" < /dev/null > "$serial" 2>&1 &
	local pid=$!
	tail -n +1 -f --pid=$pid "$serial" &
	local tpid=$!
	if [ -n "${2:-}" ]; then
		local i
		for ((i = 0; i < $2; i++)); do
			grep -aq '^dslab-qemu: kernel' "$serial" && break
			kill -0 $pid 2> /dev/null || break
			sleep 1
		done
		if ! grep -aq '^dslab-qemu: kernel' "$serial"; then
			kill $pid 2> /dev/null || true
			wait $pid || true
			wait $tpid || true
			return 1
		fi
	fi
	qrc=0
	wait $pid || qrc=$?
	wait $tpid || true
}

t_boot=$(date +%s)
case $accel in
auto)
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
		boot kvm "${DSLAB_QEMU_KVM_PROBE:-60}"; then
		:
	else
		[ ! -e /dev/kvm ] || log "KVM guest silent for ${DSLAB_QEMU_KVM_PROBE:-60} s (or /dev/kvm not usable): TCG"
		t_boot=$(date +%s)
		boot tcg
	fi
	;;
kvm | tcg) boot "$accel" ;;
*) echo "qemu-run: DSLAB_QEMU_ACCEL=$accel: want auto, kvm or tcg" >&2; exit 1 ;;
esac
log "guest ran $(($(date +%s) - t_boot)) s (qemu exit status $qrc), serial log $serial"
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
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
