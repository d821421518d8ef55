# SPDX-License-Identifier: BSL-1.0
# Cross build for 64-bit Windows with Debian's MinGW-w64 (g++-mingw-w64-x86-64-posix), tests run
# under Wine. The -posix thread model is required: GCC 12's win32 model has no std::mutex, which
# GoogleTest needs.
#   cmake --preset mingw-wine            (or -DCMAKE_TOOLCHAIN_FILE=<this file>)
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(IPSEC_RETRY_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${IPSEC_RETRY_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${IPSEC_RETRY_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${IPSEC_RETRY_MINGW_TRIPLE}-windres)

# Headers, libraries and packages come from the MinGW sysroot only, never from the Linux host;
# host header-only packages are brought in one by one (cmake/ipsec_retry_cross_deps.cmake).
set(CMAKE_FIND_ROOT_PATH /usr/${IPSEC_RETRY_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Link libgcc, libstdc++ and winpthread statically so the .exe files run under Wine (or on a
# Windows machine) without hunting for the MinGW runtime DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")

# Tests and other build-time runs of target programs go through Wine. Debian's wine64 keeps the
# real 64-bit loader in /usr/lib/wine; /usr/bin/wine is a wrapper that may pick the 32-bit one.
find_program(IPSEC_RETRY_WINE64 NAMES wine64
  PATHS /usr/lib/wine /usr/lib64/wine /usr/lib/x86_64-linux-gnu/wine /opt/wine-stable/bin
  NO_CMAKE_FIND_ROOT_PATH)
if(IPSEC_RETRY_WINE64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${IPSEC_RETRY_WINE64})
endif()
