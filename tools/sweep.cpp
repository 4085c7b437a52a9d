// sweep — the paper's experiments as one command: a grid of configurations × seeds,
// each a normal run directory, aggregated into one report (src/train/sweep_*.h).
//
//   sweep SPEC.toml [-j J] [--threads T] [--out DIR] [--tools DIR] [--dry-run] [--report-only]
//
// Runs are child processes of build/tools/pretrain and build/tools/evaluate (why: the
// header of src/train/sweep_runner.h). Finished runs are skipped, interrupted ones resumed:
// run the same command again. Ctrl-C stops cleanly (each run saves a checkpoint).
// Exit codes: 0 every run finished, 1 some run failed (the others went on), 2 bad usage
// or sweep file, 130/143 stopped by SIGINT/SIGTERM.
#include <CLI/CLI.hpp>

#include <iostream>

#include "train/sweep_runner.h"
#include "train/sweep_spec.h"
#include "train/tool_main.h"
#include "train/exit_codes.h"

using namespace contra;
using namespace contra::train;

int main(int argc, char** argv) {
  CLI::App app{"contra sweep: run a grid of pretraining configurations over seeds and report mean ± std, the paired "
               "difference to a baseline and PRB against accuracy. File format: README \"tools/sweep\"."};
  std::string spec_path;
  SweepOptions o;
  bool dry_run = false, report_only = false;
  app.add_option("spec", spec_path, "sweep file (TOML: [sweep] [set] [grid] [axes] [baseline] [evaluate])")->required();
  app.add_option("-j,--jobs", o.jobs, "runs at the same time (the threads are split between them)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--threads", o.threads, "compute threads in all (0 = all cores)")->capture_default_str()->check(CLI::Range(0, 4096));
  app.add_option("--out", o.out, "output directory (default: [sweep] out, else sweeps/<name>)");
  app.add_option("--tools", o.tools_dir, "directory holding pretrain and evaluate (default: beside this program)");
  app.add_flag("--dry-run", dry_run, "check the file and list the runs, start nothing");
  app.add_flag("--report-only", report_only, "rewrite the report from the finished runs, start nothing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return exit_code_for_parse(app.exit(e));
  }
  return run_tool([&] {
    const SweepSpec spec = SweepSpec::parse_file(spec_path);
    o.log = [](const std::string& s) { std::cout << s << std::endl; };
    SweepRunner runner(spec, o);
    if (dry_run) {
      for (const auto& p : spec.points)
        for (auto seed : spec.seeds) {
          const PretrainConfig c = spec.config_for(p, seed);
          std::cout << runner.out_dir() << "/runs/" << SweepSpec::run_name(p, seed) << "  " << p.label << "  seed "
                    << seed << "  (" << c.loss << ", " << c.epochs << " epochs)\n";
        }
      return kExitOk;
    }
    if (report_only) {
      runner.write_report();
      std::cout << "report: " << runner.out_dir() << "/report.md\n";
      return kExitOk;
    }
    return runner.run();
  });
}
