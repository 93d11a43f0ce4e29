// Calibrate, build and run an INT8 engine with octet's public API only (include/octet/), as a program built
// out of tree against the installed package (examples/CMakeLists.txt, scripts/test_package.sh).
//
//   quantize_and_run MODEL.onnx DATA [N] [MEAN STD]
//
// DATA: an IDX set (e.g. /usr/share/datasets/fashion-mnist/t10k), an image folder, or a .npy of N x C x H x W
// float32 samples. Calibrates on the first N samples (default 256) in two phases through a CalibrationSession
// (two shards merged, as separate processes would), builds FP32 and INT8 engines, runs both on the samples and
// prints INT8 top-1 (labelled data) and its agreement with FP32.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <octet/octet.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.onnx DATA [N] [MEAN STD]\n", argv[0]);
    return 2;
  }
  try {
    const std::string model_path = argv[1];
    octet::DataOptions data;
    data.path = argv[2];
    data.limit = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 256;
    if (argc > 5) {
      data.preprocess.mean = {std::strtof(argv[4], nullptr)};
      data.preprocess.std = {std::strtof(argv[5], nullptr)};
    }
    int notes = 0;
    octet::set_log_handler([&](octet::LogLevel level, const std::string& text) {
      ++notes;
      std::fprintf(stderr, "[octet %s] %s\n", level == octet::LogLevel::note ? "note" : "warning", text.c_str());
    });

    octet::Model model = octet::Model::load(model_path);
    const std::string input = model.inputs().at(0).name;
    const bool labelled = data.path.size() < 4 || data.path.substr(data.path.size() - 4) != ".npy";
    octet::Samples s = octet::load_samples(model, data, labelled);
    const int64_t n = s.data.shape()[0];
    const octet::Shape& shape = s.data.shape();
    const int64_t per = s.data.numel() / n;
    std::printf("model %s: input '%s', %lld samples from %s\n", model_path.c_str(), input.c_str(),
                static_cast<long long>(n), data.path.c_str());

    // Calibration in phases: two shards observe separately, a coordinator merges their observer state.
    auto view = [&](int64_t from, int64_t count) {
      octet::Shape sh = shape;
      sh[0] = count;
      return octet::TensorView::of(s.data.data<float>() + from * per, sh);
    };
    const int64_t half = n / 2;
    octet::CalibrationSession a(model), b(model), coordinator(model);
    for (int pass = 0; pass < coordinator.passes(); ++pass) {
      if (pass > 0) {
        const std::string merged = coordinator.export_state();
        a.import_state(merged);
        b.import_state(merged);
        a.next_pass();
        b.next_pass();
        coordinator.next_pass();
      }
      for (int64_t i = 0; i < half; i += 16) a.observe({{input, view(i, std::min<int64_t>(16, half - i))}});
      for (int64_t i = half; i < n; i += 16) b.observe({{input, view(i, std::min<int64_t>(16, n - i))}});
      coordinator.merge_state(a.export_state());
      coordinator.merge_state(b.export_state());
    }
    const std::string cache_text = coordinator.finish();
    octet::ScaleTable table;
    {
      // The cache text -> a scale table (amax per tensor) for the engine.
      const std::string path = "quantize_and_run.cache";
      FILE* f = std::fopen(path.c_str(), "wb");
      if (!f) throw octet::Error("cannot write " + path);
      std::fwrite(cache_text.data(), 1, cache_text.size(), f);
      std::fclose(f);
      table = octet::read_scales(path);
    }
    std::printf("calibrated %zu tensors (%s)\n", table.entries.size(), table.header.c_str());

    octet::EngineOptions fp32;
    fp32.precision = octet::Precision::fp32;
    octet::EngineOptions int8;
    int8.precision = octet::Precision::int8;
    int8.amax = table.amax();
    octet::Engine e32 = octet::Engine::build(model, fp32);
    octet::Engine e8 = octet::Engine::build(model, int8);
    const std::string output = e8.outputs().at(0).name;
    auto y32 = e32.run({{input, s.data.view()}}).at(output);
    auto y8 = e8.run({{input, s.data.view()}}).at(output);
    std::printf("engine: %s, %s, output '%s' %lldx%lld\n", e8.backend().c_str(), octet::precision_name(e8.precision()),
                output.c_str(), static_cast<long long>(y8.shape()[0]), static_cast<long long>(y8.shape()[1]));
    if (!s.labels.empty())
      std::printf("top-1: fp32 %.2f%%  int8 %.2f%%\n", 100.0 * octet::top1_accuracy(y32, s.labels),
                  100.0 * octet::top1_accuracy(y8, s.labels));
    const double agree = octet::agreement(y32, y8);
    std::printf("agreement %.2f%% of top-1 predictions equal; output SQNR %.1f dB\n", 100.0 * agree,
                octet::sqnr_db(y32, y8));
    if (e8.precision() != octet::Precision::int8 || agree < 0.9) {
      std::fprintf(stderr, "error: INT8 engine disagrees with FP32\n");
      return 1;
    }
  } catch (const octet::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
