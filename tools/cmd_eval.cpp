// octet eval MODEL --data DIR <preprocessing>: top-1 accuracy over a labelled set.
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "core/progress.h"

namespace octet::cli {

namespace {
// Index of the largest of n values (first on ties, like numpy.argmax).
int64_t argmax(const float* p, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (p[i] > p[best]) best = i;
  return best;
}
}  // namespace

int cmd_eval(int argc, char** argv) {
  Args a("eval", "MODEL.onnx --data PATH [preprocessing] [options]",
         "Top-1 accuracy of a classifier over a labelled image folder (sub-folders = classes, sorted) or IDX set.\n"
         "The first output must be N x K scores.");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("batch", "N", "batch size", "32");
  a.opt("precision", "P", "fp32", "fp32");
  a.opt("json", "FILE", "write {\"fp32\": {\"top1\": ..., \"images\": ...}} to FILE");
  a.flag("quiet", "no progress line");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet eval: give exactly one model file");
  for (const auto& p : a.get_list("precision"))
    OCTET_CHECK(p == "fp32", "octet eval: --precision ", p, " is not available yet (fp32 only)");
  int64_t batch = a.get_int("batch", 32);
  OCTET_CHECK(batch > 0, "--batch must be positive");
  auto plan = load_plan(a.positional()[0], a);
  auto data = open_data(a, true);
  Batcher batcher(*data, preprocess_from_args(a), batch, input_chw(*plan), a.on("skip-bad-images"));
  Progress progress("eval", static_cast<int64_t>(data->size()), a.on("quiet"));
  int64_t seen = 0, correct = 0;
  while (int64_t n = batcher.next()) {
    Tensor x = n < batch ? batcher.batch().first(n) : batcher.batch();
    auto outs = plan->run({x});
    const Tensor& y = outs[0];
    OCTET_CHECK(y.rank() == 2 && y.dim(0) == n, "octet eval: output '", plan->graph().value(plan->graph().outputs[0]).name,
                "' is ", shape_str(y.shape()), "; expected N x classes");
    int64_t k = y.dim(1);
    for (int64_t i = 0; i < n; ++i) {
      int label = batcher.labels()[static_cast<size_t>(i)];
      OCTET_CHECK(label < k, "label ", label, " is outside the model's ", k, " classes");
      correct += argmax(y.data<float>() + i * k, k) == label;
    }
    seen += n;
    progress.update(static_cast<int64_t>(batcher.position()));
  }
  progress.finish();
  OCTET_CHECK(seen > 0, "octet eval: no images could be evaluated");
  double top1 = static_cast<double>(correct) / static_cast<double>(seen);
  std::printf("fp32  top-1 %.2f%%  (%lld / %lld images)\n", 100.0 * top1, static_cast<long long>(correct),
              static_cast<long long>(seen));
  if (batcher.skipped()) std::printf("skipped %zu unreadable images\n", batcher.skipped());
  if (a.has("json")) write_json(a.get("json"), {{"fp32", {{"top1", top1}, {"images", seen}}}});
  return 0;
}

}  // namespace octet::cli
