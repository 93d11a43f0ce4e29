#include "core/warnings.h"

#include <map>

#include "octet/log.h"

namespace octet {

namespace {
std::mutex& active_mutex() {
  static std::mutex m;
  return m;
}
WarningCollector*& active_ptr() {
  static WarningCollector* p = nullptr;
  return p;
}
}  // namespace

WarningCollector::WarningCollector(int shown_per_kind) : shown_per_kind_(shown_per_kind) {
  std::lock_guard<std::mutex> lock(active_mutex());
  previous_ = active_ptr();
  active_ptr() = this;
}

WarningCollector::~WarningCollector() {
  std::lock_guard<std::mutex> lock(active_mutex());
  if (active_ptr() == this) active_ptr() = previous_;
}

WarningCollector* WarningCollector::active() {
  std::lock_guard<std::mutex> lock(active_mutex());
  return active_ptr();
}

void WarningCollector::add_full_list(const std::string& where) {
  std::lock_guard<std::mutex> lock(m_);
  for (const auto& w : full_list_)
    if (w == where) return;
  full_list_.push_back(where);
}

void WarningCollector::show_all() {
  std::lock_guard<std::mutex> lock(m_);
  shown_per_kind_ = 1 << 30;
}

void WarningCollector::set_no_list_hint(const std::string& hint) {
  std::lock_guard<std::mutex> lock(m_);
  no_list_hint_ = hint;
}

std::vector<CollectedWarning> WarningCollector::all() const {
  std::lock_guard<std::mutex> lock(m_);
  return all_;
}

void WarningCollector::add(const std::string& kind, const std::string& text) {
  bool show = false;
  {
    std::lock_guard<std::mutex> lock(m_);
    int same = 0;
    for (size_t i = summarized_; i < all_.size(); ++i) same += all_[i].kind == kind;
    show = same < shown_per_kind_;
    all_.push_back({kind, text});
  }
  // Outside the lock: the handler may be slow or log itself.
  if (show) log_message(LogLevel::warning, text);
}

int WarningCollector::summarize() {
  std::vector<std::string> lines;
  int hidden_total = 0;
  {
    std::lock_guard<std::mutex> lock(m_);
    std::vector<std::string> kinds;  // in order of first appearance
    std::map<std::string, int> count;
    for (size_t i = summarized_; i < all_.size(); ++i)
      if (count[all_[i].kind]++ == 0) kinds.push_back(all_[i].kind);
    summarized_ = all_.size();
    std::string where;
    for (size_t i = 0; i < full_list_.size(); ++i) where += (i ? " and " : "") + full_list_[i];
    for (const auto& k : kinds) {
      int hidden = count[k] - shown_per_kind_;
      if (hidden <= 0) continue;
      if (hidden == 1) {  // one line either way: the warning itself
        for (size_t i = all_.size(); i-- > 0;)
          if (all_[i].kind == k) {
            lines.push_back(all_[i].text);
            break;
          }
        continue;
      }
      hidden_total += hidden;
      lines.push_back(std::to_string(hidden) + " more " + k + " warning" + (hidden == 1 ? "" : "s") +
                      " like the above (" + std::to_string(count[k]) + " in all; " +
                      (where.empty() ? no_list_hint_ : "the full list: " + where) + ")");
    }
  }
  for (const auto& l : lines) log_message(LogLevel::warning, l);
  return hidden_total;
}

void warn(const std::string& kind, const std::string& text) {
  if (WarningCollector* c = WarningCollector::active()) c->add(kind, text);
  else log_message(LogLevel::warning, text);
}

}  // namespace octet
