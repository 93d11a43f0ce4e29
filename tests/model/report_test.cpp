// octet report's data (api/report.h) on models/fmnist_cnn.onnx with seeded random inputs: the threshold it shows
// as chosen is the cache's (also where it differs from the algorithm's, as after refinement), its candidates,
// algorithm threshold, histograms and clipped share are calibration's own on the same data; and the page embeds
// the data so that no tensor name can end its script element.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <unistd.h>

#include "api/report.h"
#include "calib/session.h"
#include "onnx/import.h"
#include "runtime/plan.h"
#include "test_util.h"

using namespace octet;
using nlohmann::json;

namespace {

std::string fmnist() { return test::source_dir() + "/models/fmnist_cnn.onnx"; }

std::vector<Tensor> inputs() {
  std::vector<Tensor> b;
  for (uint32_t i = 0; i < 3; ++i) b.push_back(test::random_f32({4, 1, 28, 28}, 17 + i, -0.8f, 2.0f));
  return b;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(Report, ShowsTheCacheThresholdsAndCalibrationsCandidates) {
  const Graph g = import_onnx_file(fmnist()).graph;
  CalibSession s(g, {});
  for (int pass = 0; pass < 2; ++pass) {
    if (pass) s.next_pass();
    for (const Tensor& x : inputs()) s.observe({x});
  }
  CalibTable table = s.table();
  // One threshold moved away from the algorithm's, as the refinement does: the report must show the cache's.
  const std::string moved = table.entries[3].name;
  table.entries[3].amax *= 0.5f;
  const auto dir = std::filesystem::temp_directory_path() / ("octet_report_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cache = (dir / "c.cache").string();
  write_cache_file(cache, to_cache(table));
  api::TuneInput in = api::load_tune_input(cache);
  std::map<std::string, float> amax;
  for (const CalibEntry& e : in.table.entries) amax[e.name] = e.amax;
  PlanOptions qo;
  qo.int8_amax = amax;
  auto fp32 = Plan::build(g, PlanOptions{});
  auto int8 = Plan::build(g, qo);
  api::ReportBuilder b(g, *fp32, *int8, in, api::ReportOptions{});
  for (int pass = 0; pass < 2; ++pass) {
    if (pass) b.next_pass();
    for (const Tensor& x : inputs()) b.add(x, {});
  }
  const json j = b.finish();
  std::filesystem::remove_all(dir);

  ASSERT_EQ(j["tensors"].size(), s.observer_count());
  const CalibTable algo = s.table();
  bool saw_moved = false;
  for (size_t i = 0; i < s.observer_count(); ++i) {
    const json& t = j["tensors"][i];
    const std::string name = s.observer_name(i);
    const TensorObserver& obs = s.observer(i);
    ASSERT_EQ(t["name"], name);
    EXPECT_EQ(t["chosen"].get<float>(), in.table.find(name)->amax) << name;
    EXPECT_EQ(t["algo_amax"].get<float>(), algo.find(name)->amax) << name;
    for (const auto& [k, v] : candidate_amax(obs.hist(), obs.stats(), table.params))
      EXPECT_EQ(t["candidates"][k].get<float>(), v) << name << " " << k;
    EXPECT_EQ(t["candidates"]["entropy"].get<float>(), compute_amax(obs.hist(), obs.stats(), Algo::Entropy, table.params));
    uint64_t total = 0;
    for (const auto& c : t["hist"]["counts"]) total += c.get<uint64_t>();
    EXPECT_EQ(total, obs.hist().total()) << name;
    EXPECT_DOUBLE_EQ(t["clipped"].get<double>(), clipped_fraction(obs.hist(), t["chosen"].get<float>())) << name;
    if (name == moved) {
      saw_moved = true;
      EXPECT_NE(t["chosen"].get<float>(), t["algo_amax"].get<float>());
      EXPECT_GT(t["clipped"].get<double>(), 0.0);
    }
    EXPECT_FALSE(t["kl"]["y"].empty()) << name;
  }
  EXPECT_TRUE(saw_moved);
  const json& sum = j["summary"];
  EXPECT_EQ(sum["images"], 12);
  EXPECT_EQ(sum["labelled"], 0);
  EXPECT_TRUE(sum["fp32_top1"].is_null());
  EXPECT_GE(sum["agreement"].get<double>(), 0.0);
  EXPECT_GT(sum["int8_layers"].get<int>(), 0);
  // Millions of MACs in the convs, all of which run INT8.
  EXPECT_GT(sum["macs"].get<int64_t>(), 1000000);
  EXPECT_GT(sum["int8_mac_share"].get<double>(), 0.9);
  for (const auto& i : j["cliff"]) EXPECT_TRUE(j["tensors"][i.get<size_t>()]["measured"].get<bool>());
}

TEST(Report, PageEmbedsDataSoNoNameEndsTheScript) {
  const json hostile{{"format", "octet-report"}, {"tensors", json::array({json{{"name", "</script><script>x()</script><!--&"}}})}};
  const json plain{{"format", "octet-report"}, {"tensors", json::array({json{{"name", "x"}}})}};
  const std::string h = api::report_html(hostile), p = api::report_html(plain);
  EXPECT_EQ(count(h, "</script"), count(p, "</script"));
  EXPECT_EQ(count(h, "<!--"), count(p, "<!--"));
  const std::string open = "id=\"octet-data\">";
  const size_t a = h.find(open) + open.size(), e = h.find("</script>", a);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(json::parse(h.substr(a, e - a)), hostile);
  // Self-contained: nothing the browser would fetch.
  EXPECT_EQ(h.find("http://"), h.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(h.find("https://"), std::string::npos);
  EXPECT_EQ(h.find(" src="), std::string::npos);
}

// Letterboxed data: the report's histograms leave the padding out as octet calibrate's default does (the same
// counts as a calibration session given the boxes), and keep it where the cache's sidecar says the calibration
// kept it (--calib-padding include).
TEST(Report, HistogramsLeaveLetterboxPaddingOutAsTheCalibrationDid) {
  const Graph g = import_onnx_file(fmnist()).graph;
  ContentBox box;  // the image fills the top 20 of 28 rows
  box.in_h = box.in_w = 28;
  box.height = 20;
  box.width = 28;
  const std::vector<ContentBox> boxes(4, box);
  CalibSession with(g, {}), without(g, {});
  for (int pass = 0; pass < 2; ++pass) {
    if (pass) {
      with.next_pass();
      without.next_pass();
    }
    for (const Tensor& x : inputs()) {
      with.observe({x}, boxes);
      without.observe({x});
    }
  }
  const auto dir = std::filesystem::temp_directory_path() / ("octet_report_pad_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cache = (dir / "c.cache").string();
  write_cache_file(cache, to_cache(with.table()));
  auto fp32 = Plan::build(g, PlanOptions{});
  auto totals = [&](bool sidecar_says_include) {
    api::TuneInput in = api::load_tune_input(cache);
    if (sidecar_says_include) in.meta.calib_padding = json{{"mode", "include"}};
    std::map<std::string, float> amax;
    for (const CalibEntry& e : in.table.entries) amax[e.name] = e.amax;
    PlanOptions qo;
    qo.int8_amax = amax;
    auto int8 = Plan::build(g, qo);
    api::ReportBuilder b(g, *fp32, *int8, in, api::ReportOptions{});
    for (int pass = 0; pass < 2; ++pass) {
      if (pass) b.next_pass();
      for (const Tensor& x : inputs()) b.add(x, {}, boxes);
    }
    const json j = b.finish();
    std::map<std::string, uint64_t> t;
    for (const json& e : j["tensors"]) {
      uint64_t total = 0;
      for (const auto& c : e["hist"]["counts"]) total += c.get<uint64_t>();
      t[e["name"].get<std::string>()] = total;
    }
    return t;
  };
  const auto excluded = totals(false), included = totals(true);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(excluded.size(), with.observer_count());
  int masked = 0;
  for (size_t i = 0; i < with.observer_count(); ++i) {
    const std::string& name = with.observer_name(i);
    EXPECT_EQ(excluded.at(name), with.observer(i).hist().total()) << name;
    EXPECT_EQ(included.at(name), without.observer(i).hist().total()) << name;
    masked += with.observer(i).hist().total() < without.observer(i).hist().total();
  }
  EXPECT_GT(masked, 0);  // the box leaves something out (the input and the conv maps)
}
