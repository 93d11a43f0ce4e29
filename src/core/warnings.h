// Repeated warnings, summarized (issue 16: "warnings people can act on").
//
// warn(kind, text) is how octet reports a warning that may come once per tensor, node or sample (a health
// flag of calibration, an asymmetric Q/DQ pair converted, a skipped image). With no WarningCollector alive it
// goes to the log handler as it is (log_message, LogLevel::warning). While one is alive (the CLI keeps one
// per command), the first `shown_per_kind` warnings of each kind are logged as they come, the rest are only
// counted, and every one is kept, so that a --json output or a sidecar can list them all; summarize() then
// logs one line per kind that had more:
//   warning: 264 more never_observed warnings like the above (267 in all; the full list: 'm.cache.json')
// One collector at a time per process (a second one replaces the first until it is destroyed).
#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace octet {

struct CollectedWarning {
  std::string kind;  // short and stable: "never_observed", "heavy_clipping", "qdq_asymmetric", ...
  std::string text;  // one line naming the thing: "tensor 'x': ..."
};

class WarningCollector {
 public:
  explicit WarningCollector(int shown_per_kind = 3);
  ~WarningCollector();
  WarningCollector(const WarningCollector&) = delete;
  WarningCollector& operator=(const WarningCollector&) = delete;

  // Where the full list is written ("'m.cache.json'", "--json 'r.json'"); summarize() names every one given.
  void add_full_list(const std::string& where);
  // What summarize() says when no full list was written ("--all-warnings prints every one").
  void set_no_list_hint(const std::string& hint);
  // Shows every warning as it comes (nothing left to summarize).
  void show_all();
  std::vector<CollectedWarning> all() const;
  // Logs one line per kind that had more than shown_per_kind warnings; returns how many were not shown.
  // Later warnings are collected and summarized again by a later call.
  int summarize();

  void add(const std::string& kind, const std::string& text);  // what warn() calls while this one is active
  static WarningCollector* active();

 private:
  int shown_per_kind_;
  mutable std::mutex m_;
  std::vector<CollectedWarning> all_;
  std::vector<std::string> full_list_;
  std::string no_list_hint_ = "not written anywhere else";
  size_t summarized_ = 0;  // all_[0, summarized_) were summarized already
  WarningCollector* previous_ = nullptr;
};

// A warning of `kind`: to the active collector, else straight to the log handler.
void warn(const std::string& kind, const std::string& text);

}  // namespace octet
