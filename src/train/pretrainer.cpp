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
#include "contrastive/layout.h"
#include "data/dataset_registry.h"
#include "data/loader.h"
#include "dist/gathered_loss.h"
#include "dist/single_process_communicator.h"
#include "dist/timed_communicator.h"
#include "dist/world.h"
#include "dist/sync_batch_norm.h"
#include "nn/checkpoint.h"
#include "nn/lr_schedule.h"
#include "nn/optimizer_factory.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "tensor/atomic_file.h"
#include "tensor/backend.h"
#include "tensor/generator.h"
#include "tensor/system.h"
#include "train/eval_writer.h"
#include "train/data_parallel.h"
#include "train/device_choice.h"
#include "train/evaluation.h"
#include "train/exit_codes.h"
#include "train/knn.h"
#include "train/loss_registry.h"
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

// Whether every element of `tensors` is finite: one backend reduction over all of them
// and one host read (Backend::count_non_finite), so the per-step check is one sync point.
bool all_finite(const std::vector<Tensor>& tensors) {
  return tensors.empty() || backend_for(tensors.front().device()).count_non_finite(tensors) == 0;
}

std::vector<Tensor> tensors_of(const nn::NamedTensors& named) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

// The first parameter (by name) holding a non-finite value, or "": for the error message,
// after all_finite() said that there is one.
std::string first_non_finite(const nn::NamedTensors& params) {
  for (const auto& [name, t] : params)
    if (!all_finite({t})) return name;
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

// The non-finite stops (reliability.md S3): the step is not taken or not saved, the last
// checkpoint stays valid, and the exit code is kExitNonFinite.
int stop_non_finite(const std::string& message) {
  std::cerr << "error: " << message << "; stopping without saving (the last checkpoint stays valid)\n";
  return kExitNonFinite;
}

// NaN propagates through the network (ReLU included), so non-finite weights reach the
// embeddings and the loss; this names the cause for the message.
std::string weights_state(const nn::NamedTensors& params) {
  const std::string bad = first_non_finite(params);
  return bad.empty() ? " (the weights are finite: lower --lr)" : " (tensor " + bad + " holds non-finite values)";
}

std::string fixed(double v, int prec) {
  std::ostringstream os;
  os.precision(prec);
  os << std::fixed << v;
  return os.str();
}

// Everything a run holds, built in this order by the steps below and read by the loop.
// Members are destroyed in reverse: the loader and logs first, the run lock last.
struct TrainState {
  TrainState(const PretrainConfig& config, const PretrainOptions& options) : c(config), opt(options) {
    dp.comm = options.comm ? options.comm : std::make_shared<dist::SingleProcessCommunicator>();
  }
  // Once the device is known: the communicator for it (dist::make_communicator: the world
  // itself on the CPU, NCCL over the world's MPI for CUDA ranks), then the timing wrapper.
  // Collective for K > 1 on CUDA: every rank calls it here, before any other user of dp.comm.
  void connect(Device d) {
    device = d;
    dp.comm = dist::make_communicator(dp.comm, device);
    if (dp.active()) dp.comm = timed = std::make_shared<dist::TimedCommunicator>(dp.comm);
  }
  const PretrainConfig& c;
  const PretrainOptions& opt;
  int threads = 0;
  // Where the model, the optimizer state and every step's tensors live (--device). The loader
  // makes host tensors; train_step copies each batch here. Features for the kNN monitor and
  // the final evaluation are computed here and brought to the host (extract_features).
  Device device = Device::cpu();
  DataParallel dp;  // the ranks of the job (K = 1: one process)
  // K > 1: dp.comm, timed (the communication time per step in the log and progress line)
  std::shared_ptr<dist::TimedCommunicator> timed;

  // prepare_run_directory: the run directory, its lock and checkpoints, where to resume
  std::string run_dir;
  std::optional<NewRunDirectory> new_dir;  // removed again if the run fails before writing into it
  std::optional<RunLock> lock;
  std::optional<nn::CheckpointManager> checkpoints;
  std::optional<nn::Checkpoint> resume_from;
  bool resuming = false;  // continuing the run's own training (not --weights-only)

  // build_data_and_model
  RunData data;
  data::AugmentSpec spec;
  nn::ResNetConfig backbone_config;
  nn::ProjectionHeadConfig head_config;
  std::optional<nn::ResNet> backbone;
  std::optional<nn::ProjectionHead> head;

  // build_optimization
  std::optional<data::Loader> loader;
  nn::NamedTensors params;
  std::unique_ptr<nn::Optimizer> optimizer;
  std::optional<nn::WarmupCosineSchedule> schedule;
  double lr = 0.0;  // effective: lr · batch / 256
  std::int64_t steps_per_epoch = 0, total_steps = 0, last_step = 0;

  // open_logs
  std::optional<JsonlLog> metrics;
  std::optional<CsvLog> epochs;
  std::optional<Progress> progress;
  nlohmann::json manifest;  // as written to manifest.json, for the report

  // where the run is
  std::int64_t step = 0;
  double epoch_loss_sum = 0.0;
  std::int64_t epoch_steps = 0;
  std::int64_t last_saved = -1;  // the step of the last checkpoint written (or resumed from)
  Clock::time_point epoch_start;
  // K > 1: wall time of the steps since the last metrics line and the part inside collectives
  double window_step_s = 0.0, window_comm_s = 0.0;
  std::int64_t window_steps = 0;
};

// ---- prepare the run directory and the resume target ----------------------------------------

// Threads and convolution precision of this process's kernels; says which kernels run.
int configure_kernels(const PretrainConfig& c) {
  if (c.threads > 0) {
    std::string warning;
    set_num_threads(cap_threads(static_cast<int>(c.threads), &warning));
    if (!warning.empty()) say("warning: " + warning);
  }
  set_conv_precision(parse_conv_precision(c.precision));  // bf16 on a CPU without it: a clear error
  set_conv_algorithm(parse_conv_algorithm(c.conv_algorithm));
  say("kernels: " + kernel_report() + (c.device == "cpu" ? "" : ", device " + c.device));
  if (conv_precision() == ConvPrecision::bf16)
    say("precision: bf16 convolutions (forward and backward data; f32 accumulation, weights, BN and loss)");
  if (conv_algorithm() == ConvAlgorithm::winograd)
    say("convolutions: winograd F(4x4,3x3) for float32 3x3 stride-1 layers where oneDNN implements it, direct elsewhere");
  return num_threads();
}

// runs/<name>/, or the directory of the checkpoint to resume (unless --weights-only).
std::string choose_run_directory(TrainState& s) {
  const PretrainConfig& c = s.c;
  if (c.resume != "none" && c.resume != "auto") {
    s.resume_from = nn::load_checkpoint(c.resume);
    if (!s.opt.weights_only) return fs::path(c.resume).parent_path().parent_path().string();
  }
  if (c.resume == "auto" && c.name.empty())
    throw UsageError("--resume auto", "auto-resume needs the run directory's name", "give the run's --name");
  const std::string name = c.name.empty() ? sanitize(c.dataset + "-" + c.loss + "-" + timestamp()) : c.name;
  return (fs::path(c.out) / name).string();
}

// --resume auto: the newest checkpoint that loads (C8: refused, nothing deleted, when none
// does; --start-over moves them aside). --resume none: the directory must hold none.
void find_resume_checkpoint(TrainState& s) {
  if (s.c.resume == "auto") {
    std::vector<std::string> skipped;
    s.resume_from = s.checkpoints->load_latest(&skipped);
    for (const auto& why : skipped) say("skipping unreadable checkpoint: " + why);
    if (!s.resume_from && !skipped.empty()) {
      if (!s.opt.start_over) refuse_unreadable_checkpoints(s.checkpoints->dir(), skipped);
      say("--start-over: moved the run's unreadable checkpoints and logs to " + set_aside_run_files(s.run_dir));
    }
    if (!s.resume_from) say("no checkpoint in " + s.run_dir + "/checkpoints: starting from step 0");
  } else if (s.c.resume == "none" && !s.checkpoints->list().empty()) {
    throw UsageError("run directory " + s.run_dir, "already holds checkpoints",
                     "pass --resume auto to continue it, or choose another --name");
  }
}

// A resumed run continues the same training: the resume-critical settings must match.
void check_resume_compatible(const TrainState& s) {
  const auto& saved = s.resume_from->training->config;
  if (!saved.contains("critical"))
    throw UsageError("--resume", s.resume_from->path + " was not written by tools/pretrain (no run configuration)",
                     "use --weights-only to start a new run from these weights");
  const auto diff = nn::config_differences(saved["critical"], critical_subset(s.c));
  if (diff.empty()) return;
  std::string keys;
  for (const auto& d : diff) keys += "\n  " + d;
  throw UsageError("--resume " + s.resume_from->path, "the checkpoint's configuration differs from this run's:" + keys,
                   "resume with the same settings, or pass --weights-only to start a new run from these weights");
}

void prepare_run_directory_on_root(TrainState& s) {
  s.run_dir = choose_run_directory(s);
  s.new_dir.emplace(s.run_dir);
  fs::create_directories(s.run_dir + "/checkpoints");
  fs::create_directories(s.run_dir + "/eval");
  s.lock.emplace(s.run_dir);  // before anything in the directory is touched (C7)
  s.checkpoints.emplace(s.run_dir + "/checkpoints", static_cast<int>(s.c.keep_last));
  if (s.checkpoints->stale_files_removed() > 0)
    say("removed " + std::to_string(s.checkpoints->stale_files_removed()) + " stale temporary checkpoint file(s)");
  find_resume_checkpoint(s);
  s.resuming = s.resume_from && s.resume_from->training && !s.opt.weights_only;
  if (s.resuming) check_resume_compatible(s);
}

// Rank 0 prepares the directory (lock, checks, the resume target); the other ranks learn the
// directory and load the same checkpoint (a file system shared by the ranks).
void prepare_run_directory(TrainState& s) {
  on_root(s.dp, "prepare the run directory", [&] { prepare_run_directory_on_root(s); });
  if (!s.dp.active()) return;
  s.run_dir = broadcast_text(*s.dp.comm, s.run_dir);
  const std::string resume_path = broadcast_text(*s.dp.comm, s.resume_from ? s.resume_from->path : "");
  if (s.dp.root()) return;
  if (!resume_path.empty()) s.resume_from = nn::load_checkpoint(resume_path);
  s.resuming = s.resume_from && s.resume_from->training && !s.opt.weights_only;
}

// ---- build the data, the model and the optimization ------------------------------------------

void build_data_and_model(TrainState& s) {
  const PretrainConfig& c = s.c;
  say("run directory: " + s.run_dir);
  say("loading " + c.dataset);
  // rank 0 first: it downloads what is missing, then the other ranks read the same files
  on_root(s.dp, "load the dataset", [&] { s.data = open_run_data(c, false); });
  if (!s.dp.root()) s.data = open_run_data(c, false);
  const data::Dataset& pretrain = *s.data.pretrain;
  const int C = static_cast<int>(pretrain.channels()), H = static_cast<int>(pretrain.height()),
            W = static_cast<int>(pretrain.width());
  s.spec = augment_spec(c, C, H, W, s.data.stats);
  say("pretraining set " + pretrain.name + ": " + std::to_string(pretrain.size()) + " images, " +
      std::to_string(pretrain.num_classes()) + " classes, " + std::to_string(C) + "×" + std::to_string(H) + "×" +
      std::to_string(W));
  check_step_memory(c, C, H, W);  // I8: refused before the model and the first batch exist

  Generator init_gen(static_cast<std::uint64_t>(c.seed));  // the backbone's draws, then the head's
  s.backbone_config = backbone_config(c, C);
  s.backbone.emplace(s.backbone_config, init_gen);
  s.backbone->set_checkpointing(nn::checkpointing_from_name(c.checkpoint_activations));
  s.head_config = head_config(c, s.backbone->feature_dim());
  s.head.emplace(s.head_config, init_gen);
  say("model: " + c.arch + " (" + c.stem + " stem, width " + fixed(c.width, 4) + ", " +
      std::to_string(s.backbone->num_parameters()) + " parameters, features " +
      std::to_string(s.backbone->feature_dim()) + ") + head " + std::to_string(s.head_config.in_dim) + "→" +
      std::to_string(s.head_config.hidden_dim) + "→" + std::to_string(s.head_config.out_dim));
  if (s.resume_from) load_model(s.resume_from->model, *s.backbone, *s.head);  // loads onto the model's device
  // The model is built and initialised on the host (the same draws on every device), then
  // moved: Module::to moves parameters and buffers in place, so handles stay valid.
  s.backbone->to(s.device);
  s.head->to(s.device);
  if (s.dp.active() && s.opt.sync_bn) {
    const std::int64_t n = dist::synchronise_batch_norms(*s.backbone, s.dp.comm) +
                           dist::synchronise_batch_norms(*s.head, s.dp.comm);
    say("data parallel: " + std::to_string(s.dp.size()) + " ranks, synchronised BatchNorm (" + std::to_string(n) +
        " layers: statistics of the global batch)");
  } else if (s.dp.active()) {
    say("data parallel: " + std::to_string(s.dp.size()) + " ranks, BatchNorm per rank (--no-sync-bn)");
  }
}

void build_optimization(TrainState& s) {
  const PretrainConfig& c = s.c;
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.views = static_cast<int>(c.views);
  lo.num_workers = static_cast<int>(c.workers);
  lo.seed = static_cast<std::uint64_t>(c.seed);
  lo.shard_index = s.dp.rank();  // this rank's slice of every global batch
  lo.shard_count = s.dp.size();
  s.loader.emplace(s.data.pretrain, data::Augment(s.spec), lo);
  s.steps_per_epoch = s.loader->batches_per_epoch();
  CONTRA_CHECK_HINT(s.steps_per_epoch > 0, "--batch-size", "lower --batch-size", "the batch size ", c.batch_size,
                    " exceeds the ", s.data.pretrain->size(), " pretraining images");
  s.total_steps = c.epochs * s.steps_per_epoch;
  s.lr = c.lr * static_cast<double>(c.batch_size) / 256.0;
  s.params = model_parameters(*s.backbone, *s.head);  // on s.device: the optimizer's state is made there
  s.optimizer = nn::make_optimizer({c.optimizer, s.lr, c.momentum, c.weight_decay}, s.params);
  if (s.dp.active()) s.dp.buckets = std::make_unique<dist::GradientBuckets>(s.dp.comm, tensors_of(s.params));
  s.schedule.emplace(s.lr, static_cast<std::int64_t>(std::llround(c.warmup_epochs * s.steps_per_epoch)), s.total_steps,
                     c.min_lr);
}

// The step, optimizer state, data cursor and epoch sums of the checkpoint resumed from.
void restore_training_state(TrainState& s) {
  if (!s.resuming) return;
  const nn::TrainingState& ts = *s.resume_from->training;
  s.step = ts.step;
  if (!s.resume_from->optimizer.is_null()) {
    // restore_state puts each state tensor on its parameter's device (the checkpoint may come
    // from another device: run.device is not a resume key); to() says so explicitly.
    s.optimizer->restore_state(s.resume_from->optimizer, s.resume_from->optimizer_tensors);
    s.optimizer->to(s.device);
  }
  s.loader->seek({ts.data_cursor.value("epoch", std::int64_t{0}), ts.data_cursor.value("batch", std::int64_t{0})});
  s.epoch_loss_sum = ts.extra.value("epoch_loss_sum", 0.0);
  s.epoch_steps = ts.extra.value("epoch_steps", std::int64_t{0});
  s.last_saved = s.step;
  say("resumed from " + s.resume_from->path + " at step " + std::to_string(s.step) + " (epoch " +
      std::to_string(s.loader->cursor().epoch) + ", batch " + std::to_string(s.loader->cursor().batch) + ")");
}

// ---- run files -------------------------------------------------------------------------------

nlohmann::json run_manifest(const TrainState& s) {
  const PretrainConfig& c = s.c;
  const data::Dataset& pretrain = *s.data.pretrain;
  nlohmann::json m;
  m["config"] = to_json(c);
  m["dataset"] = {{"name", pretrain.name},
                  {"images", pretrain.size()},
                  {"class_names", pretrain.class_names},
                  {"per_class_counts", pretrain.class_counts()},
                  {"test_images", s.data.test->size()},
                  {"construction", pretrain.manifest_json.empty()
                                       ? nlohmann::json(nullptr)
                                       : nlohmann::json::parse(pretrain.manifest_json, nullptr, false)},
                  {"normalisation", {{"mean", s.data.stats.mean}, {"std", s.data.stats.std}}},
                  {"augmentation", s.spec.describe()}};
  m["model"] = {{"backbone", s.backbone_config.to_json()},
                {"head", s.head_config.to_json()},
                {"parameters", s.backbone->num_parameters() + s.head->num_parameters()}};
  m["training"] = {{"steps_per_epoch", s.steps_per_epoch}, {"total_steps", s.total_steps}, {"effective_lr", s.lr}};
  m["environment"] = {{"contra_git_revision", CONTRA_GIT_REVISION},
                      {"device", s.device.str()},
                      {"threads", s.threads},
                      {"kernels", kernel_report()},
                      {"loader_workers", c.workers},
                      {"compiler", std::string("gcc ") + __VERSION__},
                      {"openmp", _OPENMP}};
  m["distributed"] = {{"world_size", s.dp.size()},
                      {"communicator", s.dp.comm->name()},
                      {"sync_batch_norm", s.dp.active() && s.opt.sync_bn},
                      {"images_per_rank", c.batch_size / s.dp.size()}};
  return m;
}

// config.toml and manifest.json (atomic), then the logs, trimmed to the resume point (L1).
// Rank 0 only: on the other ranks s.metrics and s.epochs stay empty.
void open_run_files(TrainState& s) {
  if (!s.dp.root()) return;
  s.new_dir->keep();
  write_file_atomically(s.run_dir + "/config.toml", to_toml(s.c));
  s.manifest = run_manifest(s);
  write_file_atomically(s.run_dir + "/manifest.json", s.manifest.dump(2) + "\n");
  s.metrics.emplace(s.run_dir + "/metrics.jsonl", "step", s.step + 1);
  s.epochs.emplace(s.run_dir + "/epochs.csv", std::vector<std::string>{"epoch", "mean_loss", "knn_accuracy", "lr", "seconds"},
                   s.loader->cursor().epoch);
}

// ---- the loop's steps ------------------------------------------------------------------------

void start_training(TrainState& s) {
  const PretrainConfig& c = s.c;
  install_stop_handlers();
  s.backbone->train();
  s.head->train();
  s.last_step = c.max_steps > 0 ? std::min(s.total_steps, s.step + c.max_steps) : s.total_steps;
  say("training: " + std::to_string(c.epochs) + " epochs × " + std::to_string(s.steps_per_epoch) + " steps, batch " +
      std::to_string(c.batch_size) + " × " + std::to_string(c.views) + " views, " + c.loss + " loss, " + c.optimizer +
      " lr " + fixed(s.lr, 4) + ", " + std::to_string(s.threads) + " threads, device " + s.device.str());
  s.progress.emplace("train", s.total_steps, s.opt.quiet ? Progress::kQuiet : 10.0);
  s.epoch_start = Clock::now();
}

// After the last step of the last epoch, one more loader call closes that epoch (nullopt):
// its monitor, CSV row and checkpoint run like every other epoch's. A run stopped by
// --max-steps mid-epoch ends without closing it.
bool closing_last_epoch(const TrainState& s) { return s.step == s.total_steps && s.epoch_steps > 0; }
bool training_done(const TrainState& s) { return s.step >= s.last_step && !closing_last_epoch(s); }

// A checkpoint of everything needed to continue bit-for-bit; never one holding NaN/inf.
void save(TrainState& s, const char* why) {
  CONTRA_CHECK(all_finite(tensors_of(s.params)), "checkpoint", "refusing to save at step ", s.step, ": tensor ",
               first_non_finite(s.params), " holds non-finite values");
  nn::TrainingState ts;
  ts.step = s.step;
  ts.config = {{"critical", critical_subset(s.c)}, {"full", to_json(s.c)}};
  ts.data_cursor = {{"epoch", s.loader->cursor().epoch}, {"batch", s.loader->cursor().batch}};
  ts.extra = {{"epoch_loss_sum", s.epoch_loss_sum}, {"epoch_steps", s.epoch_steps}, {"reason", why}};
  // Rank 0 writes (the weights are the same on every rank); `latest` moves after the barrier.
  dist::Communicator& comm = *s.dp.comm;
  if (s.dp.root()) s.checkpoints->save(model_state(*s.backbone, *s.head), s.optimizer.get(), ts, [&] { comm.barrier(); });
  else comm.barrier();
  if (s.metrics) s.metrics->sync();
  s.last_saved = s.step;
}

// Whether the run stops now: a signal reached this process or (K > 1) any rank, which all
// then take as their own (the same step on every rank; one small collective).
bool stop_now(TrainState& s) {
  if (!s.dp.active()) return stop_requested();
  const std::int64_t signal_number = max_over_ranks(*s.dp.comm, stop_signal());
  if (signal_number != 0) request_stop(static_cast<int>(signal_number));
  return signal_number != 0;
}

int stop_with_checkpoint(TrainState& s) {
  if (s.last_saved != s.step) save(s, "signal");
  say("stopped by signal " + std::to_string(stop_signal()) + " at step " + std::to_string(s.step) +
      "; resume with --resume auto --name " + fs::path(s.run_dir).filename().string());
  return stop_exit_code();
}

// kNN monitor: bank = pretraining set, queries = test set (eval mode, no augmentation).
double knn_monitor(TrainState& s) {
  const PretrainConfig& c = s.c;
  const auto& pretrain = s.data.pretrain;
  const auto& test = s.data.test;
  // Features on the model's device, gathered on the host (extract_features); the similarities
  // then run on s.device again (knn_predict reads each chunk back). On the CPU .to() is a no-op.
  const Tensor bank =
      extract_features(*s.backbone, pretrain, s.data.stats, 512, static_cast<int>(c.workers)).to(s.device);
  const Tensor queries =
      extract_features(*s.backbone, test, s.data.stats, 512, static_cast<int>(c.workers)).to(s.device);
  KnnOptions ko;
  ko.k = static_cast<int>(c.knn_k);
  ko.temperature = c.knn_temperature;
  const auto pred = knn_predict(bank, pretrain->labels, queries, static_cast<int>(pretrain->num_classes()), ko);
  std::int64_t correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == test->labels[i];
  return static_cast<double>(correct) / static_cast<double>(pred.size());
}

// The monitor's accuracy for epochs it runs on (every knn_every-th and the last), NaN otherwise
// or when a signal interrupted it. Rank 0 runs it; the other ranks wait (data_parallel.h).
double monitor_epoch(TrainState& s, std::int64_t epoch) {
  const PretrainConfig& c = s.c;
  if (c.knn_every <= 0 || !((epoch + 1) % c.knn_every == 0 || epoch + 1 == c.epochs)) return NAN;
  double knn = NAN;
  const auto monitor = [&] {
    if (!stop_requested()) try {
        knn = knn_monitor(s);
      } catch (const StopRequested&) {  // a signal during the monitor: skip it, the caller saves
      }
  };
  if (s.dp.active()) s.dp.comm->run_on_root("the kNN monitor", monitor, root_work_timeout_s());
  else monitor();
  s.backbone->train();
  s.head->train();
  if (s.metrics && !std::isnan(knn)) {
    s.metrics->append({{"step", s.step}, {"epoch", epoch}, {"knn_accuracy", knn}});
    say("epoch " + std::to_string(epoch) + ": kNN accuracy " + fixed(100 * knn, 2) + "%");
  }
  return knn;
}

// End of an epoch: monitor, epochs.csv row, checkpoint (unless saving by steps).
std::optional<int> end_of_epoch(TrainState& s) {
  const std::int64_t epoch = s.loader->cursor().epoch - 1;
  const double knn = monitor_epoch(s, epoch);
  const double secs = std::chrono::duration<double>(Clock::now() - s.epoch_start).count();
  if (s.epochs)
    s.epochs->append({std::to_string(epoch), s.epoch_steps ? fixed(s.epoch_loss_sum / s.epoch_steps, 6) : "nan",
                    std::isnan(knn) ? "nan" : fixed(knn, 6), fixed((*s.schedule)(s.step), 6), fixed(secs, 1)});
  s.epoch_loss_sum = 0.0;
  s.epoch_steps = 0;
  s.epoch_start = Clock::now();
  if (s.c.checkpoint_every == 0) save(s, "epoch");
  if (stop_now(s)) return stop_with_checkpoint(s);
  return std::nullopt;
}

nlohmann::json step_log_entry(const TrainState& s, const data::Batch& batch, double loss, double lr,
                              const std::optional<contrastive::LossTelemetry>& tel) {
  nlohmann::json e = {{"step", s.step}, {"epoch", batch.epoch}, {"loss", loss}, {"lr", lr},
                      {"images_per_s", s.progress->rate()}};
  if (s.timed && s.window_steps > 0) {  // rank 0's mean over the steps since the last line
    e["comm_ms_per_step"] = 1e3 * s.window_comm_s / static_cast<double>(s.window_steps);
    e["comm_fraction"] = s.window_step_s > 0 ? s.window_comm_s / s.window_step_s : 0.0;
  }
  if (tel) {
    e["attraction"] = tel->attraction;
    e["repulsion"] = tel->repulsion;
    e["grad_norm_attraction"] = tel->grad_norm_attraction;
    e["grad_norm_repulsion"] = tel->grad_norm_repulsion;
    e["mean_positive_similarity"] = tel->mean_positive_similarity;
    e["mean_negative_similarity"] = tel->mean_negative_similarity;
    e["alignment"] = tel->alignment;
    e["uniformity"] = tel->uniformity;
  }
  return e;
}

// One optimization step: forward, loss, backward, update; the non-finite stops (S3); log
// and checkpoint when due. Returns an exit code when the run must stop.
std::optional<int> train_step(TrainState& s, const data::Batch& batch) {
  const PretrainConfig& c = s.c;
  const Clock::time_point step_start = Clock::now();
  const double comm_before = s.timed ? s.timed->counters().seconds : 0.0;
  const double step_lr = (*s.schedule)(s.step);
  s.optimizer->set_lr(step_lr);
  // The loader's images are host tensors: one explicit copy to the device. On CUDA it is staged
  // through a pinned buffer and returns before the transfer ends (Backend::copy_from_host), so
  // the host goes on queueing the forward pass while the loader's workers build the next batch.
  // The labels stay on the host: the losses that read them build their masks from host values.
  const Tensor images = batch.images.to(s.device);                   // (M, C, H, W) view-major
  const Tensor f = (*s.head)(s.backbone->forward_features(images));  // (M, D) view-major; K > 1: this rank's rows
  if (s.dp.active() ? any_rank(*s.dp.comm, !all_finite({f})) : !all_finite({f}))
    return stop_non_finite("step " + std::to_string(s.step + 1) + ": the embeddings are non-finite" + weights_state(s.params));
  const bool log_now = (s.step + 1) % c.log_every == 0 || s.step + 1 == s.last_step;
  const contrastive::ViewLayout layout{c.batch_size, c.views};
  const LossResult loss = s.dp.active() ? data_parallel_loss(*s.dp.comm, f, batch.labels, c, log_now)
                                         : compute_loss({f, layout, batch.labels, c, log_now});
  const double loss_value = s.dp.active() ? dist::global_mean(*s.dp.comm, loss.loss) : loss.loss.item();
  if (!std::isfinite(loss_value)) {
    std::ostringstream value;
    value << loss_value;
    return stop_non_finite("step " + std::to_string(s.step + 1) + ": the loss is " + value.str() + weights_state(s.params));
  }
  s.optimizer->zero_grad();
  backward(loss.loss);
  if (s.dp.buckets) s.dp.buckets->finish();  // ḡ = (1/K) Σ_r g^(r): the one-process gradient
  s.optimizer->step();
  ++s.step;
  if (!all_finite(tensors_of(s.params))) {  // S3: caught in the step that produced it, never saved
    std::ostringstream lr;
    lr << step_lr;
    return stop_non_finite("step " + std::to_string(s.step) + ": the update made tensor " + first_non_finite(s.params) +
                           " non-finite (lr " + lr.str() + ": lower --lr)");
  }
  s.epoch_loss_sum += loss_value;
  ++s.epoch_steps;
  std::string fields = "loss " + fixed(loss_value, 4) + " | lr " + fixed(step_lr, 4);
  if (s.timed) {  // this step from forward to update; its collectives (loader, checkpoints, stop agreement excluded)
    s.window_step_s += std::chrono::duration<double>(Clock::now() - step_start).count();
    s.window_comm_s += s.timed->counters().seconds - comm_before;
    ++s.window_steps;
    fields += " | comm " + fixed(1e3 * s.window_comm_s / static_cast<double>(s.window_steps), 0) + " ms/step (" +
              fixed(100 * s.window_comm_s / std::max(s.window_step_s, 1e-9), 0) + "%)";
  }
  s.progress->update(s.step, c.batch_size, fields);
  if (log_now && s.metrics) s.metrics->append(step_log_entry(s, batch, loss_value, step_lr, loss.telemetry));
  if (log_now) {
    s.window_step_s = s.window_comm_s = 0.0;
    s.window_steps = 0;
  }
  if (c.checkpoint_every > 0 && s.step % c.checkpoint_every == 0) save(s, "interval");
  if (stop_now(s)) return stop_with_checkpoint(s);
  return std::nullopt;
}

// ---- finish: the last checkpoint, the final evaluation, the report ----------------------------

EvalResults final_evaluation(TrainState& s) {
  const PretrainConfig& c = s.c;
  EvalData ed;
  ed.pretrain = s.data.pretrain;
  ed.test = s.data.test;
  ed.train = open_run_data(c, true).balanced_train;
  ed.stats = s.data.stats;
  ed.augment = s.spec;
  EvalOptions eo;
  eo.knn.k = static_cast<int>(c.knn_k);
  eo.knn.temperature = c.knn_temperature;
  eo.probe.epochs = c.probe_epochs;
  eo.probe.seed = static_cast<std::uint64_t>(c.seed);
  eo.seed = static_cast<std::uint64_t>(c.seed);
  eo.workers = static_cast<int>(c.workers);
  Generator random_gen(static_cast<std::uint64_t>(c.seed));  // the same draws as the initialisation
  nn::ResNet random_backbone(s.backbone_config, random_gen);
  nn::ProjectionHead random_head(s.head_config, random_gen);
  random_backbone.to(s.device);
  random_head.to(s.device);
  const EvalResults results =
      evaluate({{"pretrained", &*s.backbone, &*s.head}, {"random init", &random_backbone, &random_head}}, ed, eo,
               [](const std::string& line) { say(line); });
  write_evaluation(results, s.run_dir + "/eval");
  for (const char* enc : {"pretrained", "random init", "raw pixels"}) {
    if (!results.json["encoders"].contains(enc)) continue;
    const auto& e = results.json["encoders"][enc];
    say(std::string(enc) + ": kNN " + fixed(100 * e["knn_full_bank"]["overall"].get<double>(), 2) + "%, linear probe " +
        fixed(100 * e["linear_probe"]["overall"].get<double>(), 2) + "%");
  }
  return results;
}

// The final evaluation and the report (rank 0 only).
int evaluate_and_report(TrainState& s) {
  std::optional<EvalResults> results;
  if (s.c.final_eval) try {
      results = final_evaluation(s);
    } catch (const StopRequested&) {  // S4: the trained weights are saved; stop within a batch
      say("stopped by signal " + std::to_string(stop_signal()) + " during the final evaluation; the checkpoint at step " +
          std::to_string(s.step) + " is saved (evaluate it with tools/evaluate " + s.run_dir + ")");
      return stop_exit_code();
    }
  say("report: " + write_report(s.run_dir, s.manifest, results ? &*results : nullptr));
  return kExitOk;
}

int finish(TrainState& s) {
  if (s.last_saved != s.step) save(s, "final");
  s.progress->finish("step " + std::to_string(s.step));
  if (s.step < s.total_steps) {
    say("stopped after --max-steps at step " + std::to_string(s.step) + " of " + std::to_string(s.total_steps));
    if (s.dp.root()) write_report(s.run_dir, s.manifest, nullptr);
    return kExitOk;
  }
  if (!s.dp.active()) return evaluate_and_report(s);
  int code = kExitOk;  // the other ranks wait for rank 0's evaluation
  s.dp.comm->run_on_root("the final evaluation", [&] { code = evaluate_and_report(s); }, root_work_timeout_s());
  return code;
}

}  // namespace

Pretrainer::Pretrainer(PretrainConfig config, PretrainOptions options) : cfg_(std::move(config)), opt_(options) {}

// The run, top to bottom: prepare the run directory → build data and model → build the
// optimization → write the run files → train epoch by epoch → finish (evaluation, report).
int Pretrainer::run() {
  validate(cfg_);
  check_run_options(cfg_, opt_);
  TrainState s(cfg_, opt_);
  check_data_parallel(cfg_, s.dp.size());
  // refused (exit 2) before the run directory exists; K CUDA ranks on one machine: cuda:local rank
  s.connect(open_device(rank_device(cfg_.device, s.dp), "--device"));
  s.threads = configure_kernels(cfg_);
  prepare_run_directory(s);
  run_dir_ = s.run_dir;
  build_data_and_model(s);
  build_optimization(s);
  restore_training_state(s);
  open_run_files(s);
  start_training(s);
  while (!training_done(s)) {
    const bool closing = closing_last_epoch(s);
    const auto batch = s.loader->next();  // nullopt: the epoch ended
    CONTRA_ASSERT(!(closing && batch), "the loader yielded a batch past the last step");
    if (const std::optional<int> stop = batch ? train_step(s, *batch) : end_of_epoch(s)) return *stop;
  }
  return finish(s);
}

}  // namespace contra::train
