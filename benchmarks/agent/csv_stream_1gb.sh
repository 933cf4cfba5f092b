#!/bin/sh
# Streams a 1 GiB CSV file through the agent's CSV reader and the
# check-and-statistics pass, and prints throughput relative to plain block
# reads of the same file plus the reader's peak buffered bytes and the
# process's maximum resident set size (which stay flat however big the file).
#
#   benchmarks/agent/csv_stream_1gb.sh [build-dir]    # default: build
#
# Needs about 1.1 GB free in $TMPDIR (or /tmp); the file is removed at exit.
set -eu
build_dir=${1:-build}
binary="$build_dir/benchmarks/agent/tessera_data_benchmark"
if [ ! -x "$binary" ]; then
  echo "missing $binary; build it with: cmake --build $build_dir --target tessera_data_benchmark" >&2
  exit 1
fi
TESSERA_CSV_BENCH_MB=1024 exec "$binary" --benchmark_min_time=0.1
