#include "train/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include <toml++/toml.h>

#include "contrastive/balanced.h"
#include "data/dataset_registry.h"
#include "nn/optimizer_factory.h"
#include "tensor/error.h"
#include "train/device_choice.h"
#include "train/loss_registry.h"
#include "train/toml_text.h"

namespace contra::train {

namespace {
// A TOML basic string: quotes, backslashes and control characters escaped (a --name or
// --out holding them once made config.toml unreadable).
std::string toml_quote(const std::string& v) {
  std::string out = "\"";
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// What each field type does, one overload per type; ConfigField's operations and the TOML
// reader below visit the field's type and call these.

// What a value of the type is called in messages ("is not an integer", "must be a number").
const char* noun(const StringField&) { return "a string"; }
const char* noun(const IntField&) { return "an integer"; }
const char* noun(const DoubleField&) { return "a number"; }
const char* noun(const BoolField&) { return "true or false"; }

// Text → value; throws a std::exception on text that is not one.
std::string parse(const StringField&, const std::string& text) { return text; }
std::int64_t parse(const IntField&, const std::string& text) {
  size_t used = 0;
  const long long v = std::stoll(text, &used);
  if (used != text.size()) throw std::invalid_argument("trailing characters");
  return v;
}
double parse(const DoubleField&, const std::string& text) {
  size_t used = 0;
  const double v = std::stod(text, &used);
  if (used != text.size() || !std::isfinite(v)) throw std::invalid_argument("not a finite number");
  return v;
}
bool parse(const BoolField&, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  throw std::invalid_argument("bool");
}

// A TOML value → value, or nothing when the node holds another type (an integer is a
// number too).
std::optional<std::string> from_toml(const StringField&, const toml::node& n) {
  return n.is_string() ? n.value<std::string>() : std::nullopt;
}
std::optional<std::int64_t> from_toml(const IntField&, const toml::node& n) {
  return n.is_integer() ? n.value<std::int64_t>() : std::nullopt;
}
std::optional<double> from_toml(const DoubleField&, const toml::node& n) {
  return n.is_number() ? n.value<double>() : std::nullopt;
}
std::optional<bool> from_toml(const BoolField&, const toml::node& n) {
  return n.is_boolean() ? n.value<bool>() : std::nullopt;
}

// A value or bound as the user writes it: integers without a fraction, numbers in %g style.
std::string bound_text(const IntField&, double v) {
  std::ostringstream os;
  if (std::abs(v) < 9.3e18) os << static_cast<long long>(v);
  else os << v;
  return os.str();
}
std::string bound_text(const DoubleField&, double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

template <class Numeric>
void check_range(const Numeric& t, double v, const std::string& key, const std::string& source) {
  if (!(v >= t.lo && v <= t.hi))
    throw UsageError(source, key + " = " + bound_text(t, v) + " is out of range",
                     "allowed range: [" + bound_text(t, t.lo) + ", " + bound_text(t, t.hi) + "]");
}

// The range or choices of each type.
void check_value(const StringField& t, const std::string& v, const std::string& key, const std::string& source) {
  if (t.choices.empty()) return;
  for (const auto& c : t.choices)
    if (c == v) return;
  throw UsageError(source, key + " = \"" + abbreviate(v) + "\" is not a valid choice", "valid: " + join(t.choices));
}
void check_value(const IntField& t, std::int64_t v, const std::string& key, const std::string& source) {
  check_range(t, static_cast<double>(v), key, source);
}
void check_value(const DoubleField& t, double v, const std::string& key, const std::string& source) {
  check_range(t, v, key, source);
}
void check_value(const BoolField&, bool, const std::string&, const std::string&) {}

// " {a,b,c}" after the --help line of a field with choices.
std::string choices_text(const StringField& t) { return t.choices.empty() ? "" : " {" + join(t.choices, ",") + "}"; }
template <class Other>
std::string choices_text(const Other&) {
  return "";
}

// A value as messages show it (doubles with 6 significant digits).
std::string text_of(const std::string& v) { return toml_quote(v); }
std::string text_of(bool v) { return v ? "true" : "false"; }
template <class Number>
std::string text_of(Number v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A value as config.toml writes it: doubles with 17 digits and always a fraction or
// exponent, so that reading the file back gives the same double.
std::string toml_text_of(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  std::string t = os.str();
  if (t.find_first_of(".eEn") == std::string::npos) t += ".0";
  return t;
}
template <class Other>
std::string toml_text_of(const Other& v) {
  return text_of(v);
}

// Sets f from a TOML value: the node must hold f's type ("key must be an integer").
void set_from_toml(const ConfigField& f, PretrainConfig& c, const toml::node& node, const std::string& source) {
  std::visit(
      [&](const auto& t) {
        const auto v = from_toml(t, node);
        if (!v) throw UsageError(source, f.key + " must be " + noun(t));
        check_value(t, *v, f.key, source);
        c.*t.member = *v;
      },
      f.type);
}

}  // namespace

void ConfigField::set_from_text(PretrainConfig& c, const std::string& text, const std::string& source) const {
  std::visit(
      [&](const auto& t) {
        decltype(parse(t, text)) v{};
        try {
          v = parse(t, text);
        } catch (const std::exception&) {
          throw UsageError(source, key + " = \"" + abbreviate(text) + "\" is not " + noun(t));
        }
        check_value(t, v, key, source);
        c.*t.member = v;
      },
      type);
}

void ConfigField::check(const PretrainConfig& c, const std::string& source) const {
  std::visit([&](const auto& t) { check_value(t, c.*t.member, key, source); }, type);
}

nlohmann::json ConfigField::json_value(const PretrainConfig& c) const {
  return std::visit([&](const auto& t) { return nlohmann::json(c.*t.member); }, type);
}

std::string ConfigField::toml_value(const PretrainConfig& c) const {
  return std::visit([&](const auto& t) { return toml_text_of(c.*t.member); }, type);
}

std::string ConfigField::value_text(const PretrainConfig& c) const {
  return std::visit([&](const auto& t) { return text_of(c.*t.member); }, type);
}

std::string ConfigField::help_line(const PretrainConfig& defaults) const {
  return help + " [" + key + ", default " + json_value(defaults).dump() + "]" +
         std::visit([](const auto& t) { return choices_text(t); }, type);
}

const ConfigField* find_field(const std::vector<ConfigField>& fields, const std::string& key) {
  for (const auto& f : fields)
    if (f.key == key) return &f;
  return nullptr;
}

// The rows below are alike on purpose: one per key, in config.toml order.
std::vector<ConfigField> config_fields() {
  using C = PretrainConfig;
  auto S = [](std::string key, std::string flag, std::string help, std::string C::*m, std::vector<std::string> choices = {}) {
    return ConfigField{key, flag, help, StringField{m, choices}};
  };
  auto I = [](std::string key, std::string flag, std::string help, std::int64_t C::*m, double lo, double hi) {
    return ConfigField{key, flag, help, IntField{m, lo, hi}};
  };
  auto D = [](std::string key, std::string flag, std::string help, double C::*m, double lo, double hi) {
    return ConfigField{key, flag, help, DoubleField{m, lo, hi}};
  };
  auto B = [](std::string key, std::string flag, std::string help, bool C::*m) {
    return ConfigField{key, flag, help, BoolField{m}};
  };
  return {
      S("data.dataset", "--dataset", "dataset: cifar10, cifar10_lt, cifar100, cifar100_lt, fashion_mnist, "
        "fashion_mnist_lt, image_folder:<path>, synthetic", &C::dataset),
      S("data.root", "--data-root", "where datasets live (\"\" = $CONTRA_DATA or ./data)", &C::data_root),
      D("data.imbalance_ratio", "--imbalance-ratio", "n_max / n_min of *_lt datasets", &C::imbalance_ratio, 1, 1e6),
      S("data.lt_convention", "--lt-convention", "long-tailed construction: ldam (exponential, first n_i of a seeded "
        "shuffle), sdclr (45k split), step", &C::lt_convention, {"ldam", "sdclr", "step"}),
      I("data.max_train_images", "--max-train-images", "use a seeded subset of this many training images (0 = all)",
        &C::max_train_images, 0, 1e9),
      I("data.split_seed", "--split-seed", "seed of the data construction (long-tailed subset, --max-train-images "
        "subset, synthetic images); fixed so that --seed varies only the training", &C::split_seed, 0, 9.2e18),
      I("data.image_size", "--image-size", "image folders: resize the shorter side to this and centre-crop to a "
        "square (0 = keep; the images must then share one size)", &C::image_size, 0, 8192),
      S("data.augment", "--augment", "augmentation preset (auto: from the dataset)", &C::augment,
        {"auto", "simclr_cifar", "fashion_mnist", "none"}),
      D("data.crop_min_scale", "--crop-min-scale", "RandomResizedCrop lower area fraction", &C::crop_min_scale, 0.01, 1),
      D("data.jitter", "--jitter", "colour jitter strength: brightness = contrast (= saturation for RGB) = jitter, "
        "hue = jitter/4 for RGB (SimCLR's 0.8/0.8/0.8/0.2 at 1), applied with p 0.8 (−1 = the preset's own)", &C::jitter, -1, 1),
      I("data.workers", "--workers", "loader threads", &C::workers, 1, 64),
      S("model.arch", "--arch", "backbone", &C::arch, {"resnet18", "resnet34", "resnet50"}),
      S("model.stem", "--stem", "cifar: 3×3/1 conv, no max-pool; imagenet: 7×7/2 + max-pool", &C::stem, {"cifar", "imagenet"}),
      D("model.width", "--width", "width multiplier (base width 64·width)", &C::width, 0.0625, 4),
      I("model.head_hidden", "--head-hidden", "projection head hidden width (0 = backbone feature size)", &C::head_hidden, 0, 65536),
      I("model.head_out", "--head-out", "projection head output dimension", &C::head_out, 1, 65536),
      I("model.head_layers", "--head-layers", "linear layers in the projection head (BN + ReLU between)", &C::head_layers, 1, 8),
      S("model.checkpoint_activations", "--checkpoint-activations", "recompute the backbone's stem and stages, or "
        "residual blocks, in the backward pass: less activation memory, one more forward (same results)",
        &C::checkpoint_activations, {"none", "stages", "blocks"}),
      S("model.precision", "--precision", "convolution precision: f32, or bf16 (bf16 inputs, f32 accumulation, "
        "f32 weights/BN/loss; needs AVX512-BF16 or AMX)", &C::precision, {"f32", "bf16"}),
      S("model.conv_algorithm", "--conv-algorithm", "float32 3×3 stride-1 CPU convolutions: direct, or winograd "
        "(F(4×4,3×3): 1.4–2.3× faster per layer from 64 channels on AVX-512, equal up to float32 rounding)", &C::conv_algorithm,
        {"direct", "winograd"}),
      S("loss.type", "--loss", "objective (docs/derivation.md; --help lists them): " + join(loss_names(), " | "), &C::loss,
        loss_names()),
      D("loss.temperature", "--temperature", "τ", &C::temperature, 1e-4, 100),
      D("loss.attract", "--attract", "attraction weight w_a (ν as we read the paper; alias --nu); --loss balanced only",
        &C::attract, 0, 1e3),
      D("loss.repel", "--repel", "repulsion weight w_r (β as we read the paper; alias --beta); --loss balanced only",
        &C::repel, 0, 1e3),
      D("loss.positive_weight", "--positive-weight", "w_p: weight of the positive in the denominator (1 = NT-Xent, "
        "0 = D1); --loss balanced only", &C::positive_weight, 0, 1),
      D("loss.lambda", "--lambda", "λ of the supervised prototype objective (S1) and of D1; --loss derived or supervised only",
        &C::lambda, 0, 1e3),
      I("loss.views", "--views", "views per image V", &C::views, 2, 16),
      S("optim.optimizer", "--optimizer", "optimizer", &C::optimizer,
        std::vector<std::string>(nn::kOptimizerNames.begin(), nn::kOptimizerNames.end())),
      D("optim.lr", "--lr", "base learning rate at batch 256 (effective = lr · batch / 256)", &C::lr, 0, 1e6),
      D("optim.momentum", "--momentum", "momentum (SGD, LARS) or β1 (AdamW)", &C::momentum, 0, 0.9999),
      D("optim.weight_decay", "--weight-decay", "weight decay", &C::weight_decay, 0, 1),
      D("optim.warmup_epochs", "--warmup-epochs", "linear warm-up epochs before the cosine decay", &C::warmup_epochs, 0, 1e5),
      D("optim.min_lr", "--min-lr", "floor of the cosine schedule", &C::min_lr, 0, 100),
      I("optim.epochs", "--epochs", "training epochs", &C::epochs, 1, 1e6),
      I("optim.batch_size", "--batch-size", "images per step (each seen in V views)", &C::batch_size, 2, 1 << 20),
      I("eval.knn_every", "--knn-every", "epochs between kNN monitors (0 = off)", &C::knn_every, 0, 1e6),
      I("eval.knn_k", "--knn-k", "k of the kNN monitor", &C::knn_k, 1, 1e6),
      D("eval.knn_temperature", "--knn-temperature", "vote temperature of the kNN monitor", &C::knn_temperature, 1e-4, 100),
      I("eval.probe_epochs", "--probe-epochs", "linear-probe epochs in the final evaluation", &C::probe_epochs, 1, 1e5),
      B("eval.final", "--final-eval", "evaluate (kNN, linear probe, baselines, report) at the end", &C::final_eval),
      S("run.preset", "--preset", "named preset applied before the config file and flags", &C::preset),
      S("run.out", "--out", "parent directory of run directories", &C::out),
      S("run.name", "--name", "run directory name (\"\" = <dataset>-<loss>-<time>)", &C::name),
      I("run.seed", "--seed", "seed of everything random", &C::seed, 0, 9.2e18),
      I("run.threads", "--threads", "compute threads (0 = all cores)", &C::threads, 0, 1024),
      S("run.device", "--device", std::string(kDeviceHelp) + "; a run may resume on another device", &C::device),
      I("run.checkpoint_every", "--checkpoint-every", "steps between checkpoints (0 = end of each epoch)", &C::checkpoint_every, 0, 1e9),
      I("run.keep_last", "--keep-last", "checkpoints kept", &C::keep_last, 1, 1000),
      I("run.log_every", "--log-every", "steps between metrics.jsonl entries", &C::log_every, 1, 1e9),
      I("run.max_steps", "--max-steps", "stop after this many steps (0 = run all epochs)", &C::max_steps, 0, 1e12),
      S("run.resume", "--resume", "none, auto (newest valid checkpoint of the run directory) or a checkpoint path", &C::resume),
  };
}

namespace {

// A named starting configuration: TOML text read by the same parser as user files, applied
// to the defaults (keys not named keep their PretrainConfig default).
// Each preset is spelled out in full, so the lines it shares with another preset
// ([model] arch = "resnet18" …) repeat deliberately: a preset reads as the recipe it follows.
struct Preset {
  const char* name;
  const char* description;  // for --help
  const char* toml;
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"fashion_mnist_lt_small",
       "default; about 5 minutes on 2 cores: Fashion-MNIST-LT ratio 100 (LDAM, 14,886 images), "
       "ResNet-18 width 1/8, CIFAR stem, RRC(0.2–1) + flip + brightness/contrast jitter 0.8, "
       "NT-Xent τ=0.2, SGD lr 0.06 wd 5e-4, batch 256, cosine, 20 epochs (recipes.md's job with "
       "jitter and τ=0.2 added: see README)",
       R"([data]
dataset = "fashion_mnist_lt"
imbalance_ratio = 100
lt_convention = "ldam"
augment = "fashion_mnist"
crop_min_scale = 0.2
jitter = 0.8  # brightness/contrast: without it the features get worse than at init (README)
[model]
arch = "resnet18"
stem = "cifar"
width = 0.125
head_hidden = 0
head_out = 128
[loss]
type = "nt_xent"
temperature = 0.2
[optim]
optimizer = "sgd"
lr = 0.06
weight_decay = 5e-4
epochs = 20
batch_size = 256
[eval]
knn_every = 5
)"},
      {"simclr_cifar",
       "SimCLR official CIFAR recipe: ResNet-18 CIFAR stem, LARS (trust 0.001) lr 1.0·batch/256, wd 1e-4, "
       "batch 512, 10 warm-up epochs + cosine, 1000 epochs, τ=0.5",
       R"([data]
dataset = "cifar10"
augment = "simclr_cifar"
crop_min_scale = 0.08
[model]
arch = "resnet18"
stem = "cifar"
width = 1.0
head_hidden = 2048
head_out = 128
[loss]
type = "nt_xent"
temperature = 0.5
[optim]
optimizer = "lars"
lr = 1.0
weight_decay = 1e-4
warmup_epochs = 10
epochs = 1000
batch_size = 512
[eval]
knn_every = 10
)"},
      {"sdclr_cifar10_lt",
       "SDCLR CIFAR-10-LT setting: ResNet-18, batch 512, τ=0.2, 2000 epochs, SDCLR split (45k, "
       "ratio 100), SGD lr 0.5 wd 1e-4 cosine (optimizer as in the SDCLR code as we read it)",
       R"([data]
dataset = "cifar10_lt"
imbalance_ratio = 100
lt_convention = "sdclr"
augment = "simclr_cifar"
[model]
arch = "resnet18"
stem = "cifar"
head_hidden = 512
head_out = 128
[loss]
type = "nt_xent"
temperature = 0.2
[optim]
optimizer = "sgd"
lr = 0.5
weight_decay = 1e-4
epochs = 2000
batch_size = 512
[eval]
knn_every = 20
)"},
      {"smoke",
       "about 20 seconds on 2 cores (a minute on a busy machine): 320 synthetic images, tiny ResNet, "
       "2 epochs, the full evaluation (for tests)",
       R"([data]
dataset = "synthetic"
max_train_images = 320  # 10 steps per epoch: --help promises about 20 seconds
augment = "simclr_cifar"
crop_min_scale = 0.5
workers = 2
[model]
arch = "resnet18"
width = 0.0625
head_hidden = 32
head_out = 16
[optim]
epochs = 2
batch_size = 32
lr = 0.1
[eval]
knn_every = 1
knn_k = 20
probe_epochs = 10
[run]
log_every = 1
)"},
  };
  return table;
}

void apply_table(PretrainConfig& c, const toml::table& root, const std::string& source_name);

}  // namespace

std::vector<std::pair<std::string, std::string>> preset_descriptions() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : presets()) out.emplace_back(p.name, p.description);
  return out;
}

void apply_preset(PretrainConfig& c, const std::string& name) {
  for (const auto& p : presets()) {
    if (p.name != name) continue;
    const std::string source = "preset " + name;
    PretrainConfig fresh;
    apply_table(fresh, parse_toml_checked(p.toml, source), source);
    fresh.preset = name;
    c = fresh;
    return;
  }
  std::string names;
  for (const auto& p : presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
  throw UsageError("--preset", "unknown preset \"" + name + "\"", "valid presets: " + names);
}

namespace {

void apply_table(PretrainConfig& c, const toml::table& root, const std::string& source_name) {
  const auto fields = config_fields();
  auto where = [&](const toml::node& n) {
    const auto& s = n.source();
    return source_name + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column);
  };
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const toml::table* section_table = section_node.as_table();
    if (!section_table) {
      throw UsageError(where(section_node), "\"" + section + "\" must be a [section] table",
                  "sections: [data] [model] [loss] [optim] [eval] [run]");
    }
    for (const auto& [k, node] : *section_table) {
      const std::string key = section + "." + std::string(k.str());
      const ConfigField* f = find_field(fields, key);
      if (!f) {
        std::vector<std::string> valid;
        for (const auto& cand : fields)
          if (cand.key.rfind(section + ".", 0) == 0) valid.push_back(cand.key.substr(section.size() + 1));
        throw UsageError(where(node), "unknown key \"" + key + "\"",
                    valid.empty() ? "sections: [data] [model] [loss] [optim] [eval] [run]" : "valid keys in [" + section + "]: " + join(valid));
      }
      set_from_toml(*f, c, node, where(node));
    }
  }
}

}  // namespace

void apply_toml_string(PretrainConfig& c, const std::string& text, const std::string& source_name) {
  const toml::table t = parse_toml_checked(text, source_name);
  // A preset named in the file is applied first, then the file's other keys.
  if (auto p = t["run"]["preset"].value<std::string>()) apply_preset(c, *p);
  apply_table(c, t, source_name);
}

void apply_toml_file(PretrainConfig& c, const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw UsageError("--config", path + " is a directory, not a TOML file", "pass the path of a .toml file");
  std::ifstream f(path);
  if (!f.good()) throw UsageError("--config", "cannot read config file " + path, "check the path");
  std::stringstream ss;
  ss << f.rdbuf();
  apply_toml_string(c, ss.str(), path);
}

namespace {

// The command-line flag of a configuration key ("loss.lambda" → "--lambda").
std::string field_flag(const std::string& key) {
  const auto fields = config_fields();
  const ConfigField* f = find_field(fields, key);
  CONTRA_ASSERT(f != nullptr, "no configuration field ", key);
  return f->flag;
}

// The loss-option rule (loss_option_rule()): an option that the chosen loss does not read
// (loss_registry.h: LossEntry::options) must keep its default, so a run never records a
// setting it did not use.
void check_loss_options(const PretrainConfig& c) {
  const LossEntry& chosen = find_loss(c.loss);
  PretrainConfig defaults;
  for (const ConfigField& f : config_fields()) {
    std::vector<std::string> used_by;
    for (const auto& e : loss_registry())
      if (std::find(e.options.begin(), e.options.end(), f.key) != e.options.end()) used_by.push_back(e.name);
    const bool read = std::find(chosen.options.begin(), chosen.options.end(), f.key) != chosen.options.end();
    if (used_by.empty() || read || f.value_text(c) == f.value_text(defaults)) continue;
    throw UsageError(f.flag, f.key + " = " + f.value_text(c) + " is read only by --loss " + join(used_by, " or ") +
                                 ", but this run's loss is " + c.loss + ": it would be recorded and not used",
                     "add --loss " + used_by.front() + " ([loss] type = \"" + used_by.front() + "\"), or leave " + f.key +
                         " at " + f.value_text(defaults) + " (" + loss_option_rule() + ")");
  }
}

}  // namespace

void validate(const PretrainConfig& c) {
  {
    bool known = c.dataset.rfind("image_folder:", 0) == 0 && c.dataset.size() > 13;
    std::string valid;
    for (const auto& n : data::dataset_names()) {
      known = known || n == c.dataset;
      valid += (valid.empty() ? "" : ", ") + n;
    }
    if (!known) throw UsageError("data.dataset", "unknown dataset \"" + c.dataset + "\"", "valid names: " + valid);
  }
  for (const auto& f : config_fields()) f.check(c, "config");
  parse_device(c.device, "run.device");  // the text only: whether this machine has it is asked when the run starts
  check_loss_options(c);
  if (!(c.attract > 0 || c.repel > 0))
    throw UsageError("loss", "attraction and repulsion weights are both 0: the loss is constant",
                     "set --attract or --repel above 0");
  if (!(c.min_lr <= c.lr * c.batch_size / 256.0 || c.lr == 0))
    throw UsageError("optim.min_lr", "the cosine floor " + std::to_string(c.min_lr) +
                     " is above the effective learning rate " + std::to_string(c.lr * c.batch_size / 256.0), "lower --min-lr");
}

std::string loss_option_rule() {
  // Options listed with the losses that read them, in registry order: "--attract --repel
  // --positive-weight (and --nu --beta --rho) with --loss balanced, --lambda with derived or supervised".
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // flags → losses
  for (const auto& e : loss_registry()) {
    if (e.options.empty()) continue;
    std::string flags;
    for (const auto& key : e.options) flags += (flags.empty() ? "" : " ") + field_flag(key);
    if (e.name == "balanced") flags += " (and --nu --beta --rho)";  // the paper's names, apply_paper_aliases
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == flags; });
    if (it == groups.end()) groups.push_back({flags, {e.name}});
    else it->second.push_back(e.name);
  }
  std::string rule;
  for (const auto& [flags, losses] : groups)
    rule += (rule.empty() ? "" : ", ") + flags + " with " + (rule.empty() ? "--loss " : "") + join(losses, " or ");
  return "a loss option is accepted only with the loss that reads it: " + rule +
         "; otherwise the run is refused (exit 2); no option changes --loss";
}

void apply_paper_aliases(PretrainConfig& c, const PaperAliasOptions& a) {
  if (!a.nu && !a.beta && !a.rho) return;
  const char* flag = a.nu ? "--nu" : a.beta ? "--beta" : "--rho";
  if (c.loss != "balanced")
    throw UsageError(flag, std::string(flag) + " is read only by --loss balanced, but this run's loss is " + c.loss,
                     "add --loss balanced (" + loss_option_rule() + ")");
  contrastive::BalancedParams p;
  p.attract = c.attract;
  p.repel = c.repel;
  try {
    p = contrastive::with_paper_aliases(p, contrastive::PaperAliases{a.nu, a.beta, a.rho});
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(flag, e.detail(), e.hint());
  }
  c.attract = p.attract;
  c.repel = p.repel;
}

nlohmann::json to_json(const PretrainConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : config_fields()) {
    const auto dot = f.key.find('.');
    j[f.key.substr(0, dot)][f.key.substr(dot + 1)] = f.json_value(c);
  }
  return j;
}

std::string to_toml(const PretrainConfig& c) {
  std::ostringstream os;
  std::string section;
  for (const auto& f : config_fields()) {
    const auto dot = f.key.find('.');
    const std::string s = f.key.substr(0, dot);
    if (s != section) {
      os << (section.empty() ? "" : "\n") << "[" << s << "]\n";
      section = s;
    }
    os << f.key.substr(dot + 1) << " = " << f.toml_value(c) << "   # " << f.help << "\n";
  }
  return os.str();
}

std::vector<std::string> resume_critical_keys() {
  return {"data.dataset", "data.imbalance_ratio", "data.lt_convention", "data.max_train_images", "data.split_seed",
          "data.image_size", "model.arch",
          "model.stem", "model.width", "model.head_hidden", "model.head_out", "model.head_layers", "loss.views",
          "optim.optimizer", "optim.batch_size", "optim.epochs", "run.seed"};
}

}  // namespace contra::train
