#!/usr/bin/env bash
# TorchGeo integration tests in their own environment (not the uv workspace venv).
#
# torchgeo >= 0.9 needs Python >= 3.12 and pulls torch + torchvision (a ~6 GB install with
# the default PyPI CUDA wheels, ~2 min cold). It is never part of `uv sync`: this script
# builds a plain venv with pip (which honours the machine's pip configuration / local wheel
# folders), installs the workspace packages editable plus torchgeo, and runs tests/torchgeo.
#
# The venv is cached in ~/.cache/rasteret-ci/torchgeo-py312 and reused while the stamp
# (this script + the workspace pyproject files) is unchanged, so repeated CI runs only pay
# for the tests (~1 min). Set RASTERET_TORCHGEO_REBUILD=1 to rebuild,
# RASTERET_SKIP_TORCHGEO=1 to skip (reported, exit 0).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${RASTERET_SKIP_TORCHGEO:-0}" = "1" ]; then
    echo "torchgeo tests skipped (RASTERET_SKIP_TORCHGEO=1)"
    exit 0
fi

PY_VERSION="${RASTERET_TORCHGEO_PYTHON:-3.12}"
# Cached outside the checkout so fresh clones on the same machine reuse it; the tests import
# the current checkout's sources through PYTHONPATH (ahead of the venv's editable installs).
VENV="${RASTERET_CI_CACHE:-$HOME/.cache/rasteret-ci}/torchgeo-py${PY_VERSION/./}"
STAMP_SRC=(tools/ci/torchgeo_env.sh packages/*/pyproject.toml tools/pyproject.toml)
STAMP="$(cat "${STAMP_SRC[@]}" | sha256sum | cut -c1-16)"

find_python() {
    for cand in "python${PY_VERSION}" "$(command -v pyenv >/dev/null 2>&1 && PYENV_VERSION="$(pyenv versions --bare | grep -E "^${PY_VERSION//./\\.}(\\.|$)" | tail -1)" pyenv which python 2>/dev/null)"; do
        [ -n "$cand" ] || continue
        if "$cand" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '${PY_VERSION}'.split('.')))" 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    return 1
}

if [ "${RASTERET_TORCHGEO_REBUILD:-0}" = "1" ] || [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$STAMP" ]; then
    PY="$(find_python)" || { echo "torchgeo env: Python ${PY_VERSION} not found" >&2; exit 1; }
    echo "building $VENV with $PY (torch + torchgeo: a few GB, ~2-3 min)"
    start=$SECONDS
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet \
        -e packages/rasteret-catalog -e packages/rasteret-cog -e packages/rasteret-io \
        -e packages/rasteret-ingest -e "packages/rasteret[geopandas]" -e tools \
        "torchgeo>=0.9" requests "pytest>=8"
    echo "$STAMP" > "$VENV/.stamp"
    echo "built in $((SECONDS - start)) s, $(du -sh "$VENV" | cut -f1)"
else
    echo "reusing $VENV"
fi

PYTHONPATH= "$VENV/bin/python" -c "import torch, torchgeo; print('torch', torch.__version__, 'torchgeo', torchgeo.__version__)"
export PYTHONDONTWRITEBYTECODE=1
src_path=""
for d in packages/*/src tools/src; do src_path="$src_path:$PWD/$d"; done
export PYTHONPATH="${src_path#:}${PYTHONPATH:+:$PYTHONPATH}"
rc=0
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --import-mode=importlib -o addopts="" tests/torchgeo || rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no torchgeo tests: failing" >&2; exit 1; fi
exit "$rc"
