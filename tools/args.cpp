#include "args.h"

#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/warnings.h"

namespace octet::cli {

Args::Args(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

Args& Args::opt(const std::string& name, const std::string& metavar, const std::string& help, const std::string& def) {
  opts_[name] = {metavar, help, def};
  order_.push_back(name);
  return *this;
}

MessageSettings& message_settings() {
  static MessageSettings s;
  return s;
}

bool Args::parse(int argc, char** argv) {
  // Every subcommand: --quiet (a command may declare it with its own help) and --all-warnings.
  if (!opts_.count("quiet")) flag("quiet", "no notes or warnings (errors and results still print)");
  if (!opts_.count("all-warnings")) flag("all-warnings", "print every warning (default: the first 3 of each kind, then a count)");
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && opts_.count("output")) a = "--output";  // the one short option: -o FILE
    if (a == "-h" || a == "--help") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      auto it = opts_.find(name);
      if (it == opts_.end()) fail("unknown option '--", name, "' (see octet ", command_, " --help)");
      if (it->second.metavar.empty()) {
        OCTET_CHECK(!inline_value, "--", name, " takes no value");
        values_[name] = "1";
      } else {
        if (!inline_value) {
          OCTET_CHECK(i + 1 < argc, "--", name, " needs a value (", it->second.metavar, ")");
          value = argv[++i];
        }
        values_[name] = value;
      }
    } else {
      pos_.push_back(a);
    }
  }
  message_settings().quiet = on("quiet");
  message_settings().all_warnings = on("all-warnings");
  if (on("all-warnings"))
    if (WarningCollector* c = WarningCollector::active()) c->show_all();
  return true;
}

bool Args::has(const std::string& name) const {
  if (values_.count(name)) return true;
  auto it = opts_.find(name);
  return it != opts_.end() && !it->second.def.empty();
}
bool Args::on(const std::string& name) const { return values_.count(name) != 0; }

std::string Args::get(const std::string& name) const {
  auto v = values_.find(name);
  if (v != values_.end()) return v->second;
  auto it = opts_.find(name);
  return it == opts_.end() ? "" : it->second.def;
}

std::string Args::required(const std::string& name) const {
  OCTET_CHECK(has(name), "--", name, " is required (see octet ", command_, " --help)");
  return get(name);
}

int64_t Args::get_int(const std::string& name, int64_t def) const {
  if (!has(name)) return def;
  std::string s = get(name);
  try {
    size_t pos = 0;
    int64_t v = std::stoll(s, &pos);
    if (pos == s.size()) return v;
  } catch (...) {
  }
  fail("--", name, " expects an integer, got '", s, "'");
}

double Args::get_double(const std::string& name, double def) const {
  if (!has(name)) return def;
  std::string s = get(name);
  try {
    size_t pos = 0;
    double v = std::stod(s, &pos);
    if (pos == s.size()) return v;
  } catch (...) {
  }
  fail("--", name, " expects a number, got '", s, "'");
}

std::vector<std::string> Args::get_list(const std::string& name) const {
  std::vector<std::string> out;
  if (!has(name)) return out;
  std::stringstream ss(get(name));
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

std::vector<float> Args::get_floats(const std::string& name) const {
  std::vector<float> out;
  for (const auto& s : get_list(name)) {
    try {
      size_t pos = 0;
      float v = std::stof(s, &pos);
      if (pos == s.size()) {
        out.push_back(v);
        continue;
      }
    } catch (...) {
    }
    fail("--", name, " expects comma-separated numbers, got '", get(name), "'");
  }
  return out;
}

std::string Args::help() const {
  std::ostringstream os;
  os << "usage: octet " << command_ << " " << usage_ << "\n\n" << summary_ << "\n\noptions:\n";
  for (const auto& name : order_) {
    const Opt& o = opts_.at(name);
    std::string left = "  --" + name + (o.metavar.empty() ? "" : " " + o.metavar);
    os << left;
    if (left.size() < 28) os << std::string(28 - left.size(), ' ');
    else os << "\n" << std::string(28, ' ');
    os << o.help;
    if (!o.def.empty()) os << " (default " << o.def << ")";
    os << "\n";
  }
  os << "  -h, --help                show this help\n";
  return os.str();
}

}  // namespace octet::cli
