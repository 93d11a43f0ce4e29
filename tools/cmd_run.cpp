// octet run MODEL --input X.npy|X.npz [--output Y.npy|Y.npz]: one inference on numpy data.
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "core/file_io.h"
#include "io/npy.h"

namespace octet::cli {

int cmd_run(int argc, char** argv) {
  Args a("run", "MODEL.onnx --input X.npy|X.npz [--output Y.npy|Y.npz]",
         "Run a model once. A .npy input feeds a single-input model; a .npz maps input names to arrays.\n"
         "With one output and a .npy --output the array is written as is; otherwise a .npz keyed by output name.");
  a.opt("input", "FILE", "input data (.npy or .npz)");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("save-input", "FILE", "with --data: also write the preprocessed input batch as .npy");
  a.opt("batch", "N", "run N samples at a time (default: all at once; a model of fixed batch B runs B at a time)");
  a.opt("precision", "P", "fp32 or int8 (int8 needs --cache)", "fp32");
  add_int8_options(a);
  a.opt("output", "FILE", "where to write the outputs (.npy or .npz); existing files are not overwritten without --force");
  a.flag("force", "overwrite an existing --output / --save-input file");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet run: give exactly one model file");
  OCTET_CHECK(a.has("input") != a.has("data"), "octet run: give either --input FILE or --data PATH");
  std::string in_path = a.get("input");
  std::string out_path = a.get("output");
  // Outputs are checked before the work (core/file_io.h): only a regular file is replaced, only with --force.
  if (!out_path.empty()) check_output(out_path, a.on("force"), "--output");
  if (a.has("save-input")) {
    OCTET_CHECK(a.has("data"), "octet run: --save-input needs --data");
    check_output(a.get("save-input"), a.on("force"), "--save-input");
  }
  const std::string precision = a.get("precision");
  OCTET_CHECK(precision == "fp32" || precision == "int8", "octet run: --precision is fp32 or int8");
  auto plan = load_plan(a.positional()[0], a, precision);
  const Graph& g = plan->graph();
  std::vector<Tensor> inputs;
  auto ends_with = [](const std::string& s, const char* suf) {
    std::string x(suf);
    return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (a.has("data")) {
    // All samples of the data set as one batch, preprocessed as for eval/calibrate.
    auto data = open_data(a, false);
    Batcher batcher(*data, preprocess_from_args(a), static_cast<int64_t>(data->size()), input_chw(*plan),
                    a.on("skip-bad-images"));
    int64_t n = batcher.next();
    inputs.push_back(batcher.batch().first(n).clone());
    if (batcher.preprocess().size_from_image() && batcher.next() > 0)
      fail("octet run: the images of '", data->source(), "' give inputs of different sizes (",
           shape_str(inputs[0].shape()), " first, then ", shape_str(batcher.batch().shape()), " from '",
           data->sample_name(batcher.indices()[0]), "'); octet run writes one array: give --size, or --limit-side "
           "with images of one aspect ratio");
    if (a.has("save-input")) write_npy(a.get("save-input"), inputs[0]);
  } else if (ends_with(in_path, ".npz")) {
    auto arrays = read_npz(in_path);
    for (int v : g.inputs) {
      auto it = arrays.find(g.value(v).name);
      OCTET_CHECK(it != arrays.end(), "'", in_path, "' has no array named '", g.value(v).name, "' (the model's input)");
      inputs.push_back(it->second);
    }
  } else {
    OCTET_CHECK(g.inputs.size() == 1, "the model has ", g.inputs.size(), " inputs; give a .npz keyed by input name");
    inputs.push_back(read_npy(in_path));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g.value(g.inputs[i]);
    if (inputs[i].dtype() != v.dtype) fail("input '", v.name, "' expects ", dtype_name(v.dtype), ", '", in_path, "' holds ",
                                           dtype_name(inputs[i].dtype()));
    if (inputs[i].numel() == 0)
      fail("input '", v.name, "' has ", inputs[i].rank() > 0 && inputs[i].dim(0) == 0 ? "0 samples" : "no values",
           " (shape ", shape_str(inputs[i].shape()), "); nothing to run");
  }
  const int64_t chunk = a.get_int("batch", 0);
  OCTET_CHECK(!a.has("batch") || chunk >= 1, "--batch must be >= 1");
  auto outs = run_in_chunks(*plan, inputs, chunk);
  for (size_t i = 0; i < outs.size(); ++i)
    std::printf("output %s  %s  %s\n", g.value(g.outputs[i]).name.c_str(), dtype_name(outs[i].dtype()),
                shape_str(outs[i].shape()).c_str());
  if (!out_path.empty()) {
    if (ends_with(out_path, ".npz")) {
      std::map<std::string, Tensor> m;
      for (size_t i = 0; i < outs.size(); ++i) m[g.value(g.outputs[i]).name] = outs[i];
      write_npz(out_path, m);
    } else {
      OCTET_CHECK(outs.size() == 1, "the model has ", outs.size(), " outputs; use a .npz --output");
      write_npy(out_path, outs[0]);
    }
  }
  return 0;
}

}  // namespace octet::cli
