// A small command-line parser shared by the subcommands: `--flag value`, `--flag=value`, boolean switches,
// positional arguments, generated --help text, and errors that name the flag.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace octet::cli {

// What Args::parse read for the command being run, for main's log handler: --quiet (errors only: no notes,
// warnings or progress) and --all-warnings (every warning instead of a summary). Every subcommand takes both.
struct MessageSettings {
  bool quiet = false;
  bool all_warnings = false;
};
MessageSettings& message_settings();

class Args {
 public:
  Args(std::string command, std::string usage, std::string summary);
  // Declare options before parse(). `metavar` empty = boolean switch.
  Args& opt(const std::string& name, const std::string& metavar, const std::string& help, const std::string& def = "");
  Args& flag(const std::string& name, const std::string& help) { return opt(name, "", help); }
  // Returns false when --help was printed (caller exits 0). Throws octet::Error on bad usage.
  bool parse(int argc, char** argv);

  bool has(const std::string& name) const;  // given on the command line (or has a default)
  bool on(const std::string& name) const;   // boolean switch given
  std::string get(const std::string& name) const;  // value or default ("" if none)
  std::string required(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t def) const;
  double get_double(const std::string& name, double def) const;
  std::vector<float> get_floats(const std::string& name) const;  // comma separated
  std::vector<std::string> get_list(const std::string& name) const;  // comma separated
  const std::vector<std::string>& positional() const { return pos_; }
  std::string help() const;

 private:
  struct Opt {
    std::string metavar, help, def;
  };
  std::string command_, usage_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> pos_;
};

}  // namespace octet::cli
