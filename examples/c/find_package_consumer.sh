#!/usr/bin/env bash
# Installs a built libgptq into a scratch prefix and builds quantize_layer.c against it the
# way a CMake user would: find_package(gptq CONFIG REQUIRED) + gptq::gptq, with only
# CMAKE_PREFIX_PATH pointing at the prefix. The program then runs without LD_LIBRARY_PATH
# (CMake puts the imported library's directory in the build-tree RUNPATH).
#   find_package_consumer.sh <build-dir> <scratch-dir>
set -euo pipefail
build=${1:?build directory}
scratch=${2:?scratch directory}
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log"
[[ -n $(find "$prefix" -name gptqConfigVersion.cmake) ]] || { echo "no gptqConfigVersion.cmake in $prefix"; exit 1; }

# Copies only, so no path can reach back into the source tree.
cp "$here/find_package/CMakeLists.txt" "$here/quantize_layer.c" "$scratch/"
cmake -S "$scratch" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DEXAMPLE_SOURCE="$scratch/quantize_layer.c" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" \
    >"$scratch/configure.log"
cmake --build "$scratch/build" >"$scratch/build.log"
env -u LD_LIBRARY_PATH "$scratch/build/quantize_layer"

# A version this package does not satisfy must be refused by gptqConfigVersion.cmake.
mkdir -p "$scratch/too_new"
printf 'cmake_minimum_required(VERSION 3.22)\nproject(p LANGUAGES C)\nfind_package(gptq 99 CONFIG REQUIRED)\n' \
    >"$scratch/too_new/CMakeLists.txt"
if cmake -S "$scratch/too_new" -B "$scratch/too_new/build" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$scratch/too_new.log" 2>&1; then
    echo "find_package(gptq 99 CONFIG REQUIRED) accepted version 0.x"
    exit 1
fi
echo "find_package_consumer: OK ($prefix)"
