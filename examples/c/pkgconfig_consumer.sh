#!/usr/bin/env bash
# Installs a built libgptq into a scratch prefix and builds quantize_layer.c against it the
# way a user would: only `pkg-config --cflags --libs gptq`, nothing from the source tree.
# The program runs without LD_LIBRARY_PATH: gptq.pc's Libs carry an rpath to its libdir.
#   pkgconfig_consumer.sh <build-dir> <scratch-dir>
set -euo pipefail
build=${1:?build directory}
scratch=${2:?scratch directory}
src=$(cd "$(dirname "$0")" && pwd)/quantize_layer.c

rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log"

libdir=$(dirname "$(find "$prefix" -name gptq.pc -print -quit)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags gptq)
libs=$(pkg-config --libs gptq)
[[ $cflags == *"$prefix"* ]] || { echo "gptq.pc Cflags do not point into $prefix: $cflags"; exit 1; }

# A separate copy of the source, so no include path can reach back into the tree.
cp "$src" "$scratch/main.c"
# shellcheck disable=SC2086  # flags are meant to be split
cc -std=c11 -Wall -Wextra -Werror "$scratch/main.c" $cflags $libs -lm -o "$scratch/quantize_layer"
env -u LD_LIBRARY_PATH "$scratch/quantize_layer"

# The installed tool finds the installed library through its RUNPATH ($ORIGIN/../lib).
tool=$prefix/bin/gptq
if [[ -x $tool ]]; then
    # shellcheck disable=SC2016  # a literal $ORIGIN
    readelf -d "$tool" | grep -q 'RUNPATH.*\$ORIGIN/\.\./' || { echo "$tool: no \$ORIGIN RUNPATH"; exit 1; }
    env -i PATH=/usr/bin:/bin "$tool" --version
fi
echo "pkgconfig_consumer: OK ($prefix)"
