// view_embeddings.cpp — K augmented views of N images through a trained encoder. See view_embeddings.h.
#include "train/view_embeddings.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "data/loader.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "train/run_setup.h"

namespace contra::train {

PretrainConfig run_config_from_checkpoint(const nn::Checkpoint& ck) {
  if (!ck.training || !ck.training->config.contains("full"))
    throw UsageError(ck.path, "this checkpoint has no run configuration (not written by tools/pretrain)",
                     "for plain weight files use tools/embed with --arch/--stem/--width");
  PretrainConfig c;
  const auto& full = ck.training->config["full"];
  // A field the checkpoint predates keeps its default, except data.split_seed: runs from
  // before it drew their data with run.seed.
  bool has_split_seed = false;
  for (const auto& f : config_fields()) {
    const auto dot = f.key.find('.');
    const std::string sec = f.key.substr(0, dot), key = f.key.substr(dot + 1);
    if (!full.contains(sec) || !full[sec].contains(key)) continue;
    has_split_seed = has_split_seed || f.key == "data.split_seed";
    const auto& v = full[sec][key];
    f.set_from_text(c, v.is_string() ? v.get<std::string>() : v.dump(), ck.path);
  }
  if (!has_split_seed) c.split_seed = c.seed;
  return c;
}

ViewEmbeddings embed_views(const nn::Checkpoint& ck, const ViewEmbeddingOptions& o) {
  const char* where = "embed_views";
  CONTRA_CHECK(o.views >= 1, where, "views K must be ≥ 1, got ", o.views);
  CONTRA_CHECK(o.images >= 1, where, "images N must be ≥ 1, got ", o.images);
  if (!o.augment && o.views > 1)
    throw UsageError(where, "K = " + std::to_string(o.views) + " views without augmentation would be identical copies",
                     "add --augment (the run's training augmentation) or use --views 1");
  if (o.split != "test" && o.split != "pretrain" && o.split != "train")
    throw UsageError(where, "unknown split \"" + o.split + "\"", "valid: test, pretrain, train");
  const PretrainConfig c = run_config_from_checkpoint(ck);

  // Data and augmentation, as the run built them.
  const RunData rd = open_run_data(c, o.split == "train");
  const std::shared_ptr<const data::Dataset> ds =
      o.split == "test" ? rd.test : (o.split == "pretrain" ? rd.pretrain : rd.balanced_train);
  const int C = static_cast<int>(ds->channels()), H = static_cast<int>(ds->height()), W = static_cast<int>(ds->width());
  const data::AugmentSpec spec =
      o.augment ? augment_spec(c, C, H, W, rd.stats) : data::eval_preset(rd.stats.mean, rd.stats.std, H, W);

  // Model, as the run built it, with the checkpoint's weights; eval mode (BN running statistics).
  Generator gen(static_cast<std::uint64_t>(c.seed));
  nn::ResNet backbone(backbone_config(c, C), gen);
  nn::ProjectionHead head(head_config(c, backbone.feature_dim()), gen);
  const bool has_head = std::any_of(ck.model.begin(), ck.model.end(),
                                    [](const auto& kv) { return kv.first.rfind("head.", 0) == 0; });
  if (o.head && !has_head)
    throw UsageError(ck.path, "the checkpoint has no projection head tensors (head.*)", "drop --head for backbone features");
  load_model(ck.model, backbone, head);
  backbone.eval();
  head.eval();
  backbone.to(o.device);
  head.to(o.device);

  // The first batch of a seeded shuffled loader: N random images, K views each, view-major.
  data::LoaderOptions lo;
  lo.batch_size = std::min<std::int64_t>(o.images, ds->size());
  lo.views = o.views;
  lo.num_workers = o.workers;
  lo.shuffle = true;
  lo.drop_last = false;
  lo.seed = o.seed;
  data::Loader loader(ds, data::Augment(spec), lo);
  auto b = loader.next();
  CONTRA_ASSERT(b.has_value());

  autograd::NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (std::int64_t r = 0; r < b->images.size(0); r += o.batch_size) {
    const Tensor x = slice(b->images, 0, r, std::min(b->images.size(0), r + o.batch_size)).contiguous().to(o.device);
    const Tensor h = backbone.forward_features(x);                     // (B, F) on o.device
    parts.push_back((o.head ? head.forward(h) : h).to(Device::cpu()));  // (B, D) or (B, F), on the host
  }
  ViewEmbeddings out;
  out.embeddings = (parts.size() == 1 ? parts[0] : cat(parts, 0)).to(DType::f32).contiguous();  // (K·N, D)
  out.labels = b->labels;
  out.indices = b->indices;
  out.N = b->size();
  out.K = o.views;
  return out;
}

}  // namespace contra::train
