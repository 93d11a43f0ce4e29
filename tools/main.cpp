// octet — INT8 post-training quantization for ONNX models. Entry point: dispatches to a subcommand.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <unistd.h>

#include "commands.h"
#include "core/error.h"
#include "core/version.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"info", octet::cli::cmd_info, "inputs, outputs, op counts and unsupported ops of a model"},
    {"run", octet::cli::cmd_run, "run a model on .npy inputs and write .npy outputs"},
    {"eval", octet::cli::cmd_eval, "top-1 accuracy on a labelled image folder or IDX set"},
    {"calibrate", octet::cli::cmd_calibrate, "calibrate on data, write a TensorRT calibration cache + JSON sidecar"},
    {"cache", octet::cli::cmd_cache, "show, diff or convert calibration caches"},
    {"tune", octet::cli::cmd_tune, "repair INT8 accuracy: per-tensor thresholds and automatic mixed precision"},
    {"quantize", octet::cli::cmd_quantize, "write a Q/DQ ONNX model (TensorRT explicit INT8, ONNX Runtime QDQ)"},
    {"convert", octet::cli::cmd_convert, "scales between TensorRT caches, ORT calibration tables, Q/DQ models"},
    {"build", octet::cli::cmd_build, "optimize (and quantize) a model once and save it as a plan file"},
    {"bench", octet::cli::cmd_bench, "throughput and latency percentiles, like trtexec"},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: octet <command> [options]   (octet <command> --help for details)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(f, "  %-10s %s\n", c.name, c.summary);
}

// OpenMP waiting. libgomp's default lets idle workers spin ~300,000 iterations at every barrier before they
// sleep; when the cores are shared with other work a spinning worker and the thread it waits for fight over
// one core and octet runs 10-100x slower (docs/benchmarks.md, "Finding"). libgomp reads OMP_WAIT_POLICY and
// GOMP_SPINCOUNT once, when it is loaded -- before main() -- so setting them here is too late for this
// process: when the user set neither, set OMP_WAIT_POLICY=passive and exec this binary again, once
// (OCTET_OMP_DEFAULTS=applied marks the second run). Passive beat short spins (GOMP_SPINCOUNT 1000, 10000) and the
// default on this project's shared 2-core machine: docs/benchmarks.md, "OpenMP wait policy default". Either
// variable set by the user (e.g. OMP_WAIT_POLICY=active on a dedicated machine) is left alone; setting
// OCTET_OMP_DEFAULTS (any value) turns the re-exec off.
// The re-exec costs one more process start (~80 ms here: octet links many shared libraries), so the commands
// that never run a model in parallel (and help) skip it; every other one — new ones included — gets it.
void apply_omp_defaults(int argc, char** argv) {
  static const char* const kSerial[] = {"info", "cache", "convert", "help", "--help", "-h", "--version"};
  if (argc < 2) return;
  for (const char* c : kSerial)
    if (std::strcmp(argv[1], c) == 0) return;
  for (int i = 2; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return;
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("OCTET_OMP_DEFAULTS")) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 0) != 0 || setenv("OCTET_OMP_DEFAULTS", "applied", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): run on with libgomp's defaults; the variables set above only reach children.
}

}  // namespace

int main(int argc, char** argv) {
  apply_omp_defaults(argc, argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("octet %s\n", octet::kOctetVersion);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.fn(argc - 2, argv + 2);
    } catch (const octet::Error& e) {
      std::fprintf(stderr, "octet %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "octet %s: internal error: %s\n", c.name, e.what());
      return 3;
    }
  }
  std::fprintf(stderr, "octet: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
