// The `octet` subcommands, one file each (tools/cmd_<name>.cpp). Each takes the arguments after its name
// and returns the process exit code; errors are thrown as octet::Error and printed by main().
#pragma once

namespace octet::cli {

int cmd_info(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_eval_task(int argc, char** argv);  // eval --task detect|segment
int cmd_bench(int argc, char** argv);
int cmd_calibrate(int argc, char** argv);
int cmd_cache(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_build(int argc, char** argv);
int cmd_tune(int argc, char** argv);
int cmd_report(int argc, char** argv);

}  // namespace octet::cli
