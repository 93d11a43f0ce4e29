#!/usr/bin/env bash
# The built-in example: calibrate the Fashion-MNIST CNN (models/fmnist_cnn.onnx) on 1,000 training images of
# Debian's dataset-fashion-mnist, write a TensorRT calibration cache (entropy2, refined), tune it (mixed
# precision), build the INT8 plan, then compare
# FP32 and INT8 accuracy on the 10,000 test images and their speed. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
OCTET=build/octet
DATA=/usr/share/datasets/fashion-mnist
OUT=${OUT:-out/example}
mkdir -p "$OUT"
PRE="--mean 0.2860 --std 0.3530"
set -x
$OCTET info models/fmnist_cnn.onnx
$OCTET calibrate models/fmnist_cnn.onnx --data $DATA/train --limit 1000 $PRE --cache "$OUT/fmnist.cache"
$OCTET tune models/fmnist_cnn.onnx --cache "$OUT/fmnist.cache" --data $DATA/train --limit 1000 $PRE \
  -o "$OUT/fmnist.tuned.cache" --force
$OCTET build models/fmnist_cnn.onnx --cache "$OUT/fmnist.tuned.cache" -o "$OUT/fmnist.int8.plan" --force
$OCTET eval models/fmnist_cnn.onnx --data $DATA/t10k $PRE --precision fp32,int8 --cache "$OUT/fmnist.tuned.cache" \
  --batch 100 --json "$OUT/accuracy.json" --force
$OCTET bench models/fmnist_cnn.onnx --precision fp32 --batch 16 --iterations 200
$OCTET bench "$OUT/fmnist.int8.plan" --batch 16 --iterations 200
