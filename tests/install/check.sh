#!/usr/bin/env bash
# Install rtmem from BUILD into a temporary prefix, then build the consumer
# outside the tree with pkg-config (shared and static) and with
# find_package(rtmem), and run each: 0 faults after rt_lock_all.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1 | xargs dirname)
export PKG_CONFIG_PATH=$libdir/pkgconfig

echo "pkg-config: $(pkg-config --cflags --libs rtmem)"
cc -std=gnu11 -Wall -Wextra -Werror "$src/consumer.c" -o "$work/consumer_pc" $(pkg-config --cflags --libs rtmem)
LD_LIBRARY_PATH=$libdir "$work/consumer_pc"
# the shared library must not depend on LD_LIBRARY_PATH tricks beyond the prefix
readelf -d "$work/consumer_pc" | grep -q 'librtmem.so' || { echo "consumer_pc is not linked to librtmem.so"; exit 1; }

cc -std=gnu11 -Wall -Wextra -Werror -static-libgcc "$src/consumer.c" -o "$work/consumer_static" \
	$(pkg-config --cflags rtmem) "$libdir/librtmem.a" $(pkg-config --libs-only-other --static rtmem) -lpthread
"$work/consumer_static"

cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cm/consumer_cmake"

# C++: rtmem.hpp with nothing but pkg-config's flags (g++ 11 and later
# default to C++17), strictly as well, and through rtmem::rtmem
if command -v c++ >/dev/null; then
	[ -f "$prefix/include/rtmem.hpp" ] || { echo "rtmem.hpp not installed"; exit 1; }
	c++ "$src/consumer_cxx.cpp" -o "$work/consumer_cxx" $(pkg-config --cflags --libs rtmem)
	LD_LIBRARY_PATH=$libdir "$work/consumer_cxx"
	c++ -std=c++17 -Wall -Wextra -Wshadow -pedantic -Werror "$src/consumer_cxx.cpp" \
		-o "$work/consumer_cxx_strict" $(pkg-config --cflags --libs rtmem)
	[ -x "$work/cm/consumer_cmake_cxx" ] || { echo "find_package consumer: no C++ target built"; exit 1; }
	LD_LIBRARY_PATH=$libdir "$work/cm/consumer_cmake_cxx"
fi

# only public names are exported; the few internals librtmem-preload.so
# needs carry the version RTMEM_PRIVATE (not API), nothing else is visible
syms=$(nm -D --defined-only "$libdir/librtmem.so" | awk '{print $3}')
bad=$(echo "$syms" | grep -v '^rt_' | grep -v '^RTMEM_' | grep -v '^rt__.*@@RTMEM_PRIVATE$' || true)
if [ -n "$bad" ]; then echo "non-public symbols exported: $bad"; exit 1; fi
if echo "$syms" | grep -E '^(rtk_|rt__)' | grep -v '@@RTMEM_PRIVATE$'; then
	echo "internal symbols exported"; exit 1
fi
# the preload library is installed, finds librtmem.so beside it, and
# exports the glibc malloc family and nothing else
pre="$libdir/librtmem-preload.so"
[ -f "$pre" ] || { echo "librtmem-preload.so not installed"; exit 1; }
want="aligned_alloc calloc free malloc malloc_usable_size memalign posix_memalign pvalloc realloc reallocarray valloc"
got=$(nm -D --defined-only "$pre" | awk '{print $3}' | sed 's/@.*//' | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$got" != "$want" ]; then echo "librtmem-preload.so exports: $got"; exit 1; fi
if ldd "$pre" | grep -q 'librtmem.so.* => not found'; then
	echo "librtmem-preload.so cannot find librtmem.so beside it"; exit 1
fi
# the installed rtmem finds the installed preload library by itself
out=$(env -u RTMEM_PRELOAD_LIB "$prefix/bin/rtmem" run --report -- /bin/true 2>&1) ||
	{ echo "installed rtmem run failed: $out"; exit 1; }
case $out in *"0 violations: OK"*) ;; *) echo "installed rtmem run: $out"; exit 1 ;; esac
# the man pages are installed, and every name of the API has one
man=$prefix/share/man
[ -f "$man/man1/rtmem.1" ] || { echo "rtmem.1 not installed"; exit 1; }
for n in $(nm -D --defined-only "$libdir/librtmem.so" | awk '{print $3}' | sed 's/@.*//' | grep '^rt_[a-z]'); do
	[ -f "$man/man3/$n.3" ] || { echo "no man page for $n"; exit 1; }
done
if command -v groff >/dev/null; then
	for f in "$man"/man1/rtmem.1 "$man"/man3/*.3; do
		grep -q '^\.so ' "$f" && continue
		w=$(groff -man -ww -z "$f" 2>&1) || true
		[ -z "$w" ] || { echo "$f: $w"; exit 1; }
	done
fi
echo "install check: ok"
