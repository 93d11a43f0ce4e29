// --shapes: fixes the symbolic dimensions of a model's inputs (a detector of dynamic H x W run at one size).
#pragma once

#include <string>

#include "ir/graph.h"

namespace octet {

// `spec`: "name:1x3x480x640[,name2:...]", or "1x3x480x640" for a model of one input. Every dimension but the
// batch becomes the given number (a dimension the model fixes must agree); the batch dimension keeps what the
// model declares (a symbolic batch stays symbolic, so any number of samples can run; a fixed one must match).
// Throws octet::Error naming the input and both shapes.
void set_input_shapes(Graph& g, const std::string& spec);

}  // namespace octet
