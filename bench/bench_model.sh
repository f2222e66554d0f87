#!/bin/sh
# Whole-model quantization benchmark (not part of CI): generates a random-weight bf16 model of
# a real architecture's shapes (bench/gen_synthetic_hf.py), quantizes it with the gptq tool
# (GPTQ 4-bit, group size 128, 32 x 512 random calibration tokens) and reports per-block
# seconds by phase, total time and peak RSS. The generated model and the output are deleted
# afterwards unless KEEP=1 (they are gigabytes).
#
# Usage: bench/bench_model.sh GPTQ_TOOL SHAPE [BACKEND] [LAYERS]
#   GPTQ_TOOL  path to the built gptq CLI (build/examples/cli/gptq)
#   SHAPE      tinyllama-1.1b | qwen3-0.6b | llama3-8b
#   BACKEND    cpu (default) | vulkan | cuda
#   LAYERS     A:B to quantize only blocks A..B-1 (e.g. 0:2 for llama3-8b), default all
# Environment: BENCH_DIR (scratch directory, default $TMPDIR or /tmp), KEEP=1.
set -eu
tool=$1
shape=$2
backend=${3:-cpu}
layers=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
dir=${BENCH_DIR:-${TMPDIR:-/tmp}}/gptq-bench-$shape
model=$dir/model
out=$dir/out
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"; }
trap cleanup EXIT INT TERM
mkdir -p "$dir"
[ -f "$model/config.json" ] || python3 "$here/gen_synthetic_hf.py" "$shape" "$model"
set -- quantize "$model" -o "$out" --backend "$backend" --bits 4 --group-size 128 \
       --calib-random --calib-tokens 16384 --seq-len 512 --no-rtn-compare
[ -n "$layers" ] && set -- "$@" --layers "$layers"
echo "command: gptq $*"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$tool" "$@" 2>&1 >"$dir/table.txt" |
    grep -v '^\[' | tee "$dir/stderr.txt" || true
tail -n 1 "$dir/table.txt"
# The peak against the fp32 size of the model (the generated bf16 files hold half of it).
bf16_bytes=$(stat -c %s "$model"/*.safetensors | awk "{ s += \$1 } END { printf \"%.0f\", s }")
awk -v b="$bf16_bytes" '/max RSS/ { kb = $(NF - 1) }
    END { if (kb) printf "peak RSS %.2f GiB = %.3f of the fp32 model (%.2f GB)\n",
                         kb / 1048576, kb * 1024 / (2 * b), 2 * b / 1e9 }' "$dir/stderr.txt"
