// checkpoint.h — training checkpoints: weights, optimizer state and everything to resume.
//
// A checkpoint is one safetensors file (safetensors.h):
//   tensors   the model's state dict under torchvision names (`conv1.weight`, ...), then
//             the optimizer's state under "optimizer.state.<index>.<key>"
//             (e.g. "optimizer.state.3.momentum_buffer"); drop the "optimizer." keys to
//             load the file into torchvision with load_state_dict.
//   metadata  "format": "pt"; "contra.checkpoint": "1"; "contra.step"; "contra.config"
//             (JSON: architecture and run options, compared on resume, reliability.md C6);
//             "contra.optimizer" (JSON: type, hyper-parameters, groups); "contra.rng"
//             (JSON {name: [4 hex words]}); "contra.data_cursor" (JSON); "contra.extra"
//             (JSON); "contra.crc32" (per-tensor checksums, added by the writer).
// Files are written atomically; CheckpointManager keeps "ckpt-<step>.safetensors" files and
// a `latest` pointer (a text file holding the file name), updated atomically only after the
// checkpoint itself is durable; resuming falls back to the newest valid file when the
// pointed-to one is corrupt (C1, C3, C4).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "nn/optimizer.h"
#include "nn/safetensors.h"
#include "tensor/generator.h"

namespace contra::nn {

struct TrainingState {
  std::int64_t step = 0;
  nlohmann::json config = nlohmann::json::object();       // architecture + run options
  nlohmann::json data_cursor = nlohmann::json::object();  // e.g. {"epoch": 3, "batch": 17}
  std::map<std::string, Generator::State> rng;            // named generator states
  nlohmann::json extra = nlohmann::json::object();
};

struct Checkpoint {
  std::string path;
  StateDict model;                       // every tensor not under "optimizer."
  StateDict optimizer_tensors;           // "<index>.<key>", for Optimizer::restore_state
  nlohmann::json optimizer;              // Optimizer::state_json(); null when absent
  std::optional<TrainingState> training; // absent in plain weight files (e.g. from PyTorch)
  Metadata metadata;                     // raw metadata
};

inline constexpr const char* kOptimizerPrefix = "optimizer.state.";

// The first floating tensor (in order) holding a NaN or an infinity: its name, how many
// such values it holds, the first one's flat index and value. nullopt when all are finite.
struct NonFinite {
  std::string name;
  std::int64_t count = 0, index = 0;
  double value = 0;
};
std::optional<NonFinite> find_non_finite(const StateDict& tensors);
// Throws contra::Error naming `source` and the tensor when one holds a non-finite value
// (reliability.md S5): "<source>: tensor 'layer2.0.conv1.weight' holds 1 non-finite value(s)
// (nan at flat index 17)".
void check_finite(const StateDict& tensors, const std::string& source);

void save_checkpoint(const std::string& path, const StateDict& model, const Optimizer* optimizer,
                     const TrainingState& state);
// Loads and validates (safetensors.h); metadata JSON that does not parse is an error naming
// the file and the key, and so is a model or optimizer tensor holding NaN or ±inf.
Checkpoint load_checkpoint(const std::string& path);

// Keys (dotted paths) whose values differ between two configs, including keys present in
// only one of them: "model.arch: resnet18 → resnet50". Empty when they agree.
std::vector<std::string> config_differences(const nlohmann::json& saved, const nlohmann::json& current);
// Throws contra::Error listing the differences (C6), with a hint about weights-only loading.
void check_config_compatible(const std::string& path, const nlohmann::json& saved, const nlohmann::json& current);

class CheckpointManager {
 public:
  // Creates `dir` if needed and deletes stale "*.tmp.<pid>" files from interrupted saves.
  explicit CheckpointManager(std::string dir, int keep_last = 3);

  // Writes "<dir>/ckpt-<step, 8 digits>.safetensors", then `latest`, then removes the
  // oldest checkpoints beyond keep_last. Returns the path written. `before_latest`, when
  // given, runs between the file and the pointer (data parallelism: a barrier, so that
  // `latest` moves only once every rank reached the checkpoint).
  std::string save(const StateDict& model, const Optimizer* optimizer, const TrainingState& state,
                   const std::function<void()>& before_latest = {});

  // The newest checkpoint that loads: the one `latest` names, else the other ckpt-* files
  // by descending step. Each rejected file's error is appended to `skipped`.
  std::optional<Checkpoint> load_latest(std::vector<std::string>* skipped = nullptr) const;

  const std::string& dir() const { return dir_; }
  int stale_files_removed() const { return stale_removed_; }
  // ckpt-* files present, by ascending step.
  std::vector<std::string> list() const;

 private:
  std::string dir_;
  int keep_last_;
  int stale_removed_ = 0;
};

}  // namespace contra::nn
