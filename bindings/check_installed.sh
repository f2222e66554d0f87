#!/usr/bin/env bash
# Runs one binding's tests and example against a libgptq installed with `cmake --install`,
# as a user would: from a clean environment holding only PATH, HOME and PKG_CONFIG_PATH
# (no LD_LIBRARY_PATH, GPTQ_LIBRARY, CGO_* or GPTQ_LIB_DIR). Nothing is written into the
# source tree: build products go to <scratch>.
#   check_installed.sh <prefix> <scratch> python|rust|go
# Exit status 77 (CTest: Skipped) when the Python test prerequisites are missing.
set -euo pipefail
prefix=$(cd "${1:?install prefix}" && pwd)
scratch=${2:?scratch directory}
lang=${3:?python, rust or go}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)

pc=$(dirname "$(find "$prefix" -name gptq.pc -print -quit)")
[[ -f $pc/gptq.pc ]] || { echo "no gptq.pc under $prefix"; exit 1; }
clean() { env -i PATH="$PATH" HOME="${HOME:-$scratch}" PKG_CONFIG_PATH="$pc" "$@"; }

python_with_numpy() {  # the first interpreter that has numpy, pytest and venv
    local py
    for py in python3 /usr/bin/python3; do
        if "$py" -c 'import numpy, pytest, venv' 2>/dev/null; then
            command -v "$py"
            return
        fi
    done
    echo "skipped: no python3 with numpy, pytest and venv (scripts/setup.sh installs them)" >&2
    exit 77
}

check_python() {
    local py venv site
    py=$(python_with_numpy) || exit 77
    # pip install into a venv that sees the system's numpy/pytest/setuptools, offline.
    rm -rf "$scratch/python" && mkdir -p "$scratch/python"
    cp -r "$here/python" "$scratch/python/src"
    venv=$scratch/python/venv
    # --without-pip: the system's pip (python3-pip) serves the venv and saves ensurepip.
    "$py" -m venv --system-site-packages --without-pip "$venv"
    clean "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index "$scratch/python/src"
    (cd "$scratch/python/src" && clean "$venv/bin/python" -m pytest -q -p no:cacheprovider tests)
    clean "$venv/bin/python" "$scratch/python/src/examples/quantize_layer.py"
    # The copy `cmake --install` put into the prefix finds the library beside it, with no
    # environment at all.
    site=$(find "$prefix" -path '*/site-packages/gptq/__init__.py' -print -quit)
    [[ -n $site ]] || { echo "cmake --install put no gptq package under $prefix"; exit 1; }
    site=$(dirname "$(dirname "$site")")
    env -i PATH=/usr/bin:/bin "$py" -c "import sys; sys.path.insert(0, '$site'); import gptq
path = gptq.library_path()
assert path.startswith('$prefix/'), path
print('installed package: gptq', gptq.version(), 'from', path)"
}

check_rust() {
    local target=$scratch/rust-target
    (cd "$here/rust" && clean cargo test --offline --locked --quiet --target-dir "$target")
    (cd "$here/rust" && clean cargo run --offline --locked --quiet --target-dir "$target" \
        --example quantize_layer)
}

check_go() {
    # The module is used by its published path through the go.work at the repository root.
    (cd "$here/go" && clean go test -count=1 ./...)
    (cd "$here/.." && clean go run ./bindings/go/examples/quantize)
}

"check_$lang"
echo "check_installed $lang: OK ($prefix)"
