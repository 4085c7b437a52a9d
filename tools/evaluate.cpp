// evaluate — measure a pretrained encoder: kNN, linear probe (full-shot and few-shot),
// per-class and many/medium/few accuracy, prototype representation bias, baselines.
//
//   evaluate RUN_DIR|CHECKPOINT [--dataset NAME] [--knn-k 200] [--knn-temperature 0.1]
//            [--probe-epochs 100] [--few-shot 100,50] [--few-shot-draws 5] [--prb-views 8]
//            [--prb-images 2000] [--no-prb-pretrain] [--no-random-baseline] [--no-pixel-baseline]
//            [--out DIR] [--device cpu|cuda|cuda:N]
//
// The model and the data construction are read from the checkpoint's run configuration
// (written by tools/pretrain). --device runs the encoders' forward passes there (default cpu,
// whatever device the run trained on); kNN and probes run on the host's cached features.
// Results go to RUN_DIR/eval (or --out): results.json,
// summary.csv, per_class.csv, prb_per_class.csv, PNG/SVG figures, and the run's report.
// Exit codes: 0 ok, 1 runtime error, 2 bad usage.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "data/dataset_registry.h"
#include "nn/checkpoint.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "tensor/backend.h"
#include "tensor/system.h"
#include "train/config.h"
#include "train/device_choice.h"
#include "train/eval_writer.h"
#include "train/evaluation.h"
#include "train/pretrainer.h"
#include "train/report.h"
#include "train/run_setup.h"
#include "train/view_embeddings.h"
#include "train/signals.h"
#include "train/exit_codes.h"

using namespace contra;
using namespace contra::train;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  ignore_file_size_signal();
  CLI::App app{"contra evaluate: kNN, linear probe, long-tailed groups and PRB of a pretrained encoder"};
  std::string target, dataset, out;
  EvalOptions eo;
  std::int64_t threads = 0;
  std::string device_text = "cpu";
  std::vector<std::int64_t> few_shot = eo.few_shot;
  bool no_random = false, no_pixels = false, no_prb_pretrain = false;
  app.add_option("target", target, "run directory (newest valid checkpoint) or a checkpoint file")->required();
  app.add_option("--dataset", dataset, "evaluate on this dataset instead of the run's (same classes)");
  app.add_option("--knn-k", eo.knn.k, "k of the weighted kNN (default: the run's)")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--knn-temperature", eo.knn.temperature, "vote temperature T, weights exp(s/T) (default: the run's)")->capture_default_str()->check(CLI::Range(1e-4, 100.0));
  app.add_option("--probe-epochs", eo.probe.epochs, "linear-probe epochs (default: the run's)")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--probe-lr", eo.probe.base_lr, "linear-probe base LR at batch 256")->capture_default_str()->check(CLI::Range(1e-6, 100.0));
  app.add_option("--few-shot", few_shot, "images per class of the few-shot probes, one or more (\"100,50\" or "
                 "\"100 50\"; 0 = off)")->capture_default_str()->delimiter(',')->check(CLI::Range(0, 1000000));
  app.add_option("--few-shot-draws", eo.few_shot_draws, "seeded draws of each few-shot subset (mean ± std over them)")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--prb-views", eo.prb_views, "augmented views per image for PRB (0 = off)")->capture_default_str()->check(CLI::Range(0, 256));
  app.add_option("--prb-images", eo.prb_images, "test images (class-balanced) for PRB, and at most this many "
                 "long-tailed pretraining images (uniform)")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_flag("--no-prb-pretrain", no_prb_pretrain, "skip PRB on the long-tailed pretraining images");
  app.add_flag("--no-random-baseline", no_random, "skip the random-initialisation baseline");
  app.add_flag("--no-pixel-baseline", no_pixels, "skip the raw-pixel baseline");
  app.add_option("--out", out, "output directory (default RUN_DIR/eval)");
  app.add_option("--threads", threads, "compute threads (0 = all cores)")->check(CLI::Range(0, 1024));
  app.add_option("--device", device_text, kDeviceHelp)->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return exit_code_for_parse(app.exit(e));
  }
  try {
    if (threads > 0) {
      std::string warning;
      set_num_threads(cap_threads(static_cast<int>(threads), &warning));
      if (!warning.empty()) std::cerr << "warning: " << warning << "\n";
    }
    const Device device = open_device(device_text, "--device");  // refused (exit 2) before anything is read
    std::cout << "kernels: " << kernel_report() << (device == Device::cpu() ? "" : ", device " + device.str())
              << std::endl;
    std::optional<nn::Checkpoint> ck;
    std::string run_dir;
    if (fs::is_directory(target)) {
      run_dir = target;
      nn::CheckpointManager m(target + "/checkpoints", 1000000);
      ck = m.load_latest();
      if (!ck) throw UsageError(target, "no valid checkpoint in " + target + "/checkpoints", "train with tools/pretrain first");
    } else {
      if (!fs::exists(target)) throw UsageError(target, "no such run directory or checkpoint file");
      ck = nn::load_checkpoint(target);
      run_dir = fs::path(target).parent_path().parent_path().string();
    }
    PretrainConfig c = run_config_from_checkpoint(*ck);  // every field, as saved
    if (!dataset.empty()) c.dataset = dataset;
    // Protocol settings default to the run's own unless given here.
    if (app.count("--knn-k") == 0) eo.knn.k = static_cast<int>(c.knn_k);
    if (app.count("--knn-temperature") == 0) eo.knn.temperature = c.knn_temperature;
    if (app.count("--probe-epochs") == 0) eo.probe.epochs = c.probe_epochs;
    if (out.empty()) out = run_dir + "/eval";
    fs::create_directories(out);
    eo.few_shot = few_shot;
    eo.prb_pretrain = !no_prb_pretrain;
    eo.random_baseline = !no_random;
    eo.pixel_baseline = !no_pixels;
    eo.seed = static_cast<std::uint64_t>(c.seed);
    eo.probe.seed = eo.seed;
    eo.workers = static_cast<int>(c.workers);

    // Data, augmentation and model, exactly as the run built them (train/run_setup.h).
    const RunData rd = open_run_data(c, true);
    EvalData ed;
    ed.pretrain = rd.pretrain;
    ed.test = rd.test;
    ed.train = rd.balanced_train;
    ed.stats = rd.stats;
    const int C = static_cast<int>(ed.pretrain->channels());
    ed.augment = augment_spec(c, C, static_cast<int>(ed.pretrain->height()), static_cast<int>(ed.pretrain->width()), ed.stats);
    const nn::ResNetConfig rc = backbone_config(c, C);
    Generator gen(static_cast<std::uint64_t>(c.seed));
    nn::ResNet backbone(rc, gen);
    const nn::ProjectionHeadConfig hc = head_config(c, backbone.feature_dim());
    nn::ProjectionHead head(hc, gen);
    load_model(ck->model, backbone, head);
    Generator rgen(static_cast<std::uint64_t>(c.seed));
    nn::ResNet random_backbone(rc, rgen);
    nn::ProjectionHead random_head(hc, rgen);
    for (nn::Module* m : std::initializer_list<nn::Module*>{&backbone, &head, &random_backbone, &random_head})
      m->to(device);  // built and loaded on the host, evaluated on --device
    std::vector<Encoder> encoders = {{"pretrained", &backbone, &head}};
    if (eo.random_baseline) encoders.push_back({"random init", &random_backbone, &random_head});
    std::cout << "evaluating " << ck->path << " (step " << ck->training->step << ") on " << c.dataset << std::endl;
    const EvalResults results = evaluate(encoders, ed, eo, [](const std::string& s) { std::cout << s << std::endl; });
    write_evaluation(results, out);
    for (auto& [name, e] : results.json["encoders"].items())
      std::cout << name << ": kNN " << 100 * e["knn_full_bank"]["overall"].get<double>() << "%, linear probe "
                << 100 * e["linear_probe"]["overall"].get<double>() << "%\n";
    if (out == run_dir + "/eval") std::cout << "report: " << write_report(run_dir, read_run_manifest(run_dir), &results) << "\n";
    else std::cout << "results: " << out << "/results.json\n";
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntimeError;
  }
}
