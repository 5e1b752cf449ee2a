#!/usr/bin/env bash
# Packaging check (part of `make test`): build the wheel, install it into a fresh virtual
# environment outside the checkout, and run the demo and the simulator from there, so missing
# package data (recipes, model assets) fails CI rather than a user's first run.
set -euo pipefail
# takes no arguments: an unknown one (a typo, --help) would otherwise start the minutes-long build
if [ "$#" -gt 0 ]; then
    case "$1" in
    -h | --help)
        echo "usage: tools/check_package.sh   (no arguments; environment: PYTHON, TORCH_SPEC,"
        echo "       TORCH_INDEX, BUILD_PIP, TMPDIR)"
        echo "Builds the wheel, installs it with torch into a fresh virtual environment outside"
        echo "the checkout and runs 'epvlm demo' and 'eventsim simulate' from there."
        exit 0
        ;;
    *)
        echo "check_package.sh: takes no arguments, got '$1' (see --help)" >&2
        exit 2
        ;;
    esac
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
# the torch the project tests with (TORCH_INDEX, when set, is the index it comes from: see Makefile)
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
BUILD_PIP="${BUILD_PIP:-$ROOT/.venv/bin/pip}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/eventsim-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# the NUL-separated paths read that exist in the work tree: a tracked file deleted there (not yet
# committed) made tar fail, and the script stop without a word, before the build
present_only() {
    local path
    while IFS= read -r -d '' path; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            printf '%s\0' "$path"
        else
            echo "package check: $path is tracked but deleted in the work tree: left out" >&2
        fi
    done
}

echo "package check: building the wheel in $WORK"
# build from a copy of the tracked and new files, so the checkout gets no build/ folder
mkdir "$WORK/src"
if ! (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | present_only |
    tar --null -T - -cf -) | tar -C "$WORK/src" -xf -; then
    echo "package check: copying the checkout's files into $WORK/src failed (tar says why above)" >&2
    exit 1
fi
"$BUILD_PIP" wheel --quiet --no-deps --no-build-isolation "$WORK/src" -w "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/eventsim-*.whl)"

echo "package check: installing $(basename "$WHEEL") into a fresh environment"
"$PYTHON" -m venv "$WORK/venv"
# --no-compile: byte-compiling all of torch costs more than the rest of the install
"$WORK/venv/bin/pip" install --quiet --no-compile ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "$TORCH_SPEC"
"$WORK/venv/bin/pip" install --quiet --no-compile "$WHEEL[vlm,sim,viz]"

mkdir "$WORK/run"
cd "$WORK/run"
"$WORK/venv/bin/python" - "$ROOT" <<'PY'
import sys
from pathlib import Path

import eventsim

where = Path(eventsim.__file__).resolve()
if Path(sys.argv[1]).resolve() in where.parents:
    sys.exit(f"package check: eventsim was imported from the checkout ({where})")
PY
echo "package check: epvlm demo --limit 20"
"$WORK/venv/bin/epvlm" demo --limit 20 --no-progress -o demo-out
echo "package check: eventsim simulate --synthetic moving-shapes"
"$WORK/venv/bin/eventsim" simulate --synthetic moving-shapes -q -o shapes.h5
"$WORK/venv/bin/eventsim" info --check shapes.h5 >/dev/null
echo "package check: ok"
