#!/usr/bin/env bash
# Install what visattn needs from Debian 12 packages.
#   bash scripts/setup.sh            everything: build, run, and the tests (PyTorch, valgrind, clang)
#   bash scripts/setup.sh --runtime  only what building and running `visattn` needs
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(build-essential cmake pkg-config
      libopenblas-openmp-dev libcjson-dev libstb-dev libjpeg62-turbo-dev libspng-dev zlib1g-dev)
if [ "${1:-}" != "--runtime" ]; then
  PKGS+=(check libturbojpeg0-dev valgrind clang libclang-rt-14-dev
         python3-torch python3-torchvision python3-numpy python3-pil dataset-fashion-mnist)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
