// Graph passes, one per file, each a pure `matches` predicate plus an `apply` rewrite (ORT style).
// Every pass keeps ONNX tensor names of the tensors it keeps, and records the names it removes in
// Node::post.fused_names so calibration caches and reports can still name them.
#pragma once

#include <set>
#include <string>

#include "ir/graph.h"

namespace octet {

// Evaluates nodes whose inputs are all constants and replaces their outputs with constants.
// Returns the number of nodes folded.
int fold_constants(Graph& g);
// Conv -> BatchNormalization (the Conv output read only by the BN, constant weights): scales the Conv
// weights and bias; the Conv then produces the BN's output tensor. Returns the number folded.
int fold_batchnorm(Graph& g);
// Conv/ConvTranspose/Gemm/MatMul -> [Add(residual)] -> [Relu|Clip|LeakyRelu|Sigmoid|HardSwish|SiLU] and
// Add -> activation become one node with Node::post set; SiLU is the pattern Mul(y, Sigmoid(y)). Returns the
// number of nodes removed.
// int8: fuse only what an INT8 epilogue can apply (quant.h): Relu/Clip anywhere; Sigmoid/SiLU/HardSwish/
// LeakyRelu only onto a conv/matmul without a fused residual (they stay nodes after an Add).
// keep: names of tensors that must stay materialized (an op producing one absorbs nothing after it): the
// tensors a Q/DQ model rounds, so that octet rounds there too instead of fusing past them.
int fuse_post_ops(Graph& g, bool int8 = false, const std::set<std::string>* keep = nullptr);

// Channels-last for the cpu backend: Conv -> ConvNhwc, pools -> PoolNhwc, elementwise ops follow (see
// nhwc.cpp). Needs static shapes at batch 1 (else does nothing). Returns the number of converted nodes.
int convert_to_nhwc(Graph& g);

}  // namespace octet
