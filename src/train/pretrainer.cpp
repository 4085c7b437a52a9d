#include "train/pretrainer.h"

#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "contrastive/balanced_fused.h"
#include "contrastive/layout.h"
#include "contrastive/losses.h"
#include "contrastive/prototypes.h"
#include "data/dataset_registry.h"
#include "data/loader.h"
#include "nn/adamw.h"
#include "nn/checkpoint.h"
#include "nn/lars.h"
#include "nn/lr_schedule.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "nn/sgd.h"
#include "tensor/atomic_file.h"
#include "tensor/backend.h"
#include "tensor/generator.h"
#include "tensor/system.h"
#include "train/evaluation.h"
#include "train/knn.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/report.h"
#include "train/resources.h"
#include "train/run_setup.h"
#include "train/signals.h"

#ifndef CONTRA_GIT_REVISION
#define CONTRA_GIT_REVISION "unknown"
#endif

namespace contra::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void say(const std::string& s) {
  std::cout << s << std::endl;
}

std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

std::string sanitize(std::string s) {
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return s;
}

// The configuration keys whose values must match to resume.
nlohmann::json critical_subset(const PretrainConfig& c) {
  const nlohmann::json all = to_json(c);
  nlohmann::json j = nlohmann::json::object();
  for (const auto& key : resume_critical_keys()) {
    const auto dot = key.find('.');
    j[key] = all[key.substr(0, dot)][key.substr(dot + 1)];
  }
  return j;
}

// The first parameter (by name) holding a non-finite value, or "".
std::string first_non_finite(const nn::NamedTensors& params) {
  for (const auto& [name, t] : params) {
    if (!is_floating(t.dtype())) continue;
    const Tensor c = t.to(DType::f32).contiguous();
    const float* p = c.data<float>();
    for (std::int64_t i = 0, n = c.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) return name;
  }
  return "";
}

// Options that the configuration's own validation cannot judge (they are not saved with the
// run): --name is one directory name, --weights-only needs a checkpoint path.
void check_run_options(const PretrainConfig& c, const PretrainOptions& o) {
  if (!c.name.empty() && (c.name == "." || c.name == ".." || c.name.find('/') != std::string::npos ||
                          c.name.find('\0') != std::string::npos))
    throw UsageError("--name", "\"" + abbreviate(c.name) + "\" is not a run directory name (one path component, not . or ..)",
                     "pass a plain name; --out chooses the parent directory");
  if (o.weights_only && (c.resume == "none" || c.resume == "auto"))
    throw UsageError("--weights-only", "needs --resume PATH (the checkpoint whose weights start the new run)",
                     "add --resume runs/<name>/checkpoints/ckpt-<step>.safetensors");
  if (o.start_over && c.resume != "auto")
    throw UsageError("--start-over", "only applies to --resume auto", "add --resume auto, or drop --start-over");
}

// C8: every checkpoint of the run directory failed to load. Nothing is deleted or truncated.
[[noreturn]] void refuse_unreadable_checkpoints(const std::string& dir, const std::vector<std::string>& why) {
  std::string list;
  for (const auto& w : why) list += "\n  " + w;
  throw Error("--resume auto", "no checkpoint in " + dir + " loads (" + std::to_string(why.size()) +
                                   " rejected; nothing was deleted):" + list,
              "restore a checkpoint from a backup, resume from one with --resume PATH, or pass --start-over to move "
              "them aside and start from step 0");
}

// --start-over: moves the checkpoints and logs into <run>/set-aside-<time>/ (kept, never deleted).
std::string set_aside_run_files(const std::string& run_dir) {
  const fs::path aside = fs::path(run_dir) / ("set-aside-" + timestamp());
  fs::create_directories(aside);
  for (const char* name : {"checkpoints", "metrics.jsonl", "epochs.csv", "config.toml", "manifest.json"}) {
    std::error_code ec;
    if (fs::exists(fs::path(run_dir) / name, ec)) fs::rename(fs::path(run_dir) / name, aside / name);
  }
  fs::create_directories(fs::path(run_dir) / "checkpoints");
  return aside.string();
}

// NaN propagates through the network (ReLU included), so non-finite weights or activations
// reach the embeddings; the losses would refuse them, this names the cause. Exit code 3.
int report_non_finite_embeddings(std::int64_t step, const nn::NamedTensors& params) {
  const std::string bad = first_non_finite(params);
  std::cerr << "error: step " << step << ": the embeddings are non-finite"
            << (bad.empty() ? std::string(" (the weights are finite: lower --lr)") : " (tensor " + bad + " holds non-finite values)")
            << "; stopping without saving (the last checkpoint stays valid)\n";
  return 3;
}

std::string fixed(double v, int prec) {
  std::ostringstream os;
  os.precision(prec);
  os << std::fixed << v;
  return os.str();
}

}  // namespace

Pretrainer::Pretrainer(PretrainConfig config, PretrainOptions options) : cfg_(std::move(config)), opt_(options) {}

int Pretrainer::run() {
  const PretrainConfig& c = cfg_;
  validate(c);
  check_run_options(c, opt_);
  if (c.threads > 0) {
    std::string warning;
    set_num_threads(cap_threads(static_cast<int>(c.threads), &warning));
    if (!warning.empty()) say("warning: " + warning);
  }
  say("kernels: " + kernel_report());
  const int threads = num_threads();

  // ---- run directory and resume target -------------------------------------------------
  std::optional<nn::Checkpoint> resume_from;
  if (c.resume != "none" && c.resume != "auto") {
    resume_from = nn::load_checkpoint(c.resume);
    run_dir_ = fs::path(c.resume).parent_path().parent_path().string();
    if (opt_.weights_only) run_dir_.clear();
  }
  if (run_dir_.empty()) {
    if (c.resume == "auto" && c.name.empty())
      throw UsageError("--resume auto", "auto-resume needs the run directory's name", "give the run's --name");
    const std::string name = c.name.empty() ? sanitize(c.dataset + "-" + c.loss + "-" + timestamp()) : c.name;
    run_dir_ = (fs::path(c.out) / name).string();
  }
  NewRunDirectory new_dir(run_dir_);  // removed again if the run fails before writing into it
  fs::create_directories(run_dir_ + "/checkpoints");
  fs::create_directories(run_dir_ + "/eval");
  const RunLock lock(run_dir_);  // before anything in the directory is touched (C7)
  nn::CheckpointManager checkpoints(run_dir_ + "/checkpoints", static_cast<int>(c.keep_last));
  if (checkpoints.stale_files_removed() > 0)
    say("removed " + std::to_string(checkpoints.stale_files_removed()) + " stale temporary checkpoint file(s)");
  if (c.resume == "auto") {
    std::vector<std::string> skipped;
    resume_from = checkpoints.load_latest(&skipped);
    for (const auto& s : skipped) say("skipping unreadable checkpoint: " + s);
    if (!resume_from && !skipped.empty()) {
      if (!opt_.start_over) refuse_unreadable_checkpoints(checkpoints.dir(), skipped);  // C8: nothing deleted
      say("--start-over: moved the run's unreadable checkpoints and logs to " + set_aside_run_files(run_dir_));
    }
    if (!resume_from) say("no checkpoint in " + run_dir_ + "/checkpoints: starting from step 0");
  } else if (c.resume == "none" && !checkpoints.list().empty()) {
    throw UsageError("run directory " + run_dir_, "already holds checkpoints",
                "pass --resume auto to continue it, or choose another --name");
  }
  const bool resuming = resume_from && resume_from->training && !opt_.weights_only;
  if (resuming) {
    const auto& saved = resume_from->training->config;
    if (!saved.contains("critical"))
      throw UsageError("--resume", resume_from->path + " was not written by tools/pretrain (no run configuration)",
                       "use --weights-only to start a new run from these weights");
    const auto diff = nn::config_differences(saved["critical"], critical_subset(c));
    if (!diff.empty()) {
      std::string keys;
      for (const auto& d : diff) keys += "\n  " + d;
      throw UsageError("--resume " + resume_from->path, "the checkpoint's configuration differs from this run's:" + keys,
                  "resume with the same settings, or pass --weights-only to start a new run from these weights");
    }
  }

  // ---- data --------------------------------------------------------------------------------
  say("run directory: " + run_dir_);
  say("loading " + c.dataset);
  const RunData data = open_run_data(c, false);
  const std::shared_ptr<const data::Dataset> pretrain = data.pretrain, test = data.test;
  const data::ChannelStats stats = data.stats;
  const int C = static_cast<int>(pretrain->channels()), H = static_cast<int>(pretrain->height()),
            W = static_cast<int>(pretrain->width());
  const data::AugmentSpec spec = augment_spec(c, C, H, W, stats);
  const auto counts = pretrain->class_counts();
  say("pretraining set " + pretrain->name + ": " + std::to_string(pretrain->size()) + " images, " +
      std::to_string(pretrain->num_classes()) + " classes, " + std::to_string(C) + "×" + std::to_string(H) + "×" +
      std::to_string(W));

  check_step_memory(c, C, H, W);  // I8: refused before the model and the first batch exist

  // ---- model ---------------------------------------------------------------------------------
  Generator init_gen(static_cast<std::uint64_t>(c.seed));
  const nn::ResNetConfig rc = backbone_config(c, C);
  nn::ResNet backbone(rc, init_gen);
  const nn::ProjectionHeadConfig hc = head_config(c, backbone.feature_dim());
  nn::ProjectionHead head(hc, init_gen);
  say("model: " + c.arch + " (" + c.stem + " stem, width " + fixed(c.width, 4) + ", " +
      std::to_string(backbone.num_parameters()) + " parameters, features " + std::to_string(backbone.feature_dim()) +
      ") + head " + std::to_string(hc.in_dim) + "→" + std::to_string(hc.hidden_dim) + "→" + std::to_string(hc.out_dim));
  if (resume_from) load_model(resume_from->model, backbone, head);

  // ---- loader, optimizer, schedule -----------------------------------------------------------
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.views = static_cast<int>(c.views);
  lo.num_workers = static_cast<int>(c.workers);
  lo.seed = static_cast<std::uint64_t>(c.seed);
  data::Loader loader(pretrain, data::Augment(spec), lo);
  const std::int64_t steps_per_epoch = loader.batches_per_epoch();
  CONTRA_CHECK_HINT(steps_per_epoch > 0, "--batch-size", "lower --batch-size",
                    "the batch size ", c.batch_size, " exceeds the ", pretrain->size(), " pretraining images");
  const std::int64_t total_steps = c.epochs * steps_per_epoch;
  const double lr = c.lr * static_cast<double>(c.batch_size) / 256.0;
  const nn::NamedTensors params = model_parameters(backbone, head);
  std::unique_ptr<nn::Optimizer> optimizer;
  if (c.optimizer == "lars")
    optimizer = std::make_unique<nn::LARS>(nn::split_decay_groups(params, lr, c.weight_decay), nn::LARSOptions{c.momentum, 0.001, false});
  else if (c.optimizer == "adamw")
    optimizer = std::make_unique<nn::AdamW>(std::vector<nn::ParamGroup>{nn::make_group(params, lr, c.weight_decay)},
                                            nn::AdamWOptions{c.momentum, 0.999, 1e-8});
  else
    optimizer = std::make_unique<nn::SGD>(std::vector<nn::ParamGroup>{nn::make_group(params, lr, c.weight_decay)},
                                          nn::SGDOptions{c.momentum, 0.0, false});
  const nn::WarmupCosineSchedule schedule(lr, static_cast<std::int64_t>(std::llround(c.warmup_epochs * steps_per_epoch)),
                                          total_steps, c.min_lr);

  std::int64_t step = 0;
  double epoch_loss_sum = 0.0;
  std::int64_t epoch_steps = 0;
  if (resuming) {
    const nn::TrainingState& ts = *resume_from->training;
    step = ts.step;
    if (!resume_from->optimizer.is_null()) optimizer->restore_state(resume_from->optimizer, resume_from->optimizer_tensors);
    loader.seek({ts.data_cursor.value("epoch", std::int64_t{0}), ts.data_cursor.value("batch", std::int64_t{0})});
    epoch_loss_sum = ts.extra.value("epoch_loss_sum", 0.0);
    epoch_steps = ts.extra.value("epoch_steps", std::int64_t{0});
    say("resumed from " + resume_from->path + " at step " + std::to_string(step) + " (epoch " +
        std::to_string(loader.cursor().epoch) + ", batch " + std::to_string(loader.cursor().batch) + ")");
  }

  // ---- run files -----------------------------------------------------------------------------
  new_dir.keep();
  {
    write_file_atomically(run_dir_ + "/config.toml", to_toml(c));
    nlohmann::json m;
    m["config"] = to_json(c);
    m["dataset"] = {{"name", pretrain->name},
                    {"images", pretrain->size()},
                    {"class_names", pretrain->class_names},
                    {"per_class_counts", counts},
                    {"test_images", test->size()},
                    {"construction", pretrain->manifest_json.empty() ? nlohmann::json(nullptr)
                                                                     : nlohmann::json::parse(pretrain->manifest_json, nullptr, false)},
                    {"normalisation", {{"mean", stats.mean}, {"std", stats.std}}},
                    {"augmentation", spec.describe()}};
    m["model"] = {{"backbone", rc.to_json()}, {"head", hc.to_json()}, {"parameters", backbone.num_parameters() + head.num_parameters()}};
    m["training"] = {{"steps_per_epoch", steps_per_epoch}, {"total_steps", total_steps}, {"effective_lr", lr}};
    m["environment"] = {{"contra_git_revision", CONTRA_GIT_REVISION},
                        {"threads", threads},
                        {"kernels", kernel_report()},
                        {"loader_workers", c.workers},
                        {"compiler", std::string("gcc ") + __VERSION__},
                        {"openmp", _OPENMP}};
    write_file_atomically(run_dir_ + "/manifest.json", m.dump(2) + "\n");
  }
  JsonlLog metrics(run_dir_ + "/metrics.jsonl", "step", step + 1);
  CsvLog epochs(run_dir_ + "/epochs.csv", {"epoch", "mean_loss", "knn_accuracy", "lr", "seconds"}, loader.cursor().epoch);

  auto save = [&](const char* why) {
    const std::string bad = first_non_finite(model_parameters(backbone, head));
    CONTRA_CHECK(bad.empty(), "checkpoint", "refusing to save at step ", step, ": tensor ", bad,
                 " holds non-finite values");
    nn::TrainingState ts;
    ts.step = step;
    ts.config = {{"critical", critical_subset(c)}, {"full", to_json(c)}};
    ts.data_cursor = {{"epoch", loader.cursor().epoch}, {"batch", loader.cursor().batch}};
    ts.extra = {{"epoch_loss_sum", epoch_loss_sum}, {"epoch_steps", epoch_steps}, {"reason", why}};
    const std::string path = checkpoints.save(model_state(backbone, head), optimizer.get(), ts);
    metrics.sync();
    return path;
  };

  // kNN monitor: bank = pretraining set, queries = test set (eval mode, no augmentation).
  auto knn_monitor = [&]() {
    const Tensor bank = extract_features(backbone, pretrain, stats, 512, static_cast<int>(c.workers));
    const Tensor queries = extract_features(backbone, test, stats, 512, static_cast<int>(c.workers));
    KnnOptions ko;
    ko.k = static_cast<int>(c.knn_k);
    ko.temperature = c.knn_temperature;
    const auto pred = knn_predict(bank, pretrain->labels, queries, static_cast<int>(pretrain->num_classes()), ko);
    std::int64_t correct = 0;
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == test->labels[i];
    return static_cast<double>(correct) / static_cast<double>(pred.size());
  };

  // ---- the loop ------------------------------------------------------------------------------
  install_stop_handlers();
  backbone.train();
  head.train();
  const std::int64_t last_step = c.max_steps > 0 ? std::min(total_steps, step + c.max_steps) : total_steps;
  say("training: " + std::to_string(c.epochs) + " epochs × " + std::to_string(steps_per_epoch) + " steps, batch " +
      std::to_string(c.batch_size) + " × " + std::to_string(c.views) + " views, " + c.loss + " loss, " + c.optimizer +
      " lr " + fixed(lr, 4) + ", " + std::to_string(threads) + " threads");
  Progress progress("train", total_steps, opt_.quiet ? 1e9 : 10.0);
  auto epoch_start = Clock::now();
  std::int64_t last_saved = resuming ? step : -1;
  auto stop_with_checkpoint = [&] {
    if (last_saved != step) save("signal");
    say("stopped by signal " + std::to_string(stop_signal()) + " at step " + std::to_string(step) +
        "; resume with --resume auto --name " + fs::path(run_dir_).filename().string());
    return stop_exit_code();
  };

  const contrastive::ViewLayout layout{c.batch_size, c.views};
  while (true) {
    // After the last step of the last epoch, one more next() closes that epoch (nullopt):
    // its monitor, CSV row and checkpoint run like every other epoch's. A run stopped by
    // --max-steps mid-epoch ends without closing it.
    const bool closing_last_epoch = step == total_steps && epoch_steps > 0;
    if (step >= last_step && !closing_last_epoch) break;
    auto batch = loader.next();
    CONTRA_ASSERT(!(closing_last_epoch && batch), "the loader yielded a batch past the last step");
    if (!batch) {
      // End of an epoch: monitor, log, checkpoint.
      const std::int64_t epoch = loader.cursor().epoch - 1;
      double knn = NAN;
      if (c.knn_every > 0 && ((epoch + 1) % c.knn_every == 0 || epoch + 1 == c.epochs) && !stop_requested()) {
        try {
          knn = knn_monitor();
        } catch (const StopRequested&) {  // a signal during the monitor: skip it, save below
        }
        backbone.train();
        head.train();
        if (!std::isnan(knn)) {
          metrics.append({{"step", step}, {"epoch", epoch}, {"knn_accuracy", knn}});
          say("epoch " + std::to_string(epoch) + ": kNN accuracy " + fixed(100 * knn, 2) + "%");
        }
      }
      const double secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      epochs.append({std::to_string(epoch), epoch_steps ? fixed(epoch_loss_sum / epoch_steps, 6) : "nan",
                     std::isnan(knn) ? "nan" : fixed(knn, 6), fixed(schedule(step), 6), fixed(secs, 1)});
      epoch_loss_sum = 0.0;
      epoch_steps = 0;
      epoch_start = Clock::now();
      if (c.checkpoint_every == 0) {
        save("epoch");
        last_saved = step;
      }
      if (stop_requested()) return stop_with_checkpoint();
      continue;
    }
    const double step_lr = schedule(step);
    optimizer->set_lr(step_lr);
    const Tensor f = head(backbone.forward_features(batch->images));  // (M, D) view-major
    if (nn::find_non_finite({{"embeddings", f}})) return report_non_finite_embeddings(step + 1, params);
    const bool log_now = (step + 1) % c.log_every == 0 || step + 1 == last_step;
    Tensor loss;
    contrastive::LossTelemetry tel;
    bool have_tel = false;
    if (c.loss == "nt_xent" || c.loss == "balanced" || c.loss == "derived") {
      contrastive::BalancedParams p;
      p.temperature = c.temperature;
      if (c.loss == "balanced") {
        p.attract = c.attract;
        p.repel = c.repel;
        p.positive_weight = c.positive_weight;
      } else if (c.loss == "derived") {
        p.attract = 1.0;
        p.repel = c.lambda;
        p.positive_weight = 0.0;
      }
      contrastive::FusedOptions fo;
      fo.gradient_norms = log_now;
      auto out = contrastive::balanced_loss(f, layout, p, fo);
      loss = out.loss;
      tel = out.telemetry;
      have_tel = true;
    } else if (c.loss == "supervised") {
      loss = contrastive::supervised_prototype_loss(f, layout, batch->labels, c.lambda);
    } else {
      loss = contrastive::supcon_loss(f, layout, batch->labels, c.temperature);
    }
    const double loss_value = loss.item();
    if (!std::isfinite(loss_value)) {
      const std::string bad = first_non_finite(params);
      std::cerr << "error: step " << step + 1 << ": the loss is " << loss_value
                << (bad.empty() ? std::string(" (the weights are finite: lower --lr)") : " (tensor " + bad + " holds non-finite values)")
                << "; stopping without saving (the last checkpoint stays valid)\n";
      return 3;
    }
    optimizer->zero_grad();
    backward(loss);
    optimizer->step();
    ++step;
    // S3: a non-finite weight is caught in the step that produced it, never saved.
    if (const std::string bad = first_non_finite(params); !bad.empty()) {
      std::cerr << "error: step " << step << ": the update made tensor " << bad
                << " non-finite (lr " << step_lr << ": lower --lr); stopping without saving (the last checkpoint stays valid)\n";
      return 3;
    }
    epoch_loss_sum += loss_value;
    ++epoch_steps;
    progress.update(step, c.batch_size, "loss " + fixed(loss_value, 4) + " | lr " + fixed(step_lr, 4));
    if (log_now) {
      nlohmann::json e = {{"step", step}, {"epoch", batch->epoch}, {"loss", loss_value}, {"lr", step_lr},
                          {"images_per_s", progress.rate()}};
      if (have_tel) {
        e["attraction"] = tel.attraction;
        e["repulsion"] = tel.repulsion;
        e["grad_norm_attraction"] = tel.grad_norm_attraction;
        e["grad_norm_repulsion"] = tel.grad_norm_repulsion;
        e["mean_positive_similarity"] = tel.mean_positive_similarity;
        e["mean_negative_similarity"] = tel.mean_negative_similarity;
        e["alignment"] = tel.alignment;
        e["uniformity"] = tel.uniformity;
      }
      metrics.append(e);
    }
    if (c.checkpoint_every > 0 && step % c.checkpoint_every == 0) {
      save("interval");
      last_saved = step;
    }
    if (stop_requested()) return stop_with_checkpoint();
  }
  if (last_saved != step) save("final");
  progress.finish("step " + std::to_string(step));
  if (step < total_steps) {
    say("stopped after --max-steps at step " + std::to_string(step) + " of " + std::to_string(total_steps));
    write_report(run_dir_);
    return 0;
  }

  // ---- final evaluation ------------------------------------------------------------------------
  if (c.final_eval) try {
    EvalData ed;
    ed.pretrain = pretrain;
    ed.test = test;
    ed.train = open_run_data(c, true).balanced_train;
    ed.stats = stats;
    ed.augment = spec;
    EvalOptions eo;
    eo.knn.k = static_cast<int>(c.knn_k);
    eo.knn.temperature = c.knn_temperature;
    eo.probe.epochs = c.probe_epochs;
    eo.probe.seed = static_cast<std::uint64_t>(c.seed);
    eo.seed = static_cast<std::uint64_t>(c.seed);
    eo.workers = static_cast<int>(c.workers);
    Generator random_gen(static_cast<std::uint64_t>(c.seed));
    nn::ResNet random_backbone(rc, random_gen);
    nn::ProjectionHead random_head(hc, random_gen);
    const auto results = evaluate({{"pretrained", &backbone, &head}, {"random init", &random_backbone, &random_head}},
                                  ed, eo, run_dir_ + "/eval", [](const std::string& s) { say(s); });
    for (const char* enc : {"pretrained", "random init", "raw pixels"}) {
      if (!results["encoders"].contains(enc)) continue;
      const auto& e = results["encoders"][enc];
      say(std::string(enc) + ": kNN " + fixed(100 * e["knn_full_bank"]["overall"].get<double>(), 2) +
          "%, linear probe " + fixed(100 * e["linear_probe"]["overall"].get<double>(), 2) + "%");
    }
  } catch (const StopRequested&) {  // S4: the trained weights are saved; stop within a batch
    say("stopped by signal " + std::to_string(stop_signal()) + " during the final evaluation; the checkpoint at step " +
        std::to_string(step) + " is saved (evaluate it with tools/evaluate " + run_dir_ + ")");
    return stop_exit_code();
  }
  say("report: " + write_report(run_dir_));
  return 0;
}

}  // namespace contra::train
