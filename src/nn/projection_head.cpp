// projection_head.cpp — see projection_head.h.
#include "nn/projection_head.h"

#include "nn/batch_norm.h"
#include "nn/linear.h"
#include "nn/relu.h"
#include "tensor/error.h"

namespace contra::nn {

void ProjectionHeadConfig::validate() const {
  CONTRA_CHECK(in_dim > 0 && hidden_dim > 0 && out_dim > 0 && num_layers >= 1, "ProjectionHead",
               "needs positive sizes and num_layers ≥ 1, got in=", in_dim, " hidden=", hidden_dim, " out=", out_dim,
               " num_layers=", num_layers);
}

nlohmann::json ProjectionHeadConfig::to_json() const {
  return {{"in_dim", in_dim},         {"hidden_dim", hidden_dim}, {"out_dim", out_dim},
          {"num_layers", num_layers}, {"batch_norm", batch_norm}, {"last_bn", last_bn}};
}

ProjectionHeadConfig ProjectionHeadConfig::from_json(const nlohmann::json& j) {
  ProjectionHeadConfig c;
  try {
    c.in_dim = j.value("in_dim", c.in_dim);
    c.hidden_dim = j.value("hidden_dim", c.hidden_dim);
    c.out_dim = j.value("out_dim", c.out_dim);
    c.num_layers = j.value("num_layers", c.num_layers);
    c.batch_norm = j.value("batch_norm", c.batch_norm);
    c.last_bn = j.value("last_bn", c.last_bn);
  } catch (const nlohmann::json::exception& e) {
    throw Error("ProjectionHeadConfig", std::string("malformed head config: ") + e.what());
  }
  c.validate();
  return c;
}

ProjectionHead::ProjectionHead(const ProjectionHeadConfig& config, Generator& gen)
    : Sequential("ProjectionHead"), cfg_(config) {
  cfg_.validate();
  auto bn = [&](std::int64_t c) {
    BatchNormOptions o;
    o.num_features = c;
    o.dtype = cfg_.dtype;
    return std::make_shared<BatchNorm1d>(o);
  };
  std::int64_t dim = cfg_.in_dim;
  for (int i = 0; i + 1 < cfg_.num_layers; ++i) {
    push_back(std::make_shared<Linear>(dim, cfg_.hidden_dim, !cfg_.batch_norm, gen, cfg_.dtype));
    if (cfg_.batch_norm) push_back(bn(cfg_.hidden_dim));
    push_back(std::make_shared<ReLU>());
    dim = cfg_.hidden_dim;
  }
  push_back(std::make_shared<Linear>(dim, cfg_.out_dim, !cfg_.last_bn, gen, cfg_.dtype));
  if (cfg_.last_bn) push_back(bn(cfg_.out_dim));
}

}  // namespace contra::nn
