// octet — INT8 post-training quantization for ONNX models. Entry point: dispatches to a subcommand.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "core/cpus.h"
#include "core/error.h"
#include "core/warnings.h"
#include "core/version.h"
#include "octet/log.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"info", octet::cli::cmd_info, "inputs, outputs, op counts and unsupported ops of a model"},
    {"run", octet::cli::cmd_run, "run a model on .npy inputs and write .npy outputs"},
    {"eval", octet::cli::cmd_eval, "top-1 accuracy on a labelled image folder or IDX set; --task detect|segment"},
    {"calibrate", octet::cli::cmd_calibrate, "calibrate on data, write a TensorRT calibration cache + JSON sidecar"},
    {"cache", octet::cli::cmd_cache, "show, diff or convert calibration caches"},
    {"tune", octet::cli::cmd_tune, "repair INT8 accuracy: per-tensor thresholds and automatic mixed precision"},
    {"report", octet::cli::cmd_report, "one HTML page of where INT8 loses accuracy: histograms, thresholds, SQNR per layer"},
    {"quantize", octet::cli::cmd_quantize, "write a Q/DQ ONNX model (TensorRT explicit INT8, ONNX Runtime QDQ)"},
    {"convert", octet::cli::cmd_convert, "scales between TensorRT caches, ORT calibration tables, Q/DQ models"},
    {"build", octet::cli::cmd_build, "optimize (and quantize) a model once and save it as a plan file"},
    {"bench", octet::cli::cmd_bench, "throughput and latency percentiles, like trtexec"},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: octet <command> [options]   (octet <command> --help for details)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(f, "  %-10s %s\n", c.name, c.summary);
}

// Idle CPUs now: the idle share of all CPUs' time over ~30 ms (/proc/stat: idle + iowait ticks), times the
// number of online CPUs; -1 when /proc/stat cannot be read.
double idle_cpus_now() {
  auto sample = [](unsigned long long& idle, unsigned long long& total) {
    FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return false;
    unsigned long long v[10] = {};
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                              &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    std::fclose(f);
    if (n < 5) return false;
    idle = v[3] + v[4];
    total = 0;
    for (int i = 0; i < n && i < 8; ++i) total += v[i];  // guest times (8, 9) are already in user time
    return true;
  };
  unsigned long long i0, t0, i1, t1;
  if (!sample(i0, t0)) return -1;
  usleep(30000);
  if (!sample(i1, t1) || t1 <= t0) return -1;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<double>(i1 - i0) / static_cast<double>(t1 - t0) * static_cast<double>(cpus > 0 ? cpus : 1);
}

// OpenMP waiting. Between parallel regions libgomp's workers either spin (default: ~300,000 iterations) or
// sleep on a futex (OMP_WAIT_POLICY=passive). When the cores are shared with other work a spinning worker and
// the thread it waits for fight over one core and octet runs 10-100x slower (docs/benchmarks.md, "Finding");
// on idle cores the opposite holds: waking a sleeping worker (an idle CPU, or a halted virtual CPU) costs
// ~50 us per parallel region, and a small model at batch 1 runs up to 16x slower passive than spinning
// ("OpenMP wait policy default"). libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded --
// before main() -- so when the user set neither, octet measures how many CPUs are idle (~30 ms) and sets
// GOMP_SPINCOUNT=3000 (a short spin, enough to bridge the gap between two regions) when all but half a CPU of
// those it may run on are idle, else OMP_WAIT_POLICY=passive, then execs this binary again, once
// (OCTET_OMP_DEFAULTS=applied marks the second run). The choice is made at start: a machine that gets busy
// later keeps the short spin. Either variable set by the user is left alone; setting OCTET_OMP_DEFAULTS (any
// value) turns the re-exec off.
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
  const int usable = octet::usable_cpus();
  const bool spin = idle_cpus_now() >= static_cast<double>(usable) - 0.5;
  const int ok = spin ? setenv("GOMP_SPINCOUNT", "3000", 0) : setenv("OMP_WAIT_POLICY", "passive", 0);
  if (ok != 0 || setenv("OCTET_OMP_DEFAULTS", "applied", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): run on with libgomp's defaults; the variables set above only reach children.
}

}  // namespace

int main(int argc, char** argv) {
  apply_omp_defaults(argc, argv);
  // The library's notes and warnings, printed as octet always printed them; none with --quiet. Repeated
  // warnings (core/warnings.h) are summarized at the end of the command.
  octet::WarningCollector warnings;
  warnings.set_no_list_hint("--all-warnings prints every one");
  octet::set_log_handler([](octet::LogLevel level, const std::string& text) {
    if (octet::cli::message_settings().quiet) return;
    std::fflush(stdout);  // in a log of both streams, a message lands after the lines printed before it
    std::fprintf(stderr, "%s: %s\n", level == octet::LogLevel::note ? "note" : "warning", text.c_str());
  });
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
      const int rc = c.fn(argc - 2, argv + 2);
      std::fflush(stdout);  // the summary comes after what the command printed
      warnings.summarize();
      return rc;
    } catch (const octet::Error& e) {
      std::fflush(stdout);
      warnings.summarize();
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
