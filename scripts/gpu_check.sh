#!/usr/bin/env bash
# gpu_check.sh: the full GPU verdict in one command, for the first machine with a real GPU.
#
#   scripts/gpu_check.sh [--dry-run] [--build-dir DIR] [--jobs N] [--no-cuda]
#                        [--time-scale F] [--help]
#
# 1. builds DIR (default build-gpu/) in Release with -DGPTQ_CUDA=ON (when nvcc exists and
#    --no-cuda is not given) and the tests and benches;
# 2. runs the Vulkan and CUDA test suites: `ctest -L 'vulkan|cuda' -LE long` (white-box,
#    API and end-to-end tests of both backends, validation layer on for Vulkan; on CUDA
#    that includes the shared reference vectors with act-order and static groups
#    (test_vectors_cuda), the MSE grid search (test_mse_cuda), the damping retry on a
#    barely positive-definite Hessian (test_api_errors_cuda) and cuda_vs_cpu);
# 3. runs the three benches on the GPU backends: bench_vulkan (quantize stages, GEMV/GEMM,
#    host cost per call, allocations per call; plus 4096 x 14336 matmul), bench_quantize and
#    bench_matmul (--backend cuda and vulkan).
# Every stage runs under `timeout` with its own budget; the budgets add up to 8 minutes
# (configure 60 s, build 180 s, tests 120 s, benches 120 s), so the run ends within that
# whatever hangs (--time-scale F multiplies every budget, for slow or shared machines). The
# summary lists each stage's status and time.
#
# Without a GPU (no Vulkan device other than a CPU implementation such as lavapipe, and no
# CUDA device) stages 2 and 3 are skipped after the build and the exit status is 77.
# --dry-run checks the arguments and the tools, prints every command it would run and runs
# none of them (CTest runs it, so the script cannot rot unnoticed).
# Exit status: 0 every stage passed, 1 a stage failed, 2 bad arguments, 77 no GPU here.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

usage() {
    sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

dry_run=0
build_dir=build-gpu
jobs=$(nproc 2>/dev/null || echo 2)
cuda=1
time_scale=1
while [[ $# -gt 0 ]]; do
    case $1 in
    --dry-run) dry_run=1 ;;
    --build-dir)
        [[ $# -ge 2 && -n $2 ]] || { echo "gpu_check: --build-dir needs a directory" >&2; exit 2; }
        build_dir=$2
        shift ;;
    --jobs)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check: --jobs needs a positive number" >&2; exit 2; }
        jobs=$2
        shift ;;
    --no-cuda) cuda=0 ;;
    --time-scale)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check: --time-scale needs a positive integer" >&2; exit 2; }
        time_scale=$2
        shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

for tool in cmake ctest timeout; do
    command -v "$tool" >/dev/null || { echo "gpu_check: $tool not found" >&2; exit 1; }
done
if [[ $cuda -eq 1 ]] && ! command -v nvcc >/dev/null; then
    echo "gpu_check: nvcc not found: building without CUDA"
    cuda=0
fi
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
              -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

report=()
failed=0
t_start=$(date +%s)

# stage <name> <seconds> <command...>: runs one stage under its time budget (or, with
# --dry-run, prints it), records its status and wall time.
stage() {
    local name=$1 budget=$(($2 * time_scale))
    shift 2
    if [[ $dry_run -eq 1 ]]; then
        printf 'would run [%s, %ss]: %s\n' "$name" "$budget" "$*"
        return 0
    fi
    echo
    echo "==== $name (budget ${budget}s)"
    local t0 rc
    t0=$(date +%s)
    timeout --signal=TERM --kill-after=10 "$budget" "$@"
    rc=$?
    local status=ok
    [[ $rc -eq 124 ]] && status=TIMEOUT
    [[ $rc -ne 0 && $rc -ne 124 ]] && status=FAILED
    report+=("$(printf '%-34s %-8s %5ds' "$name" "$status" $(($(date +%s) - t0)))")
    [[ $rc -eq 0 ]] || failed=1
    return $rc
}

summary() {
    echo
    echo "==== gpu_check summary ($(($(date +%s) - t_start))s)"
    printf '%s\n' "${report[@]}"
}

cuda_flag=OFF
[[ $cuda -eq 1 ]] && cuda_flag=ON
stage configure 60 cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DGPTQ_CUDA=$cuda_flag -DGPTQ_VULKAN=ON "${launcher[@]}" || { summary; exit 1; }
stage build 180 cmake --build "$build_dir" -j "$jobs" || { summary; exit 1; }

bench_dir=$build_dir/bench
if [[ $dry_run -eq 1 ]]; then
    have_vulkan_gpu=1
    have_cuda_gpu=$cuda
else
    have_vulkan_gpu=0
    "$bench_dir/vulkan/bench_vulkan" --probe && have_vulkan_gpu=1
    have_cuda_gpu=0
    [[ $cuda -eq 1 ]] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 &&
        have_cuda_gpu=1
fi
if [[ $have_vulkan_gpu -eq 0 && $have_cuda_gpu -eq 0 ]]; then
    report+=("$(printf '%-34s %-8s' 'tests and benches' 'SKIPPED (no GPU)')")
    summary
    exit 77
fi

labels=()
[[ $have_vulkan_gpu -eq 1 ]] && labels+=(vulkan)
[[ $have_cuda_gpu -eq 1 ]] && labels+=(cuda)
label_re=$(IFS='|'; echo "${labels[*]}")
stage "ctest -L '$label_re'" 120 ctest --test-dir "$build_dir" -L "$label_re" -LE long \
    --output-on-failure -j "$jobs"

if [[ $have_vulkan_gpu -eq 1 ]]; then
    stage "bench_vulkan 4096x4096" 30 "$bench_dir/vulkan/bench_vulkan" --n 4096 --k 4096 \
        --tokens 4096 --m 512 --reps 20
    stage "bench_vulkan matmul 4096x14336" 20 "$bench_dir/vulkan/bench_vulkan" --matmul-only \
        --n 4096 --k 14336 --m 512 --reps 20
fi
for b in $([[ $have_cuda_gpu -eq 1 ]] && echo cuda) $([[ $have_vulkan_gpu -eq 1 ]] && echo vulkan); do
    stage "bench_quantize --backend $b" 20 "$bench_dir/bench_quantize" --backend "$b" 4096
    stage "bench_matmul --backend $b" 15 "$bench_dir/bench_matmul" --backend "$b" 4096x4096
done
[[ $dry_run -eq 1 ]] && { echo "gpu_check: dry run, nothing was run"; exit 0; }
summary
exit $failed
