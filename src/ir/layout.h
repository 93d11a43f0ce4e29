// The activation layout a backend prefers for 2-D convolutions and pools (Backend::preferred_layout), which
// the compile pipeline (passes/pipeline.h) turns into the NHWC conversion or not.
#pragma once

namespace octet {

enum class Layout { NCHW, NHWC };

}  // namespace octet
