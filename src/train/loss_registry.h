// loss_registry.h — every training objective in one table: its name, the [loss] settings it
// reads, whether it needs labels, its help text, and the function that computes it.
//
// The configuration (choices of loss.type, the loss-option rule, --help), the training loop
// (Pretrainer), tools/inspect_loss and tools/pretrain's --help all read this table, so adding
// a loss touches the loss's own files, its tests and one row of loss_registry.cpp (or one
// register_loss() call, as tests/train/test_loss_registry.cpp does with a toy loss).
//
// Shapes: M = N·V rows of embeddings (view-major, contrastive/layout.h), D embedding size.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "contrastive/balanced_fused.h"
#include "contrastive/layout.h"
#include "tensor/tensor.h"
#include "train/config.h"

namespace contra::train {

// What a loss receives for one training step.
struct LossInputs {
  const Tensor& embeddings;               // (M, D) view-major, requires grad
  const contrastive::ViewLayout& layout;  // N images × V views
  const Tensor& labels;                   // (N) i64 class labels (read by supervised losses only)
  const PretrainConfig& config;           // temperature and the loss's own options
  bool telemetry_norms;                   // a logged step: also compute the gradient norms
};

// What it returns: the scalar to differentiate, and the fused losses' diagnostics
// (attraction, repulsion, their gradient norms, similarities), logged with the step.
struct LossResult {
  Tensor loss;                                          // ()
  std::optional<contrastive::LossTelemetry> telemetry;  // only losses that measure it
};

struct LossEntry {
  std::string name;                  // loss.type / --loss
  std::string help;                  // one phrase: what it is and where it is derived
  std::vector<std::string> options;  // its own [loss] keys ("loss.lambda"): refused with any other loss
  bool uses_labels = false;          // a supervised objective
  LossResult (*compute)(const LossInputs&) = nullptr;
};

// The table, built-in losses first in the order --help lists them.
const std::vector<LossEntry>& loss_registry();
// Adds a loss (tests, experiments); throws contra::Error when the name is taken or an option
// is not a [loss] key of the configuration.
void register_loss(LossEntry entry);
// The entry of `name`; throws UsageError listing the valid names.
const LossEntry& find_loss(const std::string& name);
std::vector<std::string> loss_names();
// "nt_xent (…), balanced (…), …" for --help.
std::string loss_help();

// Computes the configured loss for one step.
LossResult compute_loss(const LossInputs& in);

}  // namespace contra::train
