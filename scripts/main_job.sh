#!/usr/bin/env bash
# The README's main job: build libgptq and the `gptq` tool, quantize the bundled stories260K
# model with GPTQ and with round-to-nearest at 4-bit (per-channel and group 32), 3-bit
# (per-channel and group 32) and 2-bit group 32, calibrating on documents 0-22 of the
# bundled TinyStories text and evaluating perplexity on documents 23-45; print the table
# (FP32 / RTN / GPTQ, checkpoint sizes, quantization time) and a sample from the 4-bit model.
# Environment: GPTQ_BACKEND (auto|cpu|vulkan|cuda, default auto), GPTQ_JOBS (build jobs,
# default: cores), GPTQ_BUILD_DIR (default build), GPTQ_CMAKE_ARGS (extra configure args).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${GPTQ_BACKEND:-auto}
jobs=${GPTQ_JOBS:-$(nproc)}
build=${GPTQ_BUILD_DIR:-build}
model=../shared/models/stories260K/stories260K.bin
text=../shared/data/tinystories_valid_head.txt
for f in "$model" "$text"; do
    [[ -f $f ]] || { echo "main_job.sh: missing $f (the shared data belongs at ../shared)" >&2; exit 1; }
done

if [[ -f scripts/setup.sh ]]; then
    bash scripts/setup.sh
fi
echo "==== build ($build)"
# shellcheck disable=SC2086  # GPTQ_CMAKE_ARGS is a list of arguments
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ${GPTQ_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs" --target gptq_cli
gptq=$build/examples/cli/gptq
out=$build/main_job
rm -rf "$out"
mkdir -p "$out"

# eval_ppl MODEL: perplexity on documents 23-45.
eval_ppl() {
    "$gptq" eval "$1" --text "$text" --eval-docs 23:46 --backend "$backend" --quiet |
        awk '{for (i = 1; i < NF; ++i) if ($i == "perplexity") print $(i + 1)}'
}
size_of() { stat -c %s "$1"; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

echo "==== FP32 reference"
fp32_line=$("$gptq" eval "$model" --text "$text" --eval-docs 23:46 --backend "$backend" --quiet)
fp32_ppl=$(awk '{for (i = 1; i < NF; ++i) if ($i == "perplexity") print $(i + 1)}' <<<"$fp32_line")
used_backend=$(awk '{for (i = 1; i < NF; ++i) if ($i == "backend") print $(i + 1)}' <<<"$fp32_line")
fp32_size=$(size_of "$model")
echo "FP32 perplexity on documents 23-45: $fp32_ppl"

settings=("4 -1" "4 32" "3 -1" "3 32" "2 32")
rows=()
for s in "${settings[@]}"; do
    read -r bits group <<<"$s"
    label="${bits}-bit $([[ $group == -1 ]] && echo per-channel || echo "g$group")"
    declare -A ppl=() size=() secs=()
    for method in rtn gptq; do
        dir=$out/$method-b$bits-g$group
        echo "==== $method $label"
        args=(quantize "$model" --method "$method" --bits "$bits" --group-size "$group"
              --backend "$backend" -o "$dir")
        if [[ $method == gptq ]]; then
            args+=(--calib "$text" --calib-docs 0:23 --heatmap "$dir.heatmap.png")
        else
            args+=(--quiet)  # instant: no progress bar
        fi
        t0=$(date +%s.%N)
        "$gptq" "${args[@]}" >"$dir.log"
        t1=$(date +%s.%N)
        tail -n 1 "$dir.log"
        secs[$method]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        size[$method]=$(size_of "$dir/model.safetensors")
        ppl[$method]=$(eval_ppl "$dir")
        echo "perplexity: ${ppl[$method]}"
    done
    verdict=$(awk -v g="${ppl[gptq]}" -v r="${ppl[rtn]}" 'BEGIN { print (g < r) ? "yes" : "NO" }')
    rows+=("$(printf '%-18s %9s %9s %9s  %11s %11s  %7ss %7ss  %s' "$label" "$fp32_ppl" \
        "${ppl[rtn]}" "${ppl[gptq]}" "$(kib "${size[rtn]}")" "$(kib "${size[gptq]}")" \
        "${secs[rtn]}" "${secs[gptq]}" "$verdict")")
done

echo
echo "==== stories260K, perplexity on TinyStories documents 23-45 (calibration: documents 0-22)"
echo "backend: $used_backend; FP32 model file: $(kib "$fp32_size") (llama2.c, fp32)"
printf '%-18s %9s %9s %9s  %11s %11s  %8s %8s  %s\n' setting FP32 RTN GPTQ "RTN size" \
    "GPTQ size" "RTN time" "GPTQ time" "GPTQ<RTN"
printf '%s\n' "${rows[@]}"
echo "(sizes: model.safetensors incl. the fp32 embeddings and norms; time: whole quantize"
echo " command incl. loading, calibration forwards and writing; per-layer tables and"
echo " heatmaps in $out/gptq-*.log / *.heatmap.png)"

echo
echo "==== sample from the 4-bit g32 GPTQ model (greedy)"
"$gptq" generate "$out/gptq-b4-g32" --prompt "Once upon a time" --steps 120 --backend "$backend"
