#!/bin/sh
# Builds and runs the consumer benchmarks as a user would: install ipsec_retry into a temporary
# prefix, configure bench/consumer/ against it with find_package, build, run.
#
#   bench/consumer/run.sh                 native, Release: fast_path_bench, then deadline_lateness
#   bench/consumer/run.sh mingw-wine      MinGW-w64 cross build; deadline_lateness under wine64
#
# Environment: BUILD_TYPE (Release), CXX_FLAGS (extra flags for both builds, e.g. -O2),
# WORK (the scratch directory, default a new mktemp -d; kept afterwards), RUNS (deadline runs,
# 200), BENCH_ARGS (extra Google Benchmark flags), CPU (the core to pin the runs to, 1).
# Not part of ctest: it takes about a minute natively, several with Wine.
set -eu

mode=${1:-native}
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
build_type=${BUILD_TYPE:-Release}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/ipsec_retry_consumer.XXXXXX")}
mkdir -p "$work"
runs=${RUNS:-200}
cpu=${CPU:-1}
generator=""
command -v ninja >/dev/null 2>&1 && generator="-G Ninja"
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c $cpu"

lib_options="-DCMAKE_BUILD_TYPE=$build_type -DIPSEC_RETRY_BUILD_TESTS=OFF
  -DIPSEC_RETRY_BUILD_BENCH=OFF -DIPSEC_RETRY_BUILD_EXAMPLES=OFF -DIPSEC_RETRY_BUILD_CLI=OFF
  -DIPSEC_RETRY_INSTALL=ON"

case "$mode" in
  native)
    toolchain=""
    ;;
  mingw-wine)
    toolchain="-DCMAKE_TOOLCHAIN_FILE=$source_dir/cmake/toolchains/mingw-w64-x86_64.cmake"
    ;;
  *)
    echo "run.sh: unknown mode '$mode' (expected native or mingw-wine)" >&2
    exit 2
    ;;
esac

echo "== $mode, $build_type${CXX_FLAGS:+, CXX_FLAGS=$CXX_FLAGS}; scratch directory $work"
# shellcheck disable=SC2086  # word splitting of the option lists is intended
cmake -S "$source_dir" -B "$work/lib" $generator $toolchain $lib_options \
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS:-}" >"$work/lib-configure.log"
cmake --build "$work/lib" >"$work/lib-build.log"
cmake --install "$work/lib" --prefix "$work/prefix" >"$work/lib-install.log"

consumer_options="-DCMAKE_BUILD_TYPE=$build_type"
if [ "$mode" = mingw-wine ]; then
  # The toolchain confines find_package() to the MinGW sysroot; name the packages' directories
  # (find_package takes <Package>_DIR as given). Boost is the header-only package the cross
  # build of the library generated over the host's headers.
  libdir=$(find "$work/prefix" -name ipsec_retryConfig.cmake -exec dirname {} \;)
  consumer_options="$consumer_options -Dipsec_retry_DIR=$libdir
    -DBoost_DIR=$work/lib/cross-deps/cmake/Boost"
else
  consumer_options="$consumer_options -DCMAKE_PREFIX_PATH=$work/prefix"
fi
# shellcheck disable=SC2086
cmake -S "$here" -B "$work/consumer" $generator $toolchain $consumer_options \
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS:-}" >"$work/consumer-configure.log"
cmake --build "$work/consumer" >"$work/consumer-build.log"

if [ "$mode" = native ]; then
  if [ -x "$work/consumer/fast_path_bench" ]; then
    # shellcheck disable=SC2086
    $pin "$work/consumer/fast_path_bench" --benchmark_repetitions=5 \
      --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 ${BENCH_ARGS:-}
  fi
  "$work/consumer/deadline_lateness" "$runs"
else
  wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
  export WINEPREFIX="${WINEPREFIX:-$work/wineprefix}" WINEDEBUG=-all
  export WINEDLLOVERRIDES="mscoree,mshtml="
  "$wine" "$work/consumer/deadline_lateness.exe" "$runs"
fi
