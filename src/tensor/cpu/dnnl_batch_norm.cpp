// dnnl_batch_norm.cpp — batch normalisation through oneDNN 2.6 (CONTRA_BN_IMPL=onednn).
//
// A `BatchNormPlan` per (N, C, S, affine, ε, fixed statistics) holds the forward primitive
// (forward_training, so that it can hint the backward) and the backward one, built once.
// Data stay in our plain layout ((N, C, S, 1) as nchw), so there are no reorders; mean,
// var, γ, β are plain (C,) vectors.
//
// Dimensions: N batch, C channels, S spatial positions.
#include <cstring>

#include "tensor/cpu/batch_norm_kernels.h"
#include "tensor/cpu/dnnl_common.h"

namespace contra::cpu {

namespace {


using namespace dnnl_util;
using dnnl::memory;
using dnnl::normalization_flags;

struct BatchNormPlan {
  memory::desc data_md, vec_md;
  dnnl::batch_normalization_forward::primitive_desc fwd_pd;
  dnnl::batch_normalization_forward fwd;
  dnnl::batch_normalization_backward::primitive_desc bwd_pd;
  dnnl::batch_normalization_backward bwd;
};

PlanCache<BatchNormPlan>& bn_plans() {
  static PlanCache<BatchNormPlan> cache;
  return cache;
}

std::shared_ptr<BatchNormPlan> bn_plan(const Shape& xs, bool affine, double eps, bool fixed_stats) {
  const std::int64_t N = xs[0], C = xs[1];
  std::int64_t S = 1;
  for (size_t d = 2; d < xs.size(); ++d) S *= xs[d];
  const float eps_f = static_cast<float>(eps);
  std::int32_t eps_bits;
  std::memcpy(&eps_bits, &eps_f, sizeof eps_bits);
  const std::vector<std::int64_t> key{N, C, S, affine ? 1 : 0, eps_bits, fixed_stats ? 1 : 0};
  return bn_plans().get(key, [&] {
    BatchNormPlan plan;
    plan.data_md = plain_md({N, C, S, 1}, tag::nchw);
    plan.vec_md = plain_md({C}, tag::x);
    normalization_flags flags = normalization_flags::none;
    if (affine) flags = flags | normalization_flags::use_scale | normalization_flags::use_shift;
    if (fixed_stats) flags = flags | normalization_flags::use_global_stats;
    dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, plan.data_md, eps_f, flags);
    plan.fwd_pd = dnnl::batch_normalization_forward::primitive_desc(fd, engine());
    plan.fwd = dnnl::batch_normalization_forward(plan.fwd_pd);
    const auto bwd_kind = affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
    dnnl::batch_normalization_backward::desc bd(bwd_kind, plan.data_md, plan.data_md, eps_f, flags);
    plan.bwd_pd = dnnl::batch_normalization_backward::primitive_desc(bd, engine(), plan.fwd_pd);
    plan.bwd = dnnl::batch_normalization_backward(plan.bwd_pd);
    return plan;
  });
}

}  // namespace

// oneDNN forward: training (global_stats = false: writes the batch mean and biased
// variance into mean/var) or inference (global_stats = true: reads them).
void onednn_batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                           const Tensor& mean, const Tensor& var, bool global_stats) {
  try {
    const auto plan = bn_plan(x.shape(), weight.defined(), eps, global_stats);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(plan->data_md, x)},
                                         {DNNL_ARG_DST, wrap(plan->data_md, y)},
                                         {DNNL_ARG_MEAN, wrap(plan->vec_md, mean)},
                                         {DNNL_ARG_VARIANCE, wrap(plan->vec_md, var)}};
    if (weight.defined()) {
      args.emplace(DNNL_ARG_SCALE, wrap(plan->vec_md, weight));
      args.emplace(DNNL_ARG_SHIFT, wrap(plan->vec_md, bias));
    }
    plan->fwd.execute(stream(), args);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "batch_norm");
  }
}

void onednn_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                const Tensor& var, double eps, bool batch_stats, const Tensor& dx, const Tensor& dweight,
                                const Tensor& dbias) {
  try {
    const auto plan = bn_plan(x.shape(), weight.defined(), eps, !batch_stats);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(plan->data_md, x)},
                                         {DNNL_ARG_DIFF_DST, wrap(plan->data_md, dy)},
                                         {DNNL_ARG_MEAN, wrap(plan->vec_md, mean)},
                                         {DNNL_ARG_VARIANCE, wrap(plan->vec_md, var)},
                                         {DNNL_ARG_DIFF_SRC, wrap(plan->data_md, dx)}};
    if (weight.defined()) {
      args.emplace(DNNL_ARG_SCALE, wrap(plan->vec_md, weight));
      args.emplace(DNNL_ARG_SHIFT, wrap(plan->vec_md, dbias));  // unused by the math; 2.6 checks it is present
      args.emplace(DNNL_ARG_DIFF_SCALE, wrap(plan->vec_md, dweight));
      args.emplace(DNNL_ARG_DIFF_SHIFT, wrap(plan->vec_md, dbias));
    }
    plan->bwd.execute(stream(), args);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "batch_norm backward");
  }
}

}  // namespace contra::cpu
