#!/usr/bin/env bash
# One-time, idempotent set-up: npm dependencies, Debian's chromium (browser test), PyTorch (export
# reference), then a WebGPU adapter.
# When Dawn finds no adapter on Linux, installs Mesa's lavapipe (software Vulkan) from
# bookworm-backports: bookworm's own Mesa 22 is refused by Dawn ("shaderUniform*ArrayDynamicIndexing
# required"). A machine with a real GPU driver keeps using it. Quiet when nothing needs doing.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# A linked node_modules (a git worktree sharing another checkout's install) is left alone: `npm ci`
# would empty the directory it points to, under every other checkout using it.
if [ -L node_modules ]; then
  [ -d node_modules/webgpu ] || { echo "[setup] node_modules is a link to an incomplete install; run npm ci where it points" >&2; exit 1; }
elif [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Debian's chromium for the browser test of `sdmoec analyze`'s HTML page (test/analyze/browser.test.ts,
# driven by puppeteer-core, which never downloads a browser). Missing without root/apt: a warning,
# since only that test needs it.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian chromium (browser test of the analysis page)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] warning: /usr/bin/chromium is missing; the analysis page's browser test needs it. As root: apt-get install -y chromium" >&2
  fi
fi

# Debian's PyTorch (CPU) with OpenBLAS for the independent reference of `sdmoec export` and the tests of `compile --target torch` (test/torch)
# (test/export/hf_reference.py; `transformers` is not packaged), python3-regex for its tokenizer.json
# encoder. Debian's default reference BLAS runs torch's matmul ~30x slower than OpenBLAS here.
# Missing without root/apt: a warning here, and those tests fail with the same command.
if ! /usr/bin/python3 -c 'import torch, regex, numpy' >/dev/null 2>&1 || ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian python3-torch, libopenblas0-openmp and python3-regex (PyTorch reference of the HF export)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp python3-regex >/dev/null
  else
    echo "[setup] warning: /usr/bin/python3 lacks torch/regex; test/export and test/torch need them. As root: apt-get install -y python3-torch libopenblas0-openmp python3-regex" >&2
  fi
fi

if node scripts/probe-adapter.mjs >/dev/null 2>&1; then exit 0; fi
if [ "$(uname -s)" != "Linux" ]; then
  echo "[setup] no WebGPU adapter found; install your GPU's Vulkan/Metal/D3D driver." >&2
  exit 1
fi

CMDS='echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
apt-get update
apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1'
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "[setup] no WebGPU adapter found. Install Mesa >= 25 lavapipe as root:" >&2
  echo "$CMDS" | sed 's/^/    /' >&2
  exit 1
fi

echo "[setup] no WebGPU adapter found: installing Mesa lavapipe from bookworm-backports"
echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
if ! msg=$(node scripts/probe-adapter.mjs 2>&1); then
  echo "[setup] lavapipe installed but Dawn still finds no adapter: $msg" >&2
  exit 1
fi
echo "[setup] $msg"
