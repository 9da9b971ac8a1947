#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run rtmem's test suites and demo on real arm64 kernels under
# qemu-system-aarch64 (TCG) from an x86_64 Debian 12 machine.
#
#   tests/arm64/run.sh [--kernels LIST] [--jobs N] [options]
#
# 1. installs the host packages it needs (apt-get, --no-install-recommends),
# 2. cross-compiles the library, every suite and the examples as static
#    aarch64 binaries (cmake/toolchain-aarch64.cmake),
# 3. fetches and caches the kernels (Debian packages; 6.12 with 64K pages is
#    built once from linux-source-6.12, see build-kernel-64k.sh),
# 4. packs a busybox initramfs with the binaries and ./init,
# 5. boots each kernel with 2 NUMA nodes and a swap disk,
# 6. reads the console: pass/fail per binary, and a summary table.
# With --packages DIR (the arm64 .debs of .ci/package --arch arm64), each
# guest also gets the packages unpacked at / with the dynamic loader and the
# shared libraries they need, and runs consumers built against the -dev
# package (pkg-config and find_package, C and C++), the packaged rtmem
# doctor and rtmem run; --packages-only runs just those.
# Exits non-zero when any run fails, times out, lacks its result marker or
# cannot get its kernel. See tests/arm64/README.md and docs/arm64.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${RTMEM_ARM64_CACHE:-/var/cache/rtmem-arm64}
out=$top/build-arm64
kernels=all
jobs=1
test_timeout=300
run_timeout=1200
slowdown=10
install=1
capture_fixtures=0
verbose=0
refresh=0
packages=
packages_only=0
tests=
repeat=1

# run name | kernel | kernel command line extra | fixture directory | guest
# memory in GiB, split over 2 NUMA nodes (64K pages: a 512 MiB THP needs room).
# 5.10 and 6.1 run the memory controller on cgroup v1 (the only version whose
# OOM killer can be switched off, which the MAP_LOCKED population test needs);
# Debian's 6.12 kernels have no cgroup v1 memory controller, so those run v2.
RUNS=(
	"5.10-rt|5.10-rt|rtmem.cgroup=1|arm64-5.10|2"
	"6.1|6.1|rtmem.cgroup=1|arm64-6.1|2"
	"6.12-4k|6.12-4k||arm64-6.12|2"
	"6.12-16k|6.12-16k||arm64-6.12-16k|2"
	"6.12-64k|6.12-64k||arm64-6.12-64k|8"
	"6.12-4k-nothp|6.12-4k|transparent_hugepage=never||2"
)
# kernel | apt source | meta package (resolved with apt-cache depends)
KERNELS=(
	"5.10-rt|bullseye|linux-image-rt-arm64"
	"6.1|host|linux-image-arm64"
	"6.12-4k|host|linux-image-6.12-arm64"
	"6.12-16k|host|linux-image-6.12-arm64-16k"
	"6.12-64k|build|"
)
# Modules the guest loads (with their dependencies) when not built in.
MODULES=(virtio_pci virtio_blk)

usage() {
	cat <<EOF
usage: tests/arm64/run.sh [options]
  --kernels LIST      comma-separated runs (default: all):
                      $(printf '%s ' "${RUNS[@]%%|*}")
  --jobs N            guests booted in parallel (default 1; each uses 2 vCPUs)
  --test-timeout S    per test binary inside the guest (default $test_timeout)
  --slowdown N        RTMEM_TEST_SLOWDOWN in the guests (default $slowdown): the
                      suites divide fixed counts by it and scale their waits,
                      the examples size their work by it (docs/arm64.md)
  --run-timeout S     per boot, host side (default $run_timeout)
  --out DIR           build tree, logs and captures (default build-arm64/)
  --no-install        do not apt-get install missing host packages
  --capture-fixtures  copy each run's procfs capture into tests/fixtures/procfs/
  --refresh-kernels   take the newest kernel packages even when older ones
                      are cached (default: reuse the cache; it never updates)
  --verbose           copy guest consoles to the terminal as they run (--jobs 1)
  --packages DIR      also use rtmem's arm64 .deb files from DIR in the guests:
                      unpacked at /, consumers built against librtmem-dev,
                      the packaged rtmem (.ci/package --arch arm64 makes them)
  --packages-only     with --packages: run only that, not the suites
  --tests LIST        comma-separated binaries to run in the guests (e.g.
                      test_tcache,example_audio; default: every suite, the
                      demo and the examples), to reproduce one failure fast
  --repeat N          run each binary up to N times in each guest, stopping
                      at its first failure (default 1), to catch a flake
environment: RTMEM_ARM64_CACHE (default /var/cache/rtmem-arm64): downloads,
  extracted kernels, the 64K kernel build and the arm64 sysroot.
EOF
}

while (($#)); do
	case $1 in
	--kernels) kernels=$2; shift 2 ;;
	--kernels=*) kernels=${1#*=}; shift ;;
	--jobs) jobs=$2; shift 2 ;;
	--jobs=*) jobs=${1#*=}; shift ;;
	--test-timeout) test_timeout=$2; shift 2 ;;
	--run-timeout) run_timeout=$2; shift 2 ;;
	--slowdown) slowdown=$2; shift 2 ;;
	--slowdown=*) slowdown=${1#*=}; shift ;;
	--out) out=$(realpath -m "$2"); shift 2 ;;
	--no-install) install=0; shift ;;
	--capture-fixtures) capture_fixtures=1; shift ;;
	--refresh-kernels) refresh=1; shift ;;
	--verbose) verbose=1; shift ;;
	--packages) packages=$(realpath -m "$2"); shift 2 ;;
	--packages=*) packages=$(realpath -m "${1#*=}"); shift ;;
	--packages-only) packages_only=1; shift ;;
	--tests) tests=$2; shift 2 ;;
	--repeat) repeat=$2; shift 2 ;;
	--repeat=*) repeat=${1#*=}; shift ;;
	--tests=*) tests=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --jobs needs a positive number" >&2; exit 2; }
[[ $slowdown =~ ^[1-9][0-9]{0,2}$ ]] || { echo "run.sh: --slowdown needs 1..999" >&2; exit 2; }
[[ $repeat =~ ^[1-9][0-9]{0,3}$ ]] || { echo "run.sh: --repeat needs 1..9999" >&2; exit 2; }
if ((packages_only)) && [[ -z $packages ]]; then
	echo "run.sh: --packages-only needs --packages DIR" >&2
	exit 2
fi

t0=$SECONDS
log() { printf '[arm64 %4ds] %s\n' $((SECONDS - t0)) "$*" >&2; }
die() { printf '[arm64] error: %s\n' "$*" >&2; exit 1; }
field() { local IFS='|'; read -r -a _f <<<"$1"; echo "${_f[$2]:-}"; }

selected=()
for r in "${RUNS[@]}"; do
	name=${r%%|*}
	if [[ $kernels == all || ,$kernels, == *,$name,* ]]; then selected+=("$r"); fi
done
for k in ${kernels//,/ }; do
	[[ $k == all ]] && continue
	printf '%s\n' "${RUNS[@]%%|*}" | grep -x -- "$k" >/dev/null || die "unknown run '$k' (see --help)"
done
((${#selected[@]})) || die "no run selected"

mkdir -p "$cache/debs" "$cache/kernels" "$out"
# One run at a time per cache (the caches are filled in place).
exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "waiting for another tests/arm64/run.sh using $cache"
	flock 9
fi
rm -rf "$cache"/kernels/extract.* "$cache"/build-64k.*
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rtmem-arm64.XXXXXX")
bg_pids=()
# Job control: every background job (kernel build, guest) gets its own
# process group, so an interrupted run stops them all, and only them.
set -m
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. host packages ---------------------------------------------------------

HOST_PKGS=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
	qemu-system-arm cpio xz-utils gzip flex bison bc libssl-dev make cmake pkg-config
	ca-certificates)

need_host_packages() {
	local p missing=()
	for p in "${HOST_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null ||
			missing+=("$p")
	done
	local arch_missing=0
	dpkg --print-foreign-architectures | grep -x arm64 >/dev/null || arch_missing=1
	if ((${#missing[@]} == 0 && arch_missing == 0)) &&
		apt-cache "${HOST_APT[@]}" policy busybox-static:arm64 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null; then
		return 0
	fi
	((install)) || die "missing host packages or arm64 apt lists (${missing[*]:-arm64}); rerun without --no-install, as root"
	((EUID == 0)) || die "installing host packages needs root: ${missing[*]:-dpkg --add-architecture arm64}"
	export DEBIAN_FRONTEND=noninteractive
	if ((arch_missing)); then
		log "dpkg --add-architecture arm64"
		dpkg --add-architecture arm64
	fi
	log "apt-get update"
	apt-get update -qq
	if ((${#missing[@]})); then
		log "installing ${missing[*]}"
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	fi
}

# ---- apt access: the host's lists (bookworm) and a private bullseye list ----

# The mirror the machine's own sources use for SUITE, read at run time.
mirror_of() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v s="$1" '$2 == s { print $1; exit }'
}

# apt keeps no binary package cache on this machine (Dir::Cache::pkgcache "",
# docker-clean), which costs seconds per call: keep our own.
HOST_APT=(-o APT::Sandbox::User=root -o Dir::Cache::pkgcache="$cache/apt-host/pkgcache.bin"
	-o Dir::Cache::srcpkgcache="$cache/apt-host/srcpkgcache.bin")
mkdir -p "$cache/apt-host"

BULLSEYE_APT=()
bullseye_apt() {
	local d=$cache/apt-bullseye main sec
	BULLSEYE_APT=(-o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" -o Dir::State::status=/dev/null
		-o APT::Architectures=arm64 -o APT::Sandbox::User=root
		-o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=srcpkgcache.bin)
	# Refresh the lists once a day.
	if [[ -n $(find "$d/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1) ]]; then
		return 0
	fi
	local codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	main=$(mirror_of "$codename")
	sec=$(mirror_of "$codename-security")
	[[ -n $main ]] || die "cannot read a Debian mirror for '$codename' from this machine's apt sources"
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	{
		echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $main bullseye main"
		[[ -z $sec ]] || echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $sec bullseye-security main"
	} >"$d/sources.list"
	log "apt-get update (private bullseye arm64 list)"
	apt-get "${BULLSEYE_APT[@]}" -qq update >&2 ||
		die "apt-get update of the bullseye list failed (mirror $main)"
}

# apt_for SOURCE: the apt options of that source in APT (array).
apt_for() {
	case $1 in
	host) APT=("${HOST_APT[@]}"); ARCH=":arm64" ;;
	bullseye) bullseye_apt; APT=("${BULLSEYE_APT[@]}"); ARCH="" ;;
	*) die "unknown apt source $1" ;;
	esac
}

# fetch_deb PKG[=VER]: path of the cached .deb (downloaded if missing). Uses APT.
fetch_deb() {
	local line file
	line=$(apt-get "${APT[@]}" download --print-uris "$1" 2>/dev/null | tail -n1)
	file=$(awk '{ print $2 }' <<<"$line")
	[[ -n $file ]] || return 1
	if [[ ! -s $cache/debs/$file ]]; then
		log "downloading $1"
		(cd "$cache/debs" && apt-get "${APT[@]}" -q download "$1" >&2) || return 1
	fi
	echo "$cache/debs/$file"
}

# ---- 2. sysroot and cross build --------------------------------------------

SYSROOT_PKGS=(libcunit1-dev libnuma-dev liburing-dev)

make_sysroot() {
	local debs=() p d stamp
	apt_for host
	for p in "${SYSROOT_PKGS[@]}"; do
		d=$(fetch_deb "$p:arm64") || die "cannot download $p:arm64 (is arm64 in dpkg --print-foreign-architectures and apt-get update done?)"
		debs+=("$d")
	done
	sysroot=$cache/sysroot
	stamp=$(printf '%s\n' "${debs[@]##*/}")
	if [[ -f $sysroot/.stamp && $(cat "$sysroot/.stamp") == "$stamp" ]]; then
		return 0
	fi
	log "unpacking the arm64 sysroot"
	rm -rf "$sysroot"
	mkdir -p "$sysroot"
	for d in "${debs[@]}"; do dpkg-deb -x "$d" "$sysroot"; done
	# Static-only: without the .so links, pkg-config's -lcunit finds libcunit.a.
	find "$sysroot" -name '*.so' -delete
	rm -rf "$sysroot/usr/share"
	echo "$stamp" >"$sysroot/.stamp"
}

build_ok=1
cross_build() {
	local b=$out/build
	log "cmake configure ($b)"
	if ! RTMEM_ARM64_SYSROOT=$sysroot cmake -S "$top" -B "$b" \
		-DCMAKE_TOOLCHAIN_FILE="$top/cmake/toolchain-aarch64.cmake" \
		-DCMAKE_EXE_LINKER_FLAGS=-static -DRTMEM_BUILD_SHARED=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out/cmake.log" 2>&1; then
		cat "$out/cmake.log" >&2
		die "cmake configure failed for arm64 (log: $out/cmake.log)"
	fi
	log "cross-compiling (log: $out/build.log)"
	# Relink every program: after a failed build no stale binary may run.
	find "$b/tests" "$b/examples" -maxdepth 2 -type f \( -name 'test_*' -o -name quickstart \
		-o -name robotics -o -name audio -o -name trading -o -name tracker \) \
		-perm -u+x -delete 2>/dev/null || true
	if ! cmake --build "$b" -j"$(nproc)" -- -k >"$out/build.log" 2>&1; then
		grep -E 'error|Error' "$out/build.log" | head -n 20 >&2 || true
		log "BUILD FAILED: some targets did not build; running those that did (log: $out/build.log)"
		build_ok=0
	fi
	if grep -q 'warning:' "$out/build.log"; then
		log "$(grep -c 'warning:' "$out/build.log") compiler warnings for arm64, see $out/build.log"
	fi
	log "capture helper"
	aarch64-linux-gnu-gcc -std=gnu11 -O2 -Wall -Wextra -static -o "$b/capture" \
		"$here/capture.c" || die "cannot build tests/arm64/capture.c"
}

# ---- 2b. rtmem's packages (--packages) -------------------------------------------

# Shared libraries the packaged binaries and the consumers load in the
# guest, and the -dev packages the consumers build against, from Debian.
PKG_RUNTIME=(libc6 libgcc-s1 libstdc++6 liburing2)
PKG_DEVEL=(liburing-dev liburing2)

# make_pkg: $tmp/pkgrun (unpacked at the guest's /) with the consumers in
# rtmem/pkg/ and rtmem/pkg/tests (one "NAME COMMAND" line per check the
# guest's init runs).
make_pkg() {
	local dev=$tmp/pkgdev run=$tmp/pkgrun b=$tmp/pkgbuild p f deb flags
	local ml=usr/lib/aarch64-linux-gnu
	apt_for host
	rm -rf "$dev" "$run" "$b"
	mkdir -p "$dev" "$run/rtmem/pkg" "$b"
	for p in librtmem0 librtmem-dev rtmem; do
		f=$(ls "$packages"/${p}_*_arm64.deb 2>/dev/null | head -n1)
		[[ -n $f ]] || die "--packages $packages: no ${p}_*_arm64.deb (.ci/package --arch arm64 builds them)"
		log "package: $(basename "$f")"
		[[ $p == rtmem ]] || dpkg-deb -x "$f" "$dev"
		[[ $p == librtmem-dev ]] || dpkg-deb -x "$f" "$run"
	done
	for p in "${PKG_DEVEL[@]}"; do
		deb=$(fetch_deb "$p:arm64") || die "cannot download $p:arm64"
		dpkg-deb -x "$deb" "$dev"
	done
	for p in "${PKG_RUNTIME[@]}"; do
		deb=$(fetch_deb "$p:arm64") || die "cannot download $p:arm64"
		dpkg-deb -x "$deb" "$run"
	done
	rm -rf "$run/usr/share" "$run/$ml/gconv" "$run/usr/lib/aarch64-linux-gnu/audit"

	# the consumers of tests/install, built as a user cross-compiling against
	# the -dev package would: pkg-config with a sysroot, and find_package
	log "package: building the consumers against librtmem-dev (arm64)"
	local pc=(env PKG_CONFIG_SYSROOT_DIR="$dev" PKG_CONFIG_LIBDIR="$dev/$ml/pkgconfig:$dev/usr/share/pkgconfig"
		PKG_CONFIG_PATH= PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 pkg-config)
	flags=$("${pc[@]}" --cflags --libs rtmem) || die "pkg-config rtmem against the arm64 librtmem-dev failed"
	log "package: pkg-config --cflags --libs rtmem: $flags"
	aarch64-linux-gnu-gcc -std=gnu11 -Wall -Wextra -Werror -o "$b/consumer_pc" \
		"$top/tests/install/consumer.c" $flags -Wl,-rpath-link,"$dev/$ml" >"$out/pkg-build.log" 2>&1 ||
		{ cat "$out/pkg-build.log" >&2; die "the pkg-config C consumer did not build for arm64"; }
	aarch64-linux-gnu-g++ -std=c++17 -Wall -Wextra -Wshadow -pedantic -Werror -o "$b/consumer_pc_cxx" \
		"$top/tests/install/consumer_cxx.cpp" $flags -Wl,-rpath-link,"$dev/$ml" >>"$out/pkg-build.log" 2>&1 ||
		{ cat "$out/pkg-build.log" >&2; die "the pkg-config C++ consumer did not build for arm64"; }
	if ! RTMEM_ARM64_SYSROOT=$dev cmake -S "$top/tests/install" -B "$b/cm" \
		-DCMAKE_TOOLCHAIN_FILE="$top/cmake/toolchain-aarch64.cmake" -DCMAKE_SKIP_BUILD_RPATH=ON \
		-DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$dev/$ml" >>"$out/pkg-build.log" 2>&1 ||
		! cmake --build "$b/cm" >>"$out/pkg-build.log" 2>&1; then
		cat "$out/pkg-build.log" >&2
		die "the find_package(rtmem) consumers did not build for arm64"
	fi
	grep -q "rtmem_DIR:PATH=$dev/$ml/cmake/rtmem" "$b/cm/CMakeCache.txt" ||
		die "find_package(rtmem) did not take the arm64 librtmem-dev: $(grep rtmem_DIR "$b/cm/CMakeCache.txt")"
	for f in consumer_pc consumer_pc_cxx cm/consumer_cmake cm/consumer_cmake_cxx; do
		aarch64-linux-gnu-readelf -d "$b/$f" | grep -q 'NEEDED.*librtmem.so.0' ||
			die "$f is not linked against librtmem.so.0"
		aarch64-linux-gnu-strip -o "$run/rtmem/pkg/${f##*/}" "$b/$f"
	done
	# what the guest's init runs, after the suites (or alone: --packages-only)
	cat >"$run/rtmem/pkg/tests" <<'TESTS'
pkg_consumer_pc /rtmem/pkg/consumer_pc
pkg_consumer_pc_cxx /rtmem/pkg/consumer_pc_cxx
pkg_consumer_cmake /rtmem/pkg/consumer_cmake
pkg_consumer_cmake_cxx /rtmem/pkg/consumer_cmake_cxx
pkg_rtmem_doctor /usr/bin/rtmem doctor; rc=$?; echo "rtmem doctor exited $rc (0 or 1: it ran)"; [ $rc -le 1 ]
pkg_rtmem_run r=$(/usr/bin/rtmem run --report -- /rtmem/pkg/consumer_pc 2>&1); rc=$?; echo "$r"; [ $rc = 0 ] && case $r in *"0 violations: OK"*) true ;; *) false ;; esac
TESTS
	PKG_TESTS=()
	while read -r f _; do PKG_TESTS+=("$f"); done <"$run/rtmem/pkg/tests"
	log "package: $(du -sh "$run" | cut -f1) unpacked for the guests (packages, loader, libraries, consumers)"
}

# ---- 3. kernels -------------------------------------------------------------

# copy_modules MODDIR DEST: the MODULES and their dependencies that are not
# built in, decompressed, with DEST/order listing them dependencies first.
copy_modules() {
	local moddir=$1 dest=$2 done_=" "
	mkdir -p "$dest"
	: >"$dest/order"
	add_module() {
		local m=$1 alt=${1//_/-} f deps d
		[[ $done_ == *" $m "* ]] && return 0
		done_+="$m "
		if grep -qE "/($m|$alt)\.ko$" "$moddir/modules.builtin" 2>/dev/null; then return 0; fi
		f=$(find "$moddir/kernel" \( -name "$m.ko*" -o -name "$alt.ko*" \) | head -n1)
		[[ -n $f ]] || die "module $m is neither built in nor shipped in $moddir"
		case $f in
		*.ko.xz) xz -dc "$f" >"$dest/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$dest/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$dest/$m.ko" ;;
		*) cp "$f" "$dest/$m.ko" ;;
		esac
		deps=$(aarch64-linux-gnu-objcopy -O binary --only-section=.modinfo "$dest/$m.ko" /dev/stdout |
			tr '\0' '\n' | sed -n 's/^depends=//p')
		for d in ${deps//,/ }; do add_module "${d//-/_}"; done
		echo "$m" >>"$dest/order"
	}
	local m
	for m in "${MODULES[@]}"; do add_module "$m"; done
}

# fetch_kernel NAME: sets KDIR to a directory holding vmlinuz and modules/.
fetch_kernel() {
	local name=$1 spec src meta deb x kver
	spec=$(printf '%s\n' "${KERNELS[@]}" | grep "^$name|")
	src=$(field "$spec" 1)
	meta=$(field "$spec" 2)
	apt_for "$src"
	# Every version of the meta package, newest first, with the image it
	# depends on; prefer a kernel already cached, then the first that downloads.
	local cands=()
	mapfile -t cands < <(apt-cache "${APT[@]}" show "$meta$ARCH" 2>/dev/null | awk '
		/^Version: / { v = $2 }
		/^Depends: / { if (match($0, /linux-image-[^ ,:]+/)) d = substr($0, RSTART, RLENGTH) }
		/^$/ { if (v != "" && d != "") print d "=" v; v = d = "" }
		END { if (v != "" && d != "") print d "=" v }' | sort -t= -k2 -rV)
	((${#cands[@]})) || die "kernel $name: apt knows no $meta$ARCH ($src); apt-get update?"
	for x in "${cands[@]}"; do
		((refresh)) && break
		if [[ -s $cache/kernels/$name/${x%%=*}/vmlinuz ]]; then
			KDIR=$cache/kernels/$name/${x%%=*}
			return 0
		fi
	done
	for x in "${cands[@]}"; do
		if deb=$(fetch_deb "${x%%=*}$ARCH=${x#*=}"); then
			break
		fi
		log "kernel $name: ${x%%=*} (${x#*=}) did not download, trying an older one"
		deb=
	done
	[[ -n $deb ]] || die "kernel $name: could not download any of: ${cands[*]} (from $src)"
	KDIR=$cache/kernels/$name/$(basename "$deb" | cut -d_ -f1)
	if [[ -s $KDIR/vmlinuz && $(sed -n 's/^package=//p' "$KDIR/info" 2>/dev/null) == "$(basename "$deb")" ]]; then
		return 0
	fi
	log "kernel $name: extracting $(basename "$deb")"
	x=$(mktemp -d "$cache/kernels/extract.XXXXXX")
	dpkg-deb -x "$deb" "$x"
	kver=$(ls "$x/lib/modules")
	rm -rf "$KDIR.tmp"
	mkdir -p "$KDIR.tmp"
	cp "$x"/boot/vmlinuz-* "$KDIR.tmp/vmlinuz"
	cp "$x"/boot/config-* "$KDIR.tmp/config"
	copy_modules "$x/lib/modules/$kver" "$KDIR.tmp/modules"
	printf 'package=%s\nrelease=%s\n' "$(basename "$deb")" "$kver" >"$KDIR.tmp/info"
	rm -rf "$x" "$KDIR"
	mv "$KDIR.tmp" "$KDIR"
	# Keep the extracted kernel only: drop the .deb and older versions.
	rm -f "$deb"
	find "$cache/kernels/$name" -mindepth 1 -maxdepth 1 ! -name "${KDIR##*/}" -exec rm -rf {} +
}

# ---- 4. initramfs -------------------------------------------------------------

make_base_cpio() {
	local r=$tmp/root b=$out/build t deb
	apt_for host
	deb=$(fetch_deb busybox-static:arm64) || die "cannot download busybox-static:arm64"
	rm -rf "$r"
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,modules,rtmem/bin}
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./bin/busybox >"$r/bin/busybox"
	chmod 755 "$r/bin/busybox"
	install -m 755 "$here/init" "$r/init"
	if ((EUID == 0)); then mknod -m 600 "$r/dev/console" c 5 1; fi
	BINARIES=()
	if ((packages_only)); then
		cp -a "$tmp/pkgrun/." "$r/"
		BINARIES+=("${PKG_TESTS[@]}")
		(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/base.cpio.gz"
		log "initramfs: the packages and ${#PKG_TESTS[@]} checks ($(du -h "$tmp/base.cpio.gz" | cut -f1) compressed)"
		return 0
	fi
	# the examples run in their short mode, as example_NAME (init passes --short)
	for t in "$b"/tests/test_* "$b/examples/quickstart" "$b"/examples/{robotics,audio,trading,tracker} \
		"$b/capture"; do
		[[ -f $t && -x $t ]] || continue
		name=${t##*/}
		case $name in robotics | audio | trading | tracker) name=example_$name ;; esac
		aarch64-linux-gnu-strip -o "$r/rtmem/bin/$name" "$t"
		[[ $name == capture ]] || BINARIES+=("$name")
	done
	((${#BINARIES[@]})) || die "no test binary was built (see $out/build.log)"
	# the rtmem command, next to the suites (test_cli finds it there)
	[[ -x $b/rtmem ]] || die "the rtmem command was not built (see $out/build.log)"
	aarch64-linux-gnu-strip -o "$r/rtmem/bin/rtmem" "$b/rtmem"
	cp -r "$top/tests/fixtures" "$r/rtmem/fixtures"
	if [[ -n $packages ]]; then
		cp -a "$tmp/pkgrun/." "$r/"
		BINARIES+=("${PKG_TESTS[@]}")
	fi
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/base.cpio.gz"
	log "initramfs: ${#BINARIES[@]} binaries ($(du -h "$tmp/base.cpio.gz" | cut -f1) compressed)"
}

# The base archive, then the kernel's modules (Linux unpacks both in order).
make_initrd() { # kernel-dir dest
	local m=$tmp/mods-$$-$RANDOM
	mkdir -p "$m/modules"
	if [[ -d $1/modules ]]; then cp "$1"/modules/* "$m/modules/"; fi
	cat "$tmp/base.cpio.gz" >"$2"
	(cd "$m" && find . | cpio -o -H newc --quiet | gzip -1) >>"$2"
	rm -rf "$m"
}

# ---- 5. boot, 6. parse ---------------------------------------------------------

# boot_run SPEC: boots one run; writes $out/runs/NAME/{console.log,result,capture/}.
boot_run() {
	local spec=$1 name kernel extra mem dir kdir image st rc secs
	name=$(field "$spec" 0)
	kernel=$(field "$spec" 1)
	extra=$(field "$spec" 2)
	mem=$(field "$spec" 4)
	dir=$out/runs/$name
	rm -rf "$dir"
	mkdir -p "$dir"
	kdir=$(cat "$tmp/kdir-$kernel")
	image=$kdir/vmlinuz
	[[ -f $image ]] || image=$kdir/Image
	make_initrd "$kdir" "$dir/initrd.cpio.gz"
	local disks=$tmp/disks-$name
	mkdir -p "$disks"
	truncate -s 512M "$disks/swap.img"
	truncate -s 64M "$disks/results.img"
	local qemu=(qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg,thread=multi
		-smp 2 -m "${mem}G" -nographic -nic none -no-reboot
		-object memory-backend-ram,id=m0,size=$((mem * 512))M
		-object memory-backend-ram,id=m1,size=$((mem * 512))M
		-numa node,memdev=m0,cpus=0 -numa node,memdev=m1,cpus=1
		-drive file="$disks/swap.img",if=virtio,format=raw
		-drive file="$disks/results.img",if=virtio,format=raw
		-kernel "$image" -initrd "$dir/initrd.cpio.gz"
		-append "console=ttyAMA0 panic=-1 loglevel=4 rtmem.run=$name rtmem.timeout=$test_timeout rtmem.slowdown=$slowdown${only:+ rtmem.only=$only}${tests:+ rtmem.tests=$tests} rtmem.repeat=$repeat $extra")
	printf '%q ' "${qemu[@]}" >"$dir/qemu.cmd"
	st=$SECONDS
	set +e
	if ((verbose)); then
		timeout -k 10 "$run_timeout" "${qemu[@]}" </dev/null 2>&1 | tee "$dir/console.log"
		rc=${PIPESTATUS[0]}
	else
		timeout -k 10 "$run_timeout" "${qemu[@]}" </dev/null >"$dir/console.log" 2>&1
		rc=$?
	fi
	set -e
	secs=$((SECONDS - st))
	mkdir -p "$dir/results"
	tar -xf "$disks/results.img" -C "$dir/results" 2>/dev/null || true
	rm -rf "$disks"
	rm -f "$dir/initrd.cpio.gz"
	tr -d '\r' <"$dir/console.log" >"$dir/console.txt"
	parse_run "$name" "$rc" "$secs" >"$dir/result"
}

# parse_run NAME QEMU-RC SECONDS: one line of key=value for the summary, and
# per-binary lines "bin NAME STATUS RC SECONDS RESULT", each failed binary followed
# by "failtest TEST NAME" lines for its failed CUnit tests (one that never
# finished says so), each followed by "failat FILE:LINE - ASSERTION".
parse_run() {
	local name=$1 qrc=$2 secs=$3 c=$out/runs/$1/console.txt status=ok why="" b line rc res
	local passed=0 failed=0 skipped=0 bfail=0 bpass=0 bskip=0 p f s
	local marker
	marker=$(grep -o 'RTMEM-ARM64-RESULT failures=[0-9]*' "$c" | tail -n1 || true)
	if ((qrc == 124 || qrc == 137)); then
		status=FAIL why="timed out after ${secs}s"
	elif [[ -z $marker ]]; then
		status=FAIL why="no RTMEM-ARM64-RESULT marker (qemu exit $qrc; kernel panic or init died?)"
	elif [[ ${marker#*=} != 0 ]]; then
		status=FAIL why="guest reported ${marker#*=} failures"
	fi
	if grep -q 'RTMEM-ARM64-SETUP-FAIL' "$c"; then
		status=FAIL
		why="${why:+$why; }$(grep -o 'RTMEM-ARM64-SETUP-FAIL.*' "$c" | sed 's/RTMEM-ARM64-SETUP-FAIL //' | paste -sd';' -)"
	fi
	for b in "${BINARIES[@]}"; do
		[[ -z $tests || ,$tests, == *,$b,* ]] || continue   # not asked for (--tests)
		line=$(grep -o "RTMEM-ARM64-TEST name=$b rc=.*" "$c" | tail -n1 || true)
		if [[ -z $line ]]; then
			echo "bin $b MISSING - - -"
			bfail=$((bfail + 1))
			[[ $status == FAIL ]] || { status=FAIL; why="$b did not report"; }
			continue
		fi
		rc=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$line")
		local bs
		bs=$(sed -n 's/.* seconds=\([0-9]*\).*/\1/p' <<<"$line")
		res=$(sed -n 's/.* result=//p' <<<"$line")
		if [[ $res =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
			p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
			passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
		fi
		case $rc in
		0) bpass=$((bpass + 1)); echo "bin $b pass $rc $bs ${res:--}" ;;
		77) bskip=$((bskip + 1)); echo "bin $b skip $rc $bs ${res:--}" ;;
		*) bfail=$((bfail + 1)); echo "bin $b FAIL $rc $bs ${res:--}"
		   # the CUnit tests that failed, from this binary's part of the
		   # console, each with its first failed assertion; a test that
		   # never finished (killed by the timeout, or crashed) too
		   sed -n "/RTMEM-ARM64-BEGIN $b\$/,/RTMEM-ARM64-TEST name=$b /p" "$c" |
			awk '/^  Test: / { t = $0; sub(/^  Test: /, "", t); sub(/ \.\.\..*/, "", t); fin = 0 }
			     /passed$/ { fin = 1 }
			     /FAILED$/ && t != "" { print "failtest " t; t = ""; fin = 1; grab = 1; next }
			     grab && /^    [0-9]+\. / { a = $0; sub(/^ +[0-9]+\. +/, "", a); print "failat " a; grab = 0 }
			     /child check failed: / { a = $0; sub(/^.*\/tests\//, "tests/", a); print "failat " a }
			     /steady-state page faults of .*should be 0|meanwhile, system-wide/ { a = $0; sub(/^ +/, "", a); print "failat " a }
			     /: VERDICT: FAIL/ { v = $0; sub(/.*: VERDICT: FAIL: */, "", v); print "failtest " v }
			     END { if (t != "" && !fin) print "failtest " t " (did not finish: timed out or crashed)" }' ;;
		esac
	done
	local release page thp
	release=$(sed -n 's/.*RTMEM-ARM64-FACT release=//p;T;q' "$c")
	page=$(sed -n 's/.*RTMEM-ARM64-FACT page_size=//p;T;q' "$c")
	thp=$(sed -n 's/.*RTMEM-ARM64-FACT thp=//p;T;q' "$c")
	echo "run status=$status seconds=$secs release=${release:-?} page=${page:-?} thp=${thp:-?}" \
		"bins_passed=$bpass bins_failed=$bfail bins_skipped=$bskip" \
		"tests_passed=$passed tests_failed=$failed tests_skipped=$skipped why=$why"
}

# ---- main -------------------------------------------------------------------

need_host_packages
make_sysroot

# The 64K kernel builds in the background while the rest proceeds.
declare -A kernel_pid=()
for r in "${selected[@]}"; do
	k=$(field "$r" 1)
	[[ -e $tmp/kdir-$k || -n ${kernel_pid[$k]:-} ]] && continue
	if [[ $k == 6.12-64k ]]; then
		log "kernel 6.12-64k: build-kernel-64k.sh (cached after the first build)"
		"$here/build-kernel-64k.sh" "$cache" "$(nproc)" >"$tmp/kimage-$k" 2>"$out/kernel-64k.log" &
		kernel_pid[$k]=$!
		bg_pids+=($!)
	elif (fetch_kernel "$k" && echo "$KDIR" >"$tmp/kdir-$k") 2> >(tee "$tmp/kerr-$k" >&2); then
		log "kernel $k: $(cat "$tmp/kdir-$k")"
	else
		log "kernel $k: NOT AVAILABLE, its runs fail"
	fi
done

if [[ -n $packages ]]; then make_pkg; fi
if ((packages_only)); then only=pkg; else only=; cross_build; fi
make_base_cpio

# wait_kernel KERNEL: 0 when its directory is known (after its build).
wait_kernel() {
	local k=$1
	if [[ -n ${kernel_pid[$k]:-} ]]; then
		if wait "${kernel_pid[$k]}" && [[ -s $tmp/kimage-$k ]]; then
			dirname "$(cat "$tmp/kimage-$k")" >"$tmp/kdir-$k"
			log "kernel $k: $(cat "$tmp/kdir-$k")"
		else
			tail -n 20 "$out/kernel-64k.log" >&2
			echo "kernel build failed, log: $out/kernel-64k.log" >"$tmp/kerr-$k"
			log "kernel $k: BUILD FAILED (log: $out/kernel-64k.log), its runs fail"
		fi
		unset "kernel_pid[$k]"
	fi
	[[ -s $tmp/kdir-$k ]]
}

# fail_run SPEC WHY: the result of a run that could not boot.
fail_run() {
	local dir=$out/runs/$(field "$1" 0)
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "run status=FAIL seconds=0 release=? page=? thp=? bins_passed=0 bins_failed=0" \
		"bins_skipped=0 tests_passed=0 tests_failed=0 tests_skipped=0 why=$2" >"$dir/result"
}

# Runs whose kernel is still building go last.
ordered=()
for r in "${selected[@]}"; do [[ -z ${kernel_pid[$(field "$r" 1)]:-} ]] && ordered+=("$r"); done
for r in "${selected[@]}"; do [[ -n ${kernel_pid[$(field "$r" 1)]:-} ]] && ordered+=("$r"); done

log "booting ${#ordered[@]} runs, $jobs at a time"
declare -A live=()
for r in "${ordered[@]}"; do
	k=$(field "$r" 1)
	if ! wait_kernel "$k"; then
		fail_run "$r" "$(tail -n1 "$tmp/kerr-$k" 2>/dev/null | sed 's/^\[[^]]*\] error: //')"
		continue
	fi
	while ((${#live[@]} >= jobs)); do
		fin=
		wait -n -p fin "${!live[@]}" || true
		[[ -n $fin ]] || break
		unset "live[$fin]"
	done
	log "run $(field "$r" 0): booting"
	(boot_run "$r"; log "run $(field "$r" 0): $(grep '^run ' "$out/runs/$(field "$r" 0)/result" | cut -d' ' -f2-3)") &
	live[$!]=1
	bg_pids+=($!)
done
wait || true

# ---- summary ------------------------------------------------------------------

fail=0
printf '\n%-15s %-34s %-6s %-8s %-13s %-17s %5s  %s\n' run kernel page THP binaries tests seconds status
for r in "${selected[@]}"; do
	name=$(field "$r" 0)
	res=$out/runs/$name/result
	if [[ ! -s $res ]]; then
		printf '%-15s %s\n' "$name" "FAIL: no result (the run did not complete)"
		fail=1
		continue
	fi
	line=$(grep '^run ' "$res")
	declare -A kv=()
	head=${line%% why=*}
	for w in ${head#run }; do kv[${w%%=*}]=${w#*=}; done
	why=${line#* why=}
	printf '%-15s %-34s %-6s %-8s %-13s %-17s %5s  %s\n' "$name" "${kv[release]}" "${kv[page]}" "${kv[thp]}" \
		"${kv[bins_passed]}ok/${kv[bins_failed]}F/${kv[bins_skipped]}S" \
		"${kv[tests_passed]}p/${kv[tests_failed]}f/${kv[tests_skipped]}s" "${kv[seconds]}" \
		"${kv[status]}${why:+ ($why)}"
	[[ ${kv[status]} == ok ]] || fail=1
	while read -r kind b st brc bs bres; do
		if [[ $kind == failtest ]]; then
			printf '        failed: %s\n' "$b${st:+ $st}${brc:+ $brc}${bs:+ $bs}${bres:+ $bres}"
			continue
		fi
		if [[ $kind == failat ]]; then
			printf '          at %s\n' "$b${st:+ $st}${brc:+ $brc}${bs:+ $bs}${bres:+ $bres}"
			continue
		fi
		[[ $st == pass ]] && continue
		printf '    %-22s %-7s rc=%-4s %4ss  %s\n' "$b" "$st" "$brc" "$bs" "$bres"
	done < <(grep -E '^(bin|failtest|failat) ' "$res")
	unset kv
done
((build_ok)) || { echo "the arm64 cross build FAILED for some targets (see $out/build.log)"; fail=1; }

# README of a captured fixture directory, from the capture's facts.
fixture_readme() {
	local off
	off=$(sed -n 's/^file_mapping_offset=//p' "$1")
	echo "Captured by tests/arm64/run.sh --capture-fixtures: tests/arm64/capture.c ran the"
	echo "scenario in ../README in a qemu-system-aarch64 guest. What the guest kernel showed:"
	echo
	sed 's/^/  /' "$1"
	if [[ $off != 0x100000 ]]; then
		echo
		echo "The file mapping is at base + $off and the deleted file at twice that"
		echo "offset: 20 pages of this size do not fit below base + 1 MiB (capture.c"
		echo "puts the file mapping at base + max(1 MiB, 32 pages))."
	fi
}

if ((capture_fixtures)); then
	for r in "${selected[@]}"; do
		name=$(field "$r" 0)
		fx=$(field "$r" 3)
		cap=$out/runs/$name/results/capture
		[[ -n $fx ]] || continue
		if [[ -s $cap/smaps ]]; then
			mkdir -p "$top/tests/fixtures/procfs/$fx"
			cp "$cap"/{smaps,maps,status,meminfo} "$top/tests/fixtures/procfs/$fx/"
			fixture_readme "$cap/facts" >"$top/tests/fixtures/procfs/$fx/README"
			echo "captured $name into tests/fixtures/procfs/$fx/"
		else
			echo "no capture from $name"
			fail=1
		fi
	done
fi
echo "logs: $out/runs/<run>/console.txt; total $((SECONDS - t0)) s"
exit $fail
