#!/usr/bin/env bash
# The full check that CI runs (.ci/run) and the README shows:
#   1. scripts/setup.sh (Debian packages)
#   2. Release build in build/ + ctest (default suite: label `long` excluded)
#   3. sanitizer build in build-san/ + ctest: clang with AddressSanitizer + UBSan (incl.
#      float-cast-overflow), leak detection on, every backend and the libFuzzer targets
#      (GCC's ASan + UBSan instead where clang is missing)
#   4. if nvcc exists: -DGPTQ_CUDA=ON build in build-cuda/ (compile check) + its CUDA tests,
#      which report Skipped without a device
#   5. install check: cmake --install into a scratch prefix, then examples/c/quantize_layer.c
#      built with `pkg-config --cflags --libs gptq` only, and run
#   6. the Python, Rust and Go bindings' tests and examples against an installed prefix
# Every stage runs even if an earlier one failed (so one run shows every problem), except
# the tests of a tree that did not build; the exit status is non-zero if any stage failed.
# Environment: GPTQ_JOBS (default: cores), GPTQ_CMAKE_ARGS (extra configure arguments for
# every tree), GPTQ_SKIP_ASAN=1 / GPTQ_SKIP_CUDA=1 to leave a stage out when iterating,
# GPTQ_LONG=1 to add the `long` tests to the Release stage (never run under sanitizers).
# Expected duration on 2 idle cores from a fresh clone: about 15 minutes (871 s measured);
# the summary prints each stage's wall time.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${GPTQ_JOBS:-$(nproc)}
t_start=$(date +%s)
report=()
failed=0

stage() {  # stage <name> <command...>: runs one stage, records its result and wall time
    local name=$1
    shift
    local t0 rc
    t0=$(date +%s)
    echo
    echo "==== ${name}"
    "$@"
    rc=$?
    echo "==== ${name}: $([[ $rc -eq 0 ]] && echo ok || echo FAILED) in $(($(date +%s) - t0))s" \
        "(total so far $(($(date +%s) - t_start))s)"
    report+=("$(printf '%-32s %-6s %5ds' "$name" "$([[ $rc -eq 0 ]] && echo ok || echo FAILED)" \
        $(($(date +%s) - t0)))")
    [[ $rc -eq 0 ]] || failed=1
    return $rc
}

# Totals over every ctest stage, for the closing line.
n_pass=0
n_fail=0
n_skip=0
run_ctest() {  # run_ctest <ctest args...>: runs ctest, adds its counts to the totals
    local log rc total failed skipped
    log=$(mktemp)
    ctest "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -n 1)
    skipped=$(grep -c '(Skipped)$' "$log" || true)
    if [[ -n $total && -n $failed ]]; then
        n_pass=$((n_pass + total - failed - skipped))
        n_fail=$((n_fail + failed))
        n_skip=$((n_skip + skipped))
    elif [[ $rc -ne 0 ]]; then
        n_fail=$((n_fail + 1))  # ctest itself failed before running tests
    fi
    rm -f "$log"
    return "$rc"
}

configure_build() {  # configure_build <dir> <cmake args...>
    local dir=$1
    shift
    # shellcheck disable=SC2086  # GPTQ_CMAKE_ARGS is a list of arguments
    cmake -S . -B "$dir" "$@" ${GPTQ_CMAKE_ARGS:-} && cmake --build "$dir" -j "$jobs"
}

stage "setup" bash scripts/setup.sh || { echo "setup failed: cannot continue"; exit 1; }

if stage "release: build" configure_build build -DCMAKE_BUILD_TYPE=Release; then
    stage "release: ctest" run_ctest --test-dir build --output-on-failure -LE long -j "$jobs"
    # The long tests (label `long`: the full GPTQ-vs-RTN table) run only here, on request.
    if [[ ${GPTQ_LONG:-0} == 1 ]]; then
        stage "release: ctest (long)" run_ctest --test-dir build --output-on-failure -L long
    fi
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    stage "install + pkg-config consumer" bash examples/c/pkgconfig_consumer.sh build "$scratch"
fi

clang=$(command -v clang++ || true)
if [[ ${GPTQ_SKIP_ASAN:-0} != 1 ]]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # Not under the sanitizers: `long`; `subgroup` (the Vulkan suites again at other
    # subgroup sizes: the same host code); `heavy` (whole-tool runs of minutes here);
    # `bindings` (they use the Release install).
    if [[ -n $clang ]]; then
        # One sanitizer tree, built with clang: AddressSanitizer + UBSan (with
        # float-cast-overflow, which GCC's UBSan lacks) over the library with every backend
        # and its avx2/avx512 kernels, the tool and the tests, plus the libFuzzer targets
        # (tests/fuzz), which replay their seed corpora and try a few thousand new inputs.
        # A second compiler also keeps the code portable (Apple's toolchain is clang). -O1
        # with line tables only keeps its build within the test command's time budget.
        if stage "sanitizers (clang asan+ubsan, fuzz): build" configure_build build-san \
            -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
            -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
            -DGPTQ_SANITIZE=address,undefined,float-cast-overflow -DGPTQ_FUZZ=ON \
            -DGPTQ_BUILD_BENCH=OFF; then
            stage "sanitizers (clang asan+ubsan, fuzz): ctest" run_ctest --test-dir build-san \
                --output-on-failure -LE 'long|subgroup|heavy|bindings' -j "$jobs"
        fi
    else
        # Without clang: GCC's ASan + UBSan, portable CPU kernels only (at -O2 with the
        # avx2/avx512 copies, qgemv.cpp alone compiled for 20+ minutes under GCC's sanitizers
        # on a busy 2-core machine; the Release stage tests those kernels), no fuzz targets.
        if stage "sanitizers (gcc asan+ubsan): build" configure_build build-san \
            -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
            -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DGPTQ_CPU_ISA_VARIANTS=OFF \
            -DGPTQ_SANITIZE=address,undefined -DGPTQ_BUILD_BENCH=OFF; then
            stage "sanitizers (gcc asan+ubsan): ctest" run_ctest --test-dir build-san \
                --output-on-failure -LE 'long|subgroup|heavy|bindings' -j "$jobs"
        fi
    fi
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

nvcc=$(command -v nvcc || true)
[[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
if [[ ${GPTQ_SKIP_CUDA:-0} != 1 && -n $nvcc ]]; then
    # Compile check of the CUDA backend; its runtime tests skip without a device. The
    # CPU/Vulkan suites already ran above, so only CUDA-labelled tests and the export
    # check (which covers the CUDA objects linked into libgptq.so) run here.
    if stage "cuda: build" configure_build build-cuda -DCMAKE_BUILD_TYPE=Release \
        -DGPTQ_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" -DGPTQ_VULKAN=OFF \
        -DGPTQ_BUILD_EXAMPLES=OFF -DGPTQ_BUILD_BENCH=OFF; then
        stage "cuda: ctest" run_ctest --test-dir build-cuda --output-on-failure \
            -R '^test_exports$|cuda'
    fi
else
    echo "==== cuda: skipped (no nvcc)"
fi

# Language bindings (Python venv + pytest, cargo test, go test, and their examples) against
# the release build installed into a scratch prefix: CTest label `bindings` (also `long`, so
# the release ctest stage above leaves them out).
bindings_installed() {
    run_ctest --test-dir build --output-on-failure -L bindings
}
if [[ -f build/CTestTestfile.cmake ]]; then
    stage "bindings (installed prefix)" bindings_installed
fi

echo
echo "==== summary"
printf '%s\n' "${report[@]}"
echo "total: $(($(date +%s) - t_start))s"
[[ $failed -eq 0 || $n_fail -gt 0 ]] || n_fail=1  # a stage failed outside ctest
echo "ctest: ${n_pass} passed, ${n_fail} failed, ${n_skip} skipped"
exit $failed
