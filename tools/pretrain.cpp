// pretrain — contrastive pretraining of a ResNet encoder (see src/train/pretrainer.h).
//
//   pretrain [DATASET] [--preset NAME] [--config FILE.toml] [--<option> VALUE ...]
//
// Resolution: preset (by default the one matching DATASET, or fashion_mnist_lt_small) →
// config file → command-line options. `--help` lists every option with its default;
// `--print-config` prints the resolved configuration as TOML and exits.
// Exit codes: 0 ok, 1 runtime error (also: the step does not fit in memory, no checkpoint
// loads under --resume auto), 2 bad usage/config (also: the run directory is locked by
// another process; --device cuda in a build without CUDA or on a machine without a GPU),
// 3 non-finite loss, 130/143 signal.
//
// Data parallelism: `mpirun -np K pretrain ...` trains on K ranks (train/data_parallel.h).
// Ranks other than 0 print nothing to stdout (errors still go to stderr). A rank that ends
// with a non-zero code leaves without MPI_Finalize, so that mpirun ends the whole job at once
// instead of the others waiting for it.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>

#include "dist/world.h"
#include "tensor/error.h"
#include "tensor/system.h"
#include "train/config.h"
#include "train/device_choice.h"
#include "train/loss_registry.h"
#include "train/pretrainer.h"
#include "train/signals.h"
#include "train/exit_codes.h"

using namespace contra;
using namespace contra::train;

namespace {

std::string preset_for_dataset(const std::string& d) {
  if (d == "cifar10" || d == "cifar100") return "simclr_cifar";
  if (d == "cifar10_lt" || d == "cifar100_lt") return "sdclr_cifar10_lt";
  if (d == "synthetic") return "smoke";
  if (d.rfind("image_folder:", 0) == 0) return "simclr_cifar";
  return "fashion_mnist_lt_small";
}

}  // namespace

int pretrain_main(int argc, char** argv, const std::shared_ptr<dist::Communicator>& world) {
  ignore_file_size_signal();  // past `ulimit -f`, writes fail with EFBIG and are reported
  PretrainConfig defaults;
  apply_preset(defaults, "fashion_mnist_lt_small");
  CLI::App app{"contra pretrain: self-supervised contrastive pretraining (arXiv:2510.10572).\n"
               "Presets:\n" + [] {
                 std::string s;
                 for (auto& [n, d] : preset_descriptions()) s += "  " + n + ": " + d + "\n";
                 return s;
               }()};
  app.get_formatter()->column_width(34);
  std::string dataset, config_file, preset;
  bool print_config = false, weights_only = false, quiet = false, start_over = false, no_sync_bn = false;
  std::map<std::string, std::string> values;
  PaperAliasOptions aliases;
  app.add_option("dataset", dataset, "dataset (overrides data.dataset); its preset is the default preset");
  app.add_option("--config", config_file, "TOML file (sections [data] [model] [loss] [optim] [eval] [run])");
  app.add_option("--preset", preset, "named preset (see above)");
  app.add_flag("--print-config", print_config, "print the resolved configuration as TOML and exit");
  app.add_flag("--weights-only", weights_only, "with --resume PATH: load the weights only and start a new run");
  app.add_flag("--start-over", start_over,
               "with --resume auto: when no checkpoint of the run loads, move them and the logs to "
               "<run>/set-aside-<time>/ and start from step 0 (without it: refused, exit 1)");
  app.add_flag("--quiet", quiet, "no progress line");
  app.add_flag("--no-sync-bn", no_sync_bn,
               "under mpirun -np K > 1: BatchNorm statistics of each rank's slice instead of the global batch");
  app.add_option("--nu", aliases.nu, "ν, the attraction weight as we read the paper (= --attract); --loss balanced only");
  app.add_option("--beta", aliases.beta, "β, the repulsion weight as we read the paper (= --repel); --loss balanced only");
  app.add_option("--rho", aliases.rho, "ρ = β/ν as we read the paper: sets --repel to ρ·attract; with --beta they must "
                 "agree (β = ρ·ν); --loss balanced only");
  app.footer("Losses: " + loss_help() + ".\nLoss options: " + loss_option_rule() + ".");
  for (const auto& f : config_fields()) {
    if (f.key == "data.dataset" || f.key == "run.preset") continue;
    const std::string help = f.help_line(defaults);
    app.add_option(f.flag, values[f.key], help)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return exit_code_for_parse(app.exit(e));
  }

  try {
    PretrainConfig c;
    // 1. preset: explicit, else the one matching the dataset, else the default.
    std::string chosen = preset.empty() ? preset_for_dataset(dataset.empty() ? "fashion_mnist_lt" : dataset) : preset;
    apply_preset(c, chosen);
    // 2. config file (its own run.preset, if any, replaces the preset above).
    if (!config_file.empty()) apply_toml_file(c, config_file);
    // 3. command line.
    if (!dataset.empty()) c.dataset = dataset;
    for (const auto& f : config_fields()) {
      auto it = values.find(f.key);
      if (it != values.end() && app.count(f.flag) > 0) f.set_from_text(c, it->second, f.flag);
    }
    apply_paper_aliases(c, aliases);
    validate(c);
    if (print_config) {
      std::cout << to_toml(c);
      return kExitOk;
    }
    open_device(c.device, "--device");  // a device this build or machine lacks: exit 2 before the run starts
    std::cout << "contra pretrain — resolved configuration (preset " << c.preset << "):\n" << to_toml(c) << std::endl;
    PretrainOptions po;
    po.weights_only = weights_only;
    po.quiet = quiet;
    po.start_over = start_over;
    po.comm = world;
    po.sync_bn = !no_sync_bn;
    Pretrainer p(c, po);
    return p.run();
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntimeError;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory: an allocation failed; the run needs more than it can get, "
              << memory_available_text() << " (hint: lower --batch-size or --width)\n";
    return kExitRuntimeError;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntimeError;
  }
}

int main(int argc, char** argv) {
  std::shared_ptr<dist::Communicator> world;
  try {
    world = dist::init_world(&argc, &argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  }
  if (world->rank() > 0 && !std::freopen("/dev/null", "w", stdout))
    std::cerr << "warning: rank " << world->rank() << ": could not silence stdout\n";
  const int code = pretrain_main(argc, argv, world);
  if (world->size() > 1 && code != kExitOk) {  // see the header: mpirun ends the other ranks
    std::cerr << "pretrain: rank " << world->rank() << " of " << world->size() << " exits with code " << code << "\n";
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
