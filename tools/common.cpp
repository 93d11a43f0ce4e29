#include "common.h"

#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "onnx/import.h"

namespace octet::cli {

void add_runtime_options(Args& a) {
  a.opt("backend", "NAME", "execution backend: cpu (oneDNN + own kernels) or ref (plain loops)", "cpu");
  a.opt("threads", "T", "threads (0 = all cores)", "0");
}

void apply_threads(const Args& a) {
  int64_t t = a.get_int("threads", 0);
  OCTET_CHECK(t >= 0, "--threads must be >= 0");
  if (t > 0) omp_set_num_threads(static_cast<int>(t));
}

std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, PlanOptions opt) {
  apply_threads(a);
  opt.backend = a.get("backend");
  ImportResult r = import_onnx_file(model);
  return Plan::build(std::move(r.graph), opt);
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::string text = j.dump(2) + "\n";
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    return;
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    OCTET_CHECK(f.good(), "cannot write '", tmp, "'");
    f << text;
    OCTET_CHECK(f.good(), "cannot write '", tmp, "'");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace octet::cli
