#include "train/run_setup.h"

#include <algorithm>
#include <numeric>
#include <variant>

#include "tensor/generator.h"

namespace contra::train {

data::DatasetOptions dataset_options(const PretrainConfig& c) {
  data::DatasetOptions o;
  o.root = c.data_root;
  o.long_tail.ratio = c.imbalance_ratio;
  // The data construction follows data.split_seed, never run.seed: runs that differ only in
  // their seed train on the same images.
  o.long_tail.seed = static_cast<std::uint64_t>(c.split_seed);
  if (c.lt_convention == "step") o.long_tail.profile = data::LtProfile::step;
  else o.long_tail.convention = data::parse_lt_convention(c.lt_convention);
  o.synthetic.seed = static_cast<std::uint64_t>(c.split_seed);
  o.image_folder.image_size = static_cast<int>(c.image_size);
  return o;
}

RunData open_run_data(const PretrainConfig& c, bool with_balanced_train) {
  const data::DatasetOptions opt = dataset_options(c);
  data::DatasetSplits splits = data::open_dataset(c.dataset, opt);
  RunData r;
  r.test = std::make_shared<const data::Dataset>(std::move(splits.test));
  r.pretrain = std::make_shared<const data::Dataset>(std::move(splits.train));
  const bool subset = c.max_train_images > 0 && c.max_train_images < r.pretrain->size();
  if (subset) {
    // A seeded subset (for smoke runs and tests), in ascending index order.
    std::vector<std::int64_t> order(static_cast<size_t>(r.pretrain->size()));
    std::iota(order.begin(), order.end(), 0);
    Generator g(static_cast<std::uint64_t>(c.split_seed) + 31);
    for (std::int64_t i = static_cast<std::int64_t>(order.size()) - 1; i > 0; --i)
      std::swap(order[i], order[g.below(static_cast<std::uint64_t>(i + 1))]);
    order.resize(static_cast<size_t>(c.max_train_images));
    std::sort(order.begin(), order.end());
    r.pretrain = std::make_shared<const data::Dataset>(data::subset(*r.pretrain, order, r.pretrain->name + "/subset"));
  }
  const std::string base = balanced_dataset_name(c.dataset);
  r.stats = data::dataset_stats(base, *r.pretrain);
  if (with_balanced_train)
    r.balanced_train = base != c.dataset ? std::make_shared<const data::Dataset>(data::open_dataset(base, opt).train)
                                         : r.pretrain;
  return r;
}

void apply_jitter(data::AugmentSpec& spec, double jitter, int channels) {
  if (jitter < 0) return;
  const bool rgb = channels == 3;
  const data::ColorJitter j{0.8, jitter, jitter, rgb ? jitter : 0.0, rgb ? 0.25 * jitter : 0.0};
  for (auto& op : spec.ops)
    if (auto* cj = std::get_if<data::ColorJitter>(&op)) {
      *cj = j;
      return;
    }
  if (jitter > 0) spec.ops.insert(spec.ops.begin(), j);
}

data::AugmentSpec augment_spec(const PretrainConfig& c, int C, int H, int W, const data::ChannelStats& stats) {
  const std::string name = c.augment == "auto" ? data::default_preset_for(C, H) : c.augment;
  data::AugmentSpec spec = name == "none" ? data::eval_preset(stats.mean, stats.std, H, W)
                                          : data::augment_preset(name, C, H, W, stats.mean, stats.std);
  if (spec.random_crop) spec.crop.scale_min = c.crop_min_scale;
  apply_jitter(spec, c.jitter, C);
  return spec;
}

nn::ResNetConfig backbone_config(const PretrainConfig& c, std::int64_t in_channels) {
  nn::ResNetConfig rc;
  rc.depth = nn::resnet_depth_from_name(c.arch);
  rc.stem = nn::stem_from_name(c.stem);
  rc.in_channels = in_channels;
  rc.width = c.width;
  return rc;
}

nn::ProjectionHeadConfig head_config(const PretrainConfig& c, std::int64_t feature_dim) {
  nn::ProjectionHeadConfig hc;
  hc.in_dim = feature_dim;
  hc.hidden_dim = c.head_hidden > 0 ? c.head_hidden : feature_dim;
  hc.out_dim = c.head_out;
  hc.num_layers = static_cast<int>(c.head_layers);
  return hc;
}

nn::StateDict model_state(const nn::ResNet& backbone, const nn::Module& head) {
  nn::StateDict s = backbone.state_dict();
  for (auto& kv : nn::with_prefix(head.state_dict(), "head.")) s.push_back(kv);
  return s;
}

nn::NamedTensors model_parameters(const nn::ResNet& backbone, const nn::Module& head) {
  nn::NamedTensors p = backbone.named_parameters();
  for (auto& [n, t] : head.named_parameters()) p.push_back({"head." + n, t});
  return p;
}

void load_model(const nn::StateDict& weights, nn::ResNet& backbone, nn::Module& head) {
  nn::StateDict bb, hd;
  for (const auto& [k, t] : weights) {
    if (k.rfind("head.", 0) == 0) hd.push_back({k.substr(5), t});
    else if (k.rfind("fc.", 0) != 0) bb.push_back({k, t});
  }
  backbone.load_state_dict(bb, true);
  if (!hd.empty()) head.load_state_dict(hd, true);
}

std::string balanced_dataset_name(const std::string& name) {
  const std::string suffix = "_lt";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size());
  return name;
}

}  // namespace contra::train
