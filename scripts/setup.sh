#!/usr/bin/env bash
# Installs every Debian package libgptq's build, tests, examples and bindings use.
# Idempotent (apt-get install skips what is there); runs as root, or through sudo.
#   GPTQ_SETUP_SKIP=1   do nothing (a machine prepared by other means)
set -euo pipefail

if [[ ${GPTQ_SETUP_SKIP:-0} == 1 ]]; then
    echo "setup.sh: skipped (GPTQ_SETUP_SKIP=1)"
    exit 0
fi

packages=(
    # toolchain
    build-essential cmake pkg-config git binutils
    # Vulkan backend: headers/loader, the lavapipe software driver, validation layers,
    # vulkaninfo, and the shader compiler/validator used at build time
    libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
    glslang-tools spirv-tools
    # second compiler: clang with its sanitizer runtimes and libFuzzer (tests/fuzz)
    clang libclang-rt-14-dev
    # tests and examples
    libcmocka-dev libstb-dev nlohmann-json3-dev
    # Hugging Face tokenizers in the gptq tool: PCRE2 for the \p{L}/\p{N} pre-tokenizer
    # regexes, utf8proc for NFC
    libpcre2-dev libutf8proc-dev
    # bindings: python (ctypes smoke test) and go (cgo smoke test); Rust uses the
    # machine's cargo when present (it needs no crates)
    python3 golang-go
    # Python package tests: a venv over the system's numpy/pytest, and an offline
    # `pip install --no-build-isolation --no-index` (setuptools + wheel as the backend)
    python3-numpy python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
    # benchmarks only: OpenBLAS is the same-run baseline of bench_gemm / bench_quantize /
    # bench_matmul (the library never links it; the benches skip the ratios without it)
    libopenblas-dev
)

if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "setup.sh: need root or sudo to install: ${packages[*]}" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup.sh: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q "${missing[@]}"
