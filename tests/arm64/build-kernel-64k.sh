#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build an arm64 Linux 6.12 Image with 64K pages from Debian's linux-source-6.12
# and the config fragment next to this script, once: the Image is cached under
#   CACHE/kernels/6.12-64k/<source version>-<fragment hash>/Image
# and reused while neither changes. Prints the Image's path on stdout (all
# progress goes to stderr and to build.log next to the Image).
#
# usage: build-kernel-64k.sh CACHE_DIR [JOBS]
set -euo pipefail

cache=${1:?usage: build-kernel-64k.sh CACHE_DIR [JOBS]}
jobs=${2:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/kernel-64k.config
pkg=linux-source-6.12

log() { printf '[64k] %s\n' "$*" >&2; }
die() { printf '[64k] error: %s\n' "$*" >&2; exit 1; }

# Our own binary package cache: this machine's apt keeps none (docker-clean).
mkdir -p "$cache/apt-host"
apt=(-o APT::Sandbox::User=root -o Dir::Cache::pkgcache="$cache/apt-host/pkgcache.bin"
	-o Dir::Cache::srcpkgcache="$cache/apt-host/srcpkgcache.bin")
ver=$(apt-cache "${apt[@]}" policy "$pkg" | awk '/Candidate:/ { print $2 }')
[[ -n $ver && $ver != "(none)" ]] ||
	die "apt knows no $pkg; run 'apt-get update' (bookworm-security must be in the sources)"
# Comments do not count: the key hashes the CONFIG_ lines only.
hash=$(grep "^CONFIG_" "$fragment" | sha256sum | cut -c1-12)
dest=$cache/kernels/6.12-64k/$ver-$hash
if [[ -s $dest/Image ]]; then
	log "cached: $dest/Image"
	echo "$dest/Image"
	exit 0
fi

mkdir -p "$cache/debs" "$dest"
deb=$(ls "$cache"/debs/"${pkg}_${ver//:/%3a}"_all.deb 2>/dev/null || true)
if [[ -z $deb ]]; then
	log "downloading $pkg $ver"
	(cd "$cache/debs" && apt-get -q "${apt[@]}" download "$pkg=$ver" >&2) ||
		die "could not download $pkg=$ver"
	deb=$(ls "$cache"/debs/"${pkg}_${ver//:/%3a}"_all.deb)
fi

work=$(mktemp -d "$cache/build-64k.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking $deb"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './usr/src/linux-source-*.tar.xz'
tar -xJf "$work"/usr/src/linux-source-*.tar.xz -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
[[ -d $src ]] || die "no source tree in $deb"
rm -f "$work"/usr/src/linux-source-*.tar.xz

mk=(make -C "$src" O="$work/out" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -s)
log "allnoconfig + $fragment"
# KCONFIG_ALLCONFIG: allnoconfig with the fragment's values forced.
"${mk[@]}" KCONFIG_ALLCONFIG="$fragment" allnoconfig >&2
"${mk[@]}" olddefconfig >&2
missing=0
while IFS= read -r line; do
	[[ $line =~ ^CONFIG_ ]] || continue
	if ! grep -qx -- "$line" "$work/out/.config"; then
		log "fragment line not in the final .config (a dependency is missing): $line"
		missing=1
	fi
done <"$fragment"
((missing == 0)) || die "fix $fragment"

log "make -j$jobs Image (about 6 minutes on 2 cores)"
start=$SECONDS
if ! "${mk[@]}" -j"$jobs" Image >"$dest/build.log" 2>&1; then
	tail -n 30 "$dest/build.log" >&2
	die "kernel build failed, log: $dest/build.log"
fi
cp "$work/out/arch/arm64/boot/Image" "$dest/Image.tmp"
cp "$work/out/.config" "$dest/config"
mv "$dest/Image.tmp" "$dest/Image"
# Older builds (another source version or fragment) are not needed any more.
find "$cache/kernels/6.12-64k" -mindepth 1 -maxdepth 1 ! -name "${dest##*/}" -exec rm -rf {} +
find "$cache/debs" -name "${pkg}_*_all.deb" ! -name "${deb##*/}" -delete
log "built in $((SECONDS - start)) s: $dest/Image"
echo "$dest/Image"
