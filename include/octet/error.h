// octet::Error: the one exception type of octet's API. Everything a user can cause (a file, an option, a
// model) is reported as an Error whose message names the file, tensor or node; the CLI prints it as one line
// ("octet <command>: error: <message>") and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace octet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

}  // namespace octet
