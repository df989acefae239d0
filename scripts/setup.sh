#!/usr/bin/env bash
# Set up sirenpde in ./.venv: system libraries, a CPU or CUDA build of torch, the package.
# Usage: scripts/setup.sh   (idempotent; safe to run again)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

# open3d needs libusb at import time.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
    echo "setup: installing libusb-1.0-0 (needed by open3d)"
    $SUDO apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q libusb-1.0-0 >/dev/null; }
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"

# torch: CUDA build only where a GPU is present; otherwise the CPU build (no CUDA wheels).
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
        echo "setup: GPU found, installing torch $TORCH_VERSION (CUDA build)"
        $PIP install -q "torch==$TORCH_VERSION"
    else
        echo "setup: no GPU, installing torch $TORCH_VERSION+cpu"
        $PIP install -q "torch==$TORCH_VERSION+cpu" 2>/dev/null \
            || $PIP install -q "torch==$TORCH_VERSION" --extra-index-url https://download.pytorch.org/whl/cpu
    fi
fi

$PIP install -q -e ".[test]"
.venv/bin/python -c "import torch, open3d, sirenpde; print(f'setup: sirenpde {sirenpde.__version__}, torch {torch.__version__}, cuda={torch.cuda.is_available()}')"
