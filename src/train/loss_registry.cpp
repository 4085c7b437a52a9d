// loss_registry.cpp — the table of training objectives. See loss_registry.h; the math of
// each loss is in its own file under src/contrastive/ (docs/derivation.md).
#include "train/loss_registry.h"

#include "contrastive/losses.h"
#include "contrastive/prototypes.h"
#include "tensor/error.h"

namespace contra::train {

namespace {

// The balanced family (derivation.md §6) through the fused kernel, which also measures
// the telemetry; the three names differ only in the weights they pass.
LossResult fused_balanced(const LossInputs& in, const contrastive::BalancedParams& p) {
  contrastive::FusedOptions fo;
  fo.gradient_norms = in.telemetry_norms;
  auto out = contrastive::balanced_loss(in.embeddings, in.layout, p, fo);
  return {out.loss, out.telemetry};
}

// (NT) NT-Xent: w_a = w_r = w_p = 1.
LossResult nt_xent(const LossInputs& in) {
  contrastive::BalancedParams p;
  p.temperature = in.config.temperature;
  return fused_balanced(in, p);
}

// §6 the balanced loss with the configured weights.
LossResult balanced(const LossInputs& in) {
  contrastive::BalancedParams p;
  p.temperature = in.config.temperature;
  p.attract = in.config.attract;
  p.repel = in.config.repel;
  p.positive_weight = in.config.positive_weight;
  return fused_balanced(in, p);
}

// (D1) w_a = 1, w_r = λ, the positive outside the denominator.
LossResult derived(const LossInputs& in) {
  contrastive::BalancedParams p;
  p.temperature = in.config.temperature;
  p.attract = 1.0;
  p.repel = in.config.lambda;
  p.positive_weight = 0.0;
  return fused_balanced(in, p);
}

// (S1) the supervised prototype objective.
LossResult supervised(const LossInputs& in) {
  return {contrastive::supervised_prototype_loss(in.embeddings, in.layout, in.labels, in.config.lambda), std::nullopt};
}

// SupCon L_out.
LossResult supcon(const LossInputs& in) {
  return {contrastive::supcon_loss(in.embeddings, in.layout, in.labels, in.config.temperature), std::nullopt};
}

std::vector<LossEntry>& table() {
  static std::vector<LossEntry> losses = {
      {"nt_xent", "NT-Xent, SimCLR's loss (NT)", {}, false, &nt_xent},
      {"balanced", "the balanced loss with weights w_a, w_r, w_p (§6)", {"loss.attract", "loss.repel", "loss.positive_weight"},
       false, &balanced},
      {"derived", "the derived objective D1: w_r = λ, positive outside the denominator", {"loss.lambda"}, false, &derived},
      {"supervised", "the supervised prototype objective S1 (labels)", {"loss.lambda"}, true, &supervised},
      {"supcon", "SupCon L_out (labels)", {}, true, &supcon},
  };
  return losses;
}

}  // namespace

const std::vector<LossEntry>& loss_registry() { return table(); }

void register_loss(LossEntry entry) {
  CONTRA_CHECK(entry.compute != nullptr && !entry.name.empty(), "register_loss", "a loss needs a name and a function");
  for (const auto& e : table())
    CONTRA_CHECK(e.name != entry.name, "register_loss", "a loss named \"", entry.name, "\" is already registered");
  std::vector<std::string> keys;
  for (const auto& f : config_fields()) keys.push_back(f.key);
  for (const auto& o : entry.options) {
    bool known = o.rfind("loss.", 0) == 0;
    bool found = false;
    for (const auto& k : keys) found = found || k == o;
    CONTRA_CHECK(known && found, "register_loss", "loss \"", entry.name, "\": option \"", o,
                 "\" is not a [loss] key of the configuration");
  }
  table().push_back(std::move(entry));
}

const LossEntry& find_loss(const std::string& name) {
  for (const auto& e : table())
    if (e.name == name) return e;
  std::string valid;
  for (const auto& n : loss_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw UsageError("loss.type", "unknown loss \"" + abbreviate(name) + "\"", "valid: " + valid);
}

std::vector<std::string> loss_names() {
  std::vector<std::string> names;
  for (const auto& e : table()) names.push_back(e.name);
  return names;
}

std::string loss_help() {
  std::string s;
  for (const auto& e : table()) s += (s.empty() ? "" : "; ") + e.name + ": " + e.help;
  return s;
}

LossResult compute_loss(const LossInputs& in) { return find_loss(in.config.loss).compute(in); }

}  // namespace contra::train
