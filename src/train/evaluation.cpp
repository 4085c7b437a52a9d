#include "train/evaluation.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "contrastive/prb.h"
#include "data/loader.h"
#include "tensor/atomic_file.h"
#include "tensor/generator.h"
#include "tensor/npy.h"
#include "train/plots.h"
#include "train/signals.h"

namespace contra::train {

namespace {

// Runs `f` on `x` in chunks of `chunk` rows and concatenates the results (no graph).
Tensor chunked(const Tensor& x, std::int64_t chunk, const std::function<Tensor(const Tensor&)>& f) {
  std::vector<Tensor> parts;
  for (std::int64_t r = 0; r < x.size(0); r += chunk) {
    stop_point();
    parts.push_back(f(slice(x, 0, r, std::min(x.size(0), r + chunk)).contiguous()));
  }
  return parts.size() == 1 ? parts[0] : cat(parts, 0);
}

// RAII: eval mode for a module, restored afterwards.
struct EvalMode {
  nn::Module* m;
  bool was;
  explicit EvalMode(nn::Module* mod) : m(mod), was(mod && mod->is_training()) {
    if (m) m->eval();
  }
  ~EvalMode() {
    if (m) m->train(was);
  }
};

nlohmann::json group_json(const std::vector<GroupAccuracy>& gs, double std_dev) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& g : gs) j[g.name] = std::isnan(g.accuracy) ? nlohmann::json(nullptr) : nlohmann::json(g.accuracy);
  j["std"] = std::isnan(std_dev) ? nlohmann::json(nullptr) : nlohmann::json(std_dev);
  return j;
}

nlohmann::json report_json(const ClassReport& r) {
  nlohmann::json pc = nlohmann::json::array();
  for (double a : r.per_class) pc.push_back(std::isnan(a) ? nlohmann::json(nullptr) : nlohmann::json(a));
  return {{"overall", r.overall},
          {"mean_per_class", r.mean_per_class},
          {"per_class", pc},
          {"terciles", group_json(r.terciles, r.terciles_std)},
          {"thresholds", group_json(r.thresholds, r.thresholds_std)}};
}

// `per_class` images of every class, drawn with a seeded shuffle (fewer if a class is small).
std::vector<std::int64_t> per_class_draw(const std::vector<std::int64_t>& labels, int num_classes,
                                         std::int64_t per_class, std::uint64_t seed) {
  std::vector<std::int64_t> order(labels.size());
  std::iota(order.begin(), order.end(), 0);
  Generator gen(seed);
  for (std::int64_t i = static_cast<std::int64_t>(order.size()) - 1; i > 0; --i)
    std::swap(order[i], order[gen.below(static_cast<std::uint64_t>(i + 1))]);
  std::vector<std::int64_t> taken(num_classes, 0), out;
  for (auto i : order)
    if (taken[labels[i]] < per_class) {
      taken[labels[i]]++;
      out.push_back(i);
    }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> pick(const std::vector<std::int64_t>& v, const std::vector<std::int64_t>& idx) {
  std::vector<std::int64_t> out;
  for (auto i : idx) out.push_back(v[i]);
  return out;
}

Tensor rows(const Tensor& x, const std::vector<std::int64_t>& idx) {
  return index_select(x, 0, Tensor::from_vector<std::int64_t>(idx, {static_cast<std::int64_t>(idx.size())}));
}

nlohmann::json prb_json(const contrastive::PrbReport& r) {
  nlohmann::json pc = nlohmann::json::array();
  for (const auto& c : r.per_class)
    pc.push_back({{"label", c.label}, {"images", c.images}, {"raw", c.raw}, {"normalised", c.normalised}});
  return {{"views", r.K}, {"images", r.N}, {"dim", r.D}, {"raw", r.raw}, {"normalised", r.normalised},
          {"raw_class_weighted", r.raw_class_weighted}, {"normalised_class_weighted", r.normalised_class_weighted},
          {"weighting", "images"}, {"per_class", pc}};
}

}  // namespace

Tensor extract_features(nn::ResNet& backbone, const std::shared_ptr<const data::Dataset>& d,
                        const data::ChannelStats& stats, std::int64_t batch_size, int workers) {
  autograd::NoGradGuard no_grad;
  EvalMode mode(&backbone);
  auto loader = data::make_eval_loader(d, stats.mean, stats.std, batch_size, workers);
  const std::int64_t D = backbone.feature_dim();
  const Device device = backbone.device();
  Tensor out = Tensor::empty({d->size(), D}, DType::f32);  // (N, D), on the host
  float* po = out.data<float>();
  while (auto batch = loader->next()) {
    stop_point();  // a signal stops the evaluation within a batch (S4)
    // Forward on the backbone's device; the features come back to the host explicitly.
    const Tensor f =
        backbone.forward_features(batch->images.to(device)).to(DType::f32).contiguous().to(Device::cpu());  // (n, D)
    const auto idx = batch->indices.to_vector<std::int64_t>();
    const float* pf = f.data<float>();
    for (size_t j = 0; j < idx.size(); ++j) std::copy(pf + j * D, pf + (j + 1) * D, po + idx[j] * D);
  }
  return out;
}

Tensor pixel_features(const data::Dataset& d, const data::ChannelStats& stats) {
  const std::int64_t N = d.size(), C = d.channels(), HW = d.height() * d.width();
  Tensor out = Tensor::empty({N, C * HW}, DType::f32);
  float* po = out.data<float>();
  for (std::int64_t i = 0; i < N; ++i) {
    const std::uint8_t* img = d.image(i);
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t p = 0; p < HW; ++p)
        po[(i * C + c) * HW + p] = (img[c * HW + p] / 255.0f - stats.mean[c]) / stats.std[c];
  }
  return out;
}

namespace {

// What every measurement of one evaluation shares, and the measurements themselves.
struct Evaluation {
  const EvalData& data;
  const EvalOptions& opt;
  const std::function<void(const std::string&)>& log;
  const data::Dataset& train = *data.train;
  const data::Dataset& test = *data.test;
  const int C = static_cast<int>(train.num_classes());
  const bool long_tailed = data.pretrain && data.pretrain.get() != data.train.get();
  const std::vector<std::int64_t> pretrain_counts = (data.pretrain ? data.pretrain : data.train)->class_counts();

  // PRB views: K augmented views of every image of a subset.
  struct PrbViews {
    std::string key, description;
    std::int64_t images = 0;
    Tensor pixels, labels;  // (K·n, C, H, W) view-major, (n,)
  };

  // Everything measured on one feature set (kNN, probes, groups).
  nlohmann::json measure(const Tensor& train_f, const Tensor& test_f, const Tensor& pre_f) const {
    nlohmann::json j;
    KnnOptions ko = opt.knn;
    const auto knn_full = knn_predict(train_f, train.labels, test_f, C, ko);
    j["knn_full_bank"] = report_json(class_report(knn_full, test.labels, pretrain_counts));
    if (long_tailed && pre_f.defined())
      j["knn_lt_bank"] = report_json(class_report(knn_predict(pre_f, data.pretrain->labels, test_f, C, ko),
                                                  test.labels, pretrain_counts));
    log("  linear probe (" + std::to_string(opt.probe.epochs) + " epochs on cached features)");
    const auto probe = linear_probe(train_f, train.labels, test_f, C, opt.probe);
    j["linear_probe"] = report_json(class_report(probe.predictions, test.labels, pretrain_counts));
    j["linear_probe"]["final_train_loss"] = probe.final_train_loss;
    nlohmann::json few = nlohmann::json::array();
    for (auto shots : opt.few_shot) {
      if (shots <= 0) continue;
      std::vector<double> accs;
      for (int draw = 0; draw < opt.few_shot_draws; ++draw) {
        const auto idx = per_class_draw(train.labels, C, shots, opt.seed * 1000003 + 17 * draw + static_cast<std::uint64_t>(shots));
        const auto pr = linear_probe(rows(train_f, idx), pick(train.labels, idx), test_f, C, opt.probe);
        accs.push_back(class_report(pr.predictions, test.labels, pretrain_counts).overall);
      }
      const double m = std::accumulate(accs.begin(), accs.end(), 0.0) / accs.size();
      double v = 0;
      for (double a : accs) v += (a - m) * (a - m);
      few.push_back({{"shots_per_class", shots}, {"draws", accs.size()}, {"accuracy", accs}, {"mean", m},
                     {"std", std::sqrt(v / accs.size())}});
    }
    j["few_shot_probe"] = few;
    return j;
  }

  // K augmented views of every image of `idx` in `d` (one batch, seeded).
  PrbViews prb_views_of(const data::Dataset& d, const std::vector<std::int64_t>& idx, const std::string& key,
                        const std::string& description) const {
    auto set = std::make_shared<data::Dataset>(data::subset(d, idx, d.name + "/prb"));
    data::LoaderOptions lo;
    lo.batch_size = set->size();
    lo.views = opt.prb_views;
    lo.num_workers = opt.workers;
    lo.shuffle = false;
    lo.drop_last = false;
    lo.seed = opt.seed + 7;
    data::Loader loader(set, data::Augment(data.augment), lo);
    auto b = loader.next();
    CONTRA_ASSERT(b.has_value());
    return PrbViews{key, description, set->size(), b->images, b->labels};
  }

  // The PRB subsets: the balanced test subset, and for long-tailed runs the pretraining images.
  std::vector<PrbViews> prb_view_sets() const {
    std::vector<PrbViews> prb_sets;
  if (opt.prb_views > 0) {
    // The balanced test subset: class-balanced, seeded.
    const std::int64_t per_class = std::max<std::int64_t>(1, opt.prb_images / std::max(C, 1));
    prb_sets.push_back(prb_views_of(test, per_class_draw(test.labels, C, per_class, opt.seed + 99), "prb",
                                    "balanced test images"));
    // The long-tailed pretraining images: a uniform seeded subset (the tail keeps its share).
    if (long_tailed && opt.prb_pretrain) {
      const data::Dataset& pre = *data.pretrain;
      std::vector<std::int64_t> idx(static_cast<size_t>(pre.size()));
      std::iota(idx.begin(), idx.end(), 0);
      Generator gen(opt.seed + 101);
      for (std::int64_t i = static_cast<std::int64_t>(idx.size()) - 1; i > 0; --i)
        std::swap(idx[i], idx[gen.below(static_cast<std::uint64_t>(i + 1))]);
      idx.resize(static_cast<size_t>(std::min<std::int64_t>(opt.prb_images, pre.size())));
      std::sort(idx.begin(), idx.end());
      prb_sets.push_back(prb_views_of(pre, idx, "prb_pretrain", "long-tailed pretraining images"));
    }
  }
    return prb_sets;
  }

  // The dataset, the class counts and the protocol of results.json.
  nlohmann::json header() const {
    return {{"dataset", {{"train", train.name}, {"test", test.name},
                         {"pretrain", (data.pretrain ? data.pretrain : data.train)->name}}},
            {"class_names", train.class_names},
            {"pretrain_counts", pretrain_counts},
            {"test_counts", test.class_counts()},
            {"protocol", {{"knn_k", opt.knn.k}, {"knn_temperature", opt.knn.temperature},
                          {"probe_epochs", opt.probe.epochs}, {"probe_batch", opt.probe.batch_size},
                          {"probe_lr", opt.probe.base_lr}, {"probe_on", "cached backbone features"},
                          {"few_shot", opt.few_shot}, {"few_shot_draws", opt.few_shot_draws},
                          {"prb_views", opt.prb_views}, {"prb_images", opt.prb_images},
                          {"prb_pretrain", long_tailed && opt.prb_pretrain},
                          {"seed", opt.seed}}},
            {"encoders", nlohmann::json::object()}};
  }

  // PRB of the backbone's features and the head's outputs on each view set.
  void add_prb(const Encoder& enc, const std::vector<PrbViews>& prb_sets, nlohmann::json& j) const {
    for (const auto& ps : prb_sets) {
      log("  prototype representation bias (" + std::to_string(opt.prb_views) + " views × " +
          std::to_string(ps.images) + " " + ps.description + ")");
      EvalMode bm(enc.backbone), hm(enc.head);
      // The views are host tensors (the loader's); each chunk goes to the encoder's device, and
      // the features stay there for the head; PRB reads them back once (prb.cpp).
      const Device device = enc.backbone->device();
      const Tensor feats = chunked(ps.pixels, opt.batch_size,
                                   [&](const Tensor& x) { return enc.backbone->forward_features(x.to(device)); });
      j[ps.key]["backbone"] = prb_json(contrastive::prototype_representation_bias(feats, opt.prb_views, ps.labels));
      if (enc.head) {
        const Tensor outs = chunked(feats, opt.batch_size, [&](const Tensor& x) { return enc.head->forward(x); });
        j[ps.key]["head"] = prb_json(contrastive::prototype_representation_bias(outs, opt.prb_views, ps.labels));
      }
    }
  }
};

}  // namespace

EvalResults evaluate(const std::vector<Encoder>& encoders, const EvalData& data, const EvalOptions& opt,
                     const std::function<void(const std::string&)>& log) {
  autograd::NoGradGuard no_grad;
  const Evaluation ev{data, opt, log};
  EvalResults results;
  results.json = ev.header();
  const auto prb_sets = ev.prb_view_sets();
  for (const auto& enc : encoders) {
    log("evaluating " + enc.name + ": extracting features");
    const Tensor train_f = extract_features(*enc.backbone, data.train, data.stats, opt.batch_size, opt.workers);
    const Tensor test_f = extract_features(*enc.backbone, data.test, data.stats, opt.batch_size, opt.workers);
    const Tensor pre_f =
        ev.long_tailed ? extract_features(*enc.backbone, data.pretrain, data.stats, opt.batch_size, opt.workers) : Tensor();
    results.test_features.push_back({enc.name == "pretrained" ? "pretrained" : "random_init", test_f});
    nlohmann::json j = ev.measure(train_f, test_f, pre_f);
    ev.add_prb(enc, prb_sets, j);
    results.json["encoders"][enc.name] = j;
  }
  if (opt.pixel_baseline) {
    stop_point();
    log("evaluating raw pixels");
    const Tensor tf = pixel_features(ev.train, data.stats), sf = pixel_features(ev.test, data.stats);
    const Tensor pf = ev.long_tailed ? pixel_features(*data.pretrain, data.stats) : Tensor();
    results.json["encoders"]["raw pixels"] = ev.measure(tf, sf, pf);
  }
  return results;
}

}  // namespace contra::train
