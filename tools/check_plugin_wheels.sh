#!/usr/bin/env bash
# Install check for plugins: each plugin's wheel plus the kernel's wheel, alone in a fresh virtual
# environment with the plugin's `test` extra, must pass that plugin's tests, run from a copy of its
# tests folder outside the repository. This catches what an editable checkout hides: a dependency
# missing from the plugin's metadata, a data file left out of the wheel, a test reading the source
# tree or another plugin.
#
#   tools/check_plugin_wheels.sh PLUGIN [PLUGIN ...]     e.g. tools/check_plugin_wheels.sh zkaudit arena
#
# Environment:
#   PYTHON            interpreter for the fresh environments (default python3)
#   WORK              scratch folder (default: a new temporary folder, removed at the end); a kept
#                     one reuses its kernel wheel, and its environments are rebuilt
#   PYTEST_ARGS       extra pytest arguments (default: -m "not slow and not gpu" -x -q)
#   SKYPLEX_TEST_DATA_DIR  passed through: where the tests keep the local model's cache
#
# The kernel wheel is built without the CUDA extension (SKYPLEX_CUDA=OFF): the check is about the
# plugin's packaging, and compiling CUDA takes minutes. pip may fetch dependencies from the package
# index; torch is pinned to torch==2.13.0 (the CPU build) before anything can ask for it. The copy
# outside the repository holds the plugin's tests and its page docs/plugins/<name>.md, in the same
# layout (the tests run the page's commands as written); nothing else of the checkout is there.
# Environments are built one after another, never at once (they are CPU- and disk-heavy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PYTEST_ARGS=${PYTEST_ARGS:-'-m "not slow and not gpu" -x -q -p no:cacheprovider'}
TORCH_PIN="torch==2.13.0"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PLUGIN [PLUGIN ...]   (plugins: $(cd "$ROOT/plugins" && echo */ | tr -d /))" >&2
    exit 2
fi
for name in "$@"; do
    if [ ! -f "$ROOT/plugins/$name/pyproject.toml" ]; then
        echo "error: no plugin '$name' (no plugins/$name/pyproject.toml)" >&2
        exit 2
    fi
done

if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d -t skyplex-wheels-XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/dist"
# a constraint, not an install: torch arrives only when the plugin needs it, and then as 2.13.0
echo "$TORCH_PIN" > "$WORK/constraints.txt"

build_wheel() {  # build_wheel SOURCE_DIR: one wheel into $WORK/dist, from a clean copy of the sources
    "$WORK/build-env/bin/pip" wheel --no-deps --no-build-isolation -q -w "$WORK/dist" "$1"
}

echo "== build environment and the kernel's wheel (SKYPLEX_CUDA=OFF)"
if [ ! -x "$WORK/build-env/bin/pip" ]; then
    "$PYTHON" -m venv "$WORK/build-env"
    "$WORK/build-env/bin/pip" install -q "scikit-build-core>=0.10" "pybind11>=2.12" "setuptools>=69" wheel cmake ninja
fi
# a WORK folder kept from an earlier run reuses its kernel wheel (building it compiles the C++ ops)
ls "$WORK"/dist/skyplex-*.whl >/dev/null 2>&1 || SKYPLEX_CUDA=OFF build_wheel "$ROOT"
kernel_wheel=$(ls "$WORK"/dist/skyplex-*.whl)

status=0
for name in "$@"; do
    echo "== $name: wheel, fresh environment, tests from outside the repository"
    rm -f "$WORK"/dist/skyplex_"$name"-*.whl
    build_wheel "$ROOT/plugins/$name"
    plugin_wheel=$(ls "$WORK"/dist/skyplex_"$name"-*.whl)
    env="$WORK/env-$name"
    rm -rf "$env"
    "$PYTHON" -m venv "$env"
    "$env/bin/pip" install -q --constraint "$WORK/constraints.txt" "$kernel_wheel" "$plugin_wheel[test]"
    copy="$WORK/outside-$name"
    rm -rf "$copy"
    mkdir -p "$copy/plugins/$name" "$copy/docs/plugins"
    cp -r "$ROOT/plugins/$name/tests" "$copy/plugins/$name/tests"
    [ -f "$ROOT/docs/plugins/$name.md" ] && cp "$ROOT/docs/plugins/$name.md" "$copy/docs/plugins/"
    find "$copy" -name __pycache__ -prune -exec rm -rf {} +
    # no pyproject.toml above the copy: pytest uses its defaults plus the import mode the project uses
    if (cd "$copy" && eval "\"$env/bin/python\" -m pytest --import-mode=importlib $PYTEST_ARGS plugins/$name/tests"); then
        echo "== $name: PASSED from its wheel"
    else
        echo "== $name: FAILED from its wheel" >&2
        status=1
    fi
done
exit $status
