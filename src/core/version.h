// octet's version: one definition, written into calibration sidecars and plan files and printed by
// `octet --version`. Keep it equal to project(VERSION) in CMakeLists.txt.
#pragma once

namespace octet {

inline constexpr const char* kOctetVersion = "0.1.0";

}  // namespace octet
