// config.h — the pretraining configuration: presets, TOML files, command-line overrides.
//
// One table of fields (config.cpp) is the single source of truth: each field has a TOML
// key ("optim.lr"), a command-line flag ("--lr"), a help text with its default, a type,
// and a valid range or a list of choices. Resolution order: preset → TOML file → flags.
// Errors: unknown keys, wrong types, out-of-range values and malformed TOML are reported
// with the file:line:col or the flag, the value seen and what is allowed (exit code 2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace contra::train {

// An error in what the user asked for (options, config files, an incompatible resume):
// tools exit with code 2 on it, and 1 on other errors.
struct UsageError : Error {
  using Error::Error;
};

struct PretrainConfig {
  // [data]
  std::string dataset = "fashion_mnist_lt";
  std::string data_root = "";           // "" → $CONTRA_DATA or ./data
  double imbalance_ratio = 100;         // for *_lt datasets: n_max / n_min
  std::string lt_convention = "ldam";   // ldam | sdclr | step
  std::int64_t max_train_images = 0;    // 0 = all (a seeded subset otherwise; for smoke runs)
  std::int64_t split_seed = 0;          // seed of the data construction (LT subset, max_train_images
                                        // subset, synthetic images): fixed, so run.seed varies only
                                        // the training
  std::int64_t image_size = 0;          // image folders: shorter side → S, centre crop S×S (0 = keep)
  std::string augment = "auto";         // auto | simclr_cifar | fashion_mnist | none
  double crop_min_scale = 0.08;
  double jitter = -1;                   // ColorJitter strength: brightness = contrast (= saturation
                                        // for RGB) = jitter, hue = jitter/4 for RGB, p = 0.8;
                                        // −1 keeps the preset's
  std::int64_t workers = 2;             // loader threads

  // [model]
  std::string arch = "resnet18";        // resnet18 | resnet34 | resnet50
  std::string stem = "cifar";           // cifar | imagenet
  double width = 1.0;                   // width multiplier (base width 64·width)
  std::int64_t head_hidden = 512;       // 0 = backbone feature size
  std::int64_t head_out = 128;
  std::int64_t head_layers = 2;         // linear layers in the projection head
  std::string checkpoint_activations = "none";  // none | stages | blocks (nn/resnet.h; issue 15)
  std::string precision = "f32";        // f32 | bf16: convolution precision (tensor/backend.h)
  std::string conv_algorithm = "direct";  // direct | winograd: 3×3 stride-1 CPU convolutions (tensor/backend.h)

  // [loss]
  std::string loss = "nt_xent";         // nt_xent | balanced | derived | supervised | supcon
  double temperature = 0.5;
  // Loss options are accepted only with the loss that reads them (validate(), rule in
  // loss_option_rule()): attract, repel, positive_weight with "balanced"; lambda with
  // "derived" and "supervised". Elsewhere they must keep these defaults.
  double attract = 1.0;                 // w_a (ν, as we read the paper)
  double repel = 1.0;                   // w_r (β, as we read the paper)
  double positive_weight = 1.0;         // w_p: positive inside the denominator (1 = NT-Xent)
  double lambda = 1.0;                  // λ of the supervised objective (S1) and of D1 ("derived")
  std::int64_t views = 2;

  // [optim]
  std::string optimizer = "sgd";        // sgd | lars | adamw
  double lr = 0.06;                     // base LR at batch 256; effective = lr · batch / 256
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double warmup_epochs = 0;
  double min_lr = 0.0;                  // cosine floor (absolute)
  std::int64_t epochs = 20;
  std::int64_t batch_size = 256;

  // [eval]
  std::int64_t knn_every = 5;           // epochs between kNN monitors (0 = off)
  std::int64_t knn_k = 200;
  double knn_temperature = 0.1;
  std::int64_t probe_epochs = 100;
  bool final_eval = true;

  // [run]
  std::string preset = "fashion_mnist_lt_small";
  std::string out = "runs";             // run directories are created below this
  std::string name = "";                // "" → <dataset>-<loss>-<timestamp>
  std::int64_t seed = 0;
  std::int64_t threads = 0;             // 0 = all cores
  std::string device = "cpu";           // cpu | cuda | cuda:N (train/device_choice.h); not a resume
                                        // key: a run may continue on another device
  std::int64_t checkpoint_every = 0;    // steps (0 = once per epoch)
  std::int64_t keep_last = 3;
  std::int64_t log_every = 10;          // steps between metrics.jsonl entries
  std::int64_t max_steps = 0;           // stop after this many steps (0 = all epochs)
  std::string resume = "none";          // none | auto | <checkpoint path>
};

// The names of the built-in presets and what each follows (for --help).
std::vector<std::pair<std::string, std::string>> preset_descriptions();
// Applies a preset by name; throws listing the valid names.
void apply_preset(PretrainConfig& c, const std::string& name);
// Applies a TOML file; throws with file:line:col for malformed files, unknown keys, wrong
// types and out-of-range values.
void apply_toml_file(PretrainConfig& c, const std::string& path);
void apply_toml_string(PretrainConfig& c, const std::string& text, const std::string& source_name);
// Validates ranges and choices (after flags were applied); throws on the first problem.
// Also enforces the loss-option rule: a run never records a loss setting it did not use.
void validate(const PretrainConfig& c);

// The rule for loss options, one sentence for --help and the README: an option of a loss
// other than the chosen one is refused (exit 2, naming the option); no option changes
// --loss by itself.
std::string loss_option_rule();

// The paper's names for the balanced loss (--nu, --beta, --rho, as we read the paper):
// applied to attract/repel with contrastive::with_paper_aliases (the one place that rules
// on β vs ρ), and refused unless the loss is "balanced". Throws UsageError naming the flag.
struct PaperAliasOptions {
  std::optional<double> nu, beta, rho;
};
void apply_paper_aliases(PretrainConfig& c, const PaperAliasOptions& a);

nlohmann::json to_json(const PretrainConfig& c);
std::string to_toml(const PretrainConfig& c);  // the resolved config, as a file users can reuse

// The keys whose change makes a checkpoint incompatible (architecture, data, batch...).
std::vector<std::string> resume_critical_keys();

// The field table (config.cpp): one entry a configuration key, typed by what it holds.
// One struct per value type names the PretrainConfig member and the values it allows; the
// operations below (TOML, flags, checkpoints, --help, printing, validation) are written
// once over them, so no use switches on the type again.
struct StringField {
  std::string PretrainConfig::*member;
  std::vector<std::string> choices;  // empty: any string
};
struct IntField {
  std::int64_t PretrainConfig::*member;
  double lo, hi;  // inclusive range (compared as doubles, as the table writes them)
};
struct DoubleField {
  double PretrainConfig::*member;
  double lo, hi;  // inclusive range
};
struct BoolField {
  bool PretrainConfig::*member;
};

struct ConfigField {
  std::string key;   // "optim.lr"
  std::string flag;  // "--lr"
  std::string help;
  std::variant<StringField, IntField, DoubleField, BoolField> type;

  // Sets the field from text (a flag, a sweep value, a checkpoint's recorded value): parsed
  // as the type, checked against the range or choices; throws UsageError naming `source`.
  void set_from_text(PretrainConfig& c, const std::string& text, const std::string& source) const;
  // Throws UsageError naming `source` when c's value is out of range or not a choice.
  void check(const PretrainConfig& c, const std::string& source) const;
  nlohmann::json json_value(const PretrainConfig& c) const;
  // The value as a TOML value (doubles with 17 digits, as config.toml writes them).
  std::string toml_value(const PretrainConfig& c) const;
  // The value as messages show it (doubles with 6 digits).
  std::string value_text(const PretrainConfig& c) const;
  // The --help line: help text, key, default (from `defaults`) and the choices.
  std::string help_line(const PretrainConfig& defaults) const;
};
// The table, in config.toml order (built per call: loss.type lists the losses registered now).
std::vector<ConfigField> config_fields();
// The field of a key, or null.
const ConfigField* find_field(const std::vector<ConfigField>& fields, const std::string& key);

}  // namespace contra::train
