// core/warnings: repeated warnings are shown a few per kind, counted, kept in full, and summarized with where
// the full list is; without a collector they go straight to the log handler.
#include "core/warnings.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "octet/log.h"

namespace octet {
namespace {

struct Captured {
  std::vector<std::string> lines;
  LogHandler old;
  Captured() {
    old = set_log_handler([this](LogLevel, const std::string& t) { lines.push_back(t); });
  }
  ~Captured() { set_log_handler(old); }
};

TEST(Warnings, WithoutCollectorEveryWarningIsLogged) {
  Captured cap;
  for (int i = 0; i < 5; ++i) warn("k", "w" + std::to_string(i));
  EXPECT_EQ(cap.lines.size(), 5u);
}

TEST(Warnings, RepeatsAreSummarizedWithTheFullListNamed) {
  Captured cap;
  WarningCollector c(3);
  c.add_full_list("'m.cache.json'");
  for (int i = 0; i < 10; ++i) warn("never_observed", "tensor 't" + std::to_string(i) + "'");
  warn("heavy_clipping", "tensor 'x' clipped");
  ASSERT_EQ(cap.lines.size(), 4u);  // 3 of the first kind, 1 of the second, as they came
  EXPECT_EQ(cap.lines[2], "tensor 't2'");
  EXPECT_EQ(cap.lines[3], "tensor 'x' clipped");
  EXPECT_EQ(c.summarize(), 7);
  ASSERT_EQ(cap.lines.size(), 5u);
  EXPECT_NE(cap.lines[4].find("7 more never_observed warnings"), std::string::npos) << cap.lines[4];
  EXPECT_NE(cap.lines[4].find("10 in all"), std::string::npos) << cap.lines[4];
  EXPECT_NE(cap.lines[4].find("'m.cache.json'"), std::string::npos) << cap.lines[4];
  EXPECT_EQ(c.all().size(), 11u);  // every one kept
  EXPECT_EQ(c.summarize(), 0);     // nothing new
  EXPECT_EQ(cap.lines.size(), 5u);
}

TEST(Warnings, OneHiddenIsShownRatherThanCounted) {
  Captured cap;
  WarningCollector c(2);
  for (int i = 0; i < 3; ++i) warn("k", "w" + std::to_string(i));
  c.summarize();
  ASSERT_EQ(cap.lines.size(), 3u);
  EXPECT_EQ(cap.lines[2], "w2");
}

TEST(Warnings, ShowAllAndCollectorScope) {
  Captured cap;
  {
    WarningCollector c(1);
    c.show_all();
    for (int i = 0; i < 4; ++i) warn("k", "w");
    EXPECT_EQ(c.summarize(), 0);
    EXPECT_EQ(cap.lines.size(), 4u);
  }
  EXPECT_EQ(WarningCollector::active(), nullptr);
  warn("k", "after");
  EXPECT_EQ(cap.lines.back(), "after");
}

}  // namespace
}  // namespace octet
