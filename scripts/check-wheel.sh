#!/usr/bin/env bash
# Prove that a wheel built from this tree installs and runs outside the source tree.
#
# Builds the wheel from a copy of the tracked (and untracked, not ignored) files in a fresh temporary
# folder, installs it (not editable) into a fresh virtual environment whose dependencies are pinned to
# the versions in ./.venv (so pip takes the same files and no CUDA build of torch), then runs
# `sirenpde list`, `sirenpde --help`, a tiny `solve` and `sirenpde.load` from a folder outside the tree.
# Usage: scripts/check-wheel.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ -x .venv/bin/python ] || { echo "check-wheel: run scripts/setup.sh first (no .venv)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sirenpde-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/run"

# a copy of the tree as git sees it: no .venv, no build/ or *.egg-info from an editable install
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$WORK/src"

.venv/bin/python -m pip wheel -q --no-deps --no-build-isolation "$WORK/src" -w "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/sirenpde-*.whl)
echo "check-wheel: built $(basename "$WHEEL")"

# every subpackage of the tree is in the wheel
.venv/bin/python - "$WHEEL" <<'EOF'
import sys, zipfile
from pathlib import Path
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
want = {"sirenpde/" + str(p.relative_to("sirenpde")) for p in Path("sirenpde").rglob("*.py")}
want |= {"sirenpde/problems/" + p.name for p in Path("problems").glob("*.py")}
want |= {"sirenpde/meshing/" + p.name for p in Path("meshing").glob("*.py")}
missing = sorted(want - names)
if missing:
    sys.exit(f"check-wheel: the wheel lacks {len(missing)} module(s), e.g. {missing[:5]}")
print(f"check-wheel: the wheel holds all {len(want)} modules")
EOF

.venv/bin/python -m pip freeze --exclude-editable | grep -v '^sirenpde' > "$WORK/pins.txt"
python_bin=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
"$python_bin" -m venv "$WORK/venv"
# pip's notes about this machine's empty local index folders are noise here
"$WORK/venv/bin/python" -m pip install -q "$WHEEL" -c "$WORK/pins.txt" 2>&1 | { grep -v 'is ignored: it is neither' || true; }

cd "$WORK/run"   # outside the source tree: only the installed package can be imported
"$WORK/venv/bin/python" - "$ROOT" <<'EOF'
import sys
from pathlib import Path
import sirenpde
where = Path(sirenpde.__file__).resolve()
if Path(sys.argv[1]).resolve() in where.parents:
    sys.exit(f"check-wheel: sirenpde was imported from the source tree ({where})")
print(f"check-wheel: sirenpde {sirenpde.__version__} imported from {where.parent}")
EOF
"$WORK/venv/bin/sirenpde" --help > /dev/null
"$WORK/venv/bin/sirenpde" list > /dev/null
"$WORK/venv/bin/sirenpde" solve poisson-gradient -O size=32 --steps 5 --lbfgs-steps 0 --out "$WORK/run/pg"
"$WORK/venv/bin/python" -c "import sys, sirenpde; s = sirenpde.load(sys.argv[1]); print('check-wheel: loaded', s.problem.name)" "$WORK/run/pg/model.pt"
echo "check-wheel: the installed wheel runs"
