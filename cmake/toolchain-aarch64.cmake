# SPDX-License-Identifier: MIT
# Cross-compile rtmem for arm64 Linux with Debian's aarch64-linux-gnu-gcc
# (package gcc-aarch64-linux-gnu; libc from libc6-dev-arm64-cross).
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DCMAKE_EXE_LINKER_FLAGS=-static -DRTMEM_BUILD_SHARED=OFF
#
# Third-party arm64 libraries (CUnit, libnuma, liburing) come from a sysroot:
# RTMEM_ARM64_SYSROOT (environment or -D) names a directory holding
# usr/include and usr/lib/aarch64-linux-gnu{,/pkgconfig}, such as the one
# tests/arm64/run.sh unpacks from Debian's arm64 -dev packages. Without it,
# the multiarch paths of `apt-get install libcunit1-dev:arm64` are used.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(_rtmem_triple aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${_rtmem_triple}-gcc)
# C++ (rtmem.hpp's tests, the C++ example) with the cross g++ when it is
# installed (package g++-aarch64-linux-gnu); without it they are not built.
find_program(RTMEM_AARCH64_CXX ${_rtmem_triple}-g++)
if(RTMEM_AARCH64_CXX)
  set(CMAKE_CXX_COMPILER ${RTMEM_AARCH64_CXX})
else()
  set(RTMEM_BUILD_CXX OFF)
endif()
set(CMAKE_AR ${_rtmem_triple}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_rtmem_triple}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${_rtmem_triple}-strip CACHE FILEPATH "")

if(NOT RTMEM_ARM64_SYSROOT AND DEFINED ENV{RTMEM_ARM64_SYSROOT})
  set(RTMEM_ARM64_SYSROOT "$ENV{RTMEM_ARM64_SYSROOT}")
endif()
# try_compile() projects re-read this file; hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES RTMEM_ARM64_SYSROOT)

# Search only arm64 locations for libraries and headers, host ones for programs.
set(CMAKE_FIND_ROOT_PATH /usr/${_rtmem_triple})
if(RTMEM_ARM64_SYSROOT)
  list(APPEND CMAKE_FIND_ROOT_PATH "${RTMEM_ARM64_SYSROOT}")
  # Headers and -l libraries outside pkg-config resolve from the sysroot too.
  set(CMAKE_C_FLAGS_INIT "-idirafter ${RTMEM_ARM64_SYSROOT}/usr/include")
  set(CMAKE_CXX_FLAGS_INIT "-idirafter ${RTMEM_ARM64_SYSROOT}/usr/include")
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-L${RTMEM_ARM64_SYSROOT}/usr/lib/${_rtmem_triple}")
  set(_rtmem_pc "${RTMEM_ARM64_SYSROOT}/usr/lib/${_rtmem_triple}/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${RTMEM_ARM64_SYSROOT}")
else()
  list(APPEND CMAKE_FIND_ROOT_PATH /)
  set(_rtmem_pc "/usr/lib/${_rtmem_triple}/pkgconfig")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see the arm64 .pc files, never the host's.
if(NOT DEFINED ENV{PKG_CONFIG_LIBDIR})
  set(ENV{PKG_CONFIG_LIBDIR} "${_rtmem_pc}:/usr/lib/${_rtmem_triple}/pkgconfig:/usr/share/pkgconfig")
endif()
set(ENV{PKG_CONFIG_PATH} "")
