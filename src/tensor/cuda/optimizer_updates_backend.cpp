// optimizer_updates_backend.cpp — CudaBackend's fused optimizer updates (backend.h, "fused
// multi-tensor optimizer updates"): the argument checks of the CPU backend plus the device,
// then per dtype present in the list (normally one) the slot and chunk tables of
// optimizer_math.cuh, uploaded in one asynchronous host → device copy, and one launch
// (LARS: three) of optimizer_updates.cu's kernels over every tensor. The AdamW scalars are
// computed here in double, per tensor (its step count); the kernels convert them to T. Nothing
// waits for the device.
#include <algorithm>
#include <cstring>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/optimizer_checks.h"

namespace contra::cuda {
namespace {

using optim::Chunk;
using optim::Slot;

Dt dt(DType t) { return static_cast<Dt>(static_cast<int>(t)); }

// The slot and chunk tables of one dtype's tensors, on the device (one u8 tensor: slots, then
// chunks). Kept alive by the caller until its launches are enqueued; the caching allocator
// orders any reuse of the block after them (one stream).
struct Tables {
  Tensor bytes;
  std::int64_t nslots = 0, nchunks = 0;
  const Slot* slots() const { return static_cast<const Slot*>(bytes.raw_data()); }
  const Chunk* chunks() const {
    return reinterpret_cast<const Chunk*>(static_cast<const char*>(bytes.raw_data()) + nslots * sizeof(Slot));
  }
};

Tables upload(Backend& be, std::vector<Slot> slots) {
  const std::vector<Chunk> chunks = optim::make_chunks(slots);
  Tables t;
  t.nslots = static_cast<std::int64_t>(slots.size());
  t.nchunks = static_cast<std::int64_t>(chunks.size());
  static_assert(sizeof(Slot) % alignof(Chunk) == 0, "the chunk table follows the slot table, aligned");
  const std::size_t a = slots.size() * sizeof(Slot), b = chunks.size() * sizeof(Chunk);
  std::vector<unsigned char> host(a + b);
  std::memcpy(host.data(), slots.data(), a);
  if (b) std::memcpy(host.data() + a, chunks.data(), b);
  t.bytes = Tensor::empty({static_cast<std::int64_t>(host.size())}, DType::u8, be.device());
  be.copy_from_host(host.data(), t.bytes);  // pinned staging: returns before the transfer ends
  return t;
}

// Calls f(dtype, indices) for each floating dtype in the list, with the indices of its tensors.
template <typename F>
void by_dtype(const std::vector<Tensor>& params, F&& f) {
  for (DType d : {DType::f32, DType::f64}) {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < params.size(); ++i)
      if (params[i].dtype() == d) idx.push_back(i);
    if (!idx.empty()) f(d, idx);
  }
}

Slot slot_of(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, std::size_t i) {
  Slot s;
  s.p = params[i].raw_data();
  s.g = grads[i].raw_data();
  s.numel = params[i].numel();
  s.index = static_cast<std::int64_t>(i);
  return s;
}

}  // namespace

void CudaBackend::sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                             const std::vector<Tensor>& momentum_buffers, const std::vector<std::uint8_t>& first_step,
                             const SgdHyper& h) {
  activate();
  check_optimizer_lists("sgd_update", device(), params, grads, {{"momentum buffer", &momentum_buffers}}, true);
  const bool momentum = !momentum_buffers.empty();
  CONTRA_CHECK(!momentum || first_step.size() == params.size(), "sgd_update", params.size(), " parameters but ",
               first_step.size(), " first_step flags");
  optim::SgdArgs args;
  args.lr = h.lr;
  args.weight_decay = h.weight_decay;
  args.momentum = h.momentum;
  args.dampening = h.dampening;
  args.nesterov = h.nesterov;
  args.buffers = momentum;
  by_dtype(params, [&](DType d, const std::vector<std::size_t>& idx) {
    std::vector<Slot> slots;
    for (std::size_t i : idx) {
      Slot s = slot_of(params, grads, i);
      if (momentum) {
        s.s1 = momentum_buffers[i].raw_data();
        s.c[0] = first_step[i] != 0 ? 1.0 : 0.0;
      }
      slots.push_back(s);
    }
    const Tables t = upload(*this, std::move(slots));
    launch_sgd_update(dt(d), t.slots(), t.chunks(), t.nchunks, args, stream());
    check_launch("sgd_update");
  });
}

void CudaBackend::lars_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                              const std::vector<Tensor>& momentum_buffers, const LarsHyper& h,
                              const Tensor& trust_ratios) {
  activate();
  check_optimizer_lists("lars_update", device(), params, grads, {{"momentum buffer", &momentum_buffers}}, false);
  CONTRA_CHECK(trust_ratios.defined() && trust_ratios.dtype() == DType::f64 && trust_ratios.device() == device() &&
                   trust_ratios.is_contiguous() && trust_ratios.dim() == 1 &&
                   trust_ratios.numel() == static_cast<std::int64_t>(params.size()),
               "lars_update", "trust_ratios must be a contiguous ", device().str(), " f64 tensor of shape (",
               params.size(), ")");
  optim::LarsArgs args;
  args.lr = h.lr;
  args.weight_decay = h.weight_decay;
  args.momentum = h.momentum;
  args.trust_coefficient = h.trust_coefficient;
  args.nesterov = h.nesterov;
  args.adapt = h.adapt;
  by_dtype(params, [&](DType d, const std::vector<std::size_t>& idx) {
    std::vector<Slot> slots;
    for (std::size_t i : idx) {
      Slot s = slot_of(params, grads, i);
      s.s1 = momentum_buffers[i].raw_data();
      slots.push_back(s);
    }
    const Tables t = upload(*this, std::move(slots));
    // per-chunk partial norms (Σp², Σd²), read by the ratio kernel on the same stream
    const Tensor partials = Tensor::empty({std::max<std::int64_t>(t.nchunks, 1) * 2}, DType::f64, device());
    launch_lars_update(dt(d), t.slots(), t.nslots, t.chunks(), t.nchunks, args,
                       reinterpret_cast<optim::Norms2*>(partials.data<double>()), trust_ratios.data<double>(),
                       stream());
    check_launch("lars_update");
  });
}

void CudaBackend::adamw_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                               const std::vector<double>& steps, const AdamWHyper& h) {
  activate();
  check_optimizer_lists("adamw_update", device(), params, grads, {{"exp_avg", &exp_avgs}, {"exp_avg_sq", &exp_avg_sqs}},
              false);
  CONTRA_CHECK(steps.size() == params.size(), "adamw_update", params.size(), " parameters but ", steps.size(),
               " step counts");
  for (std::size_t i = 0; i < steps.size(); ++i)
    CONTRA_CHECK(steps[i] >= 1, "adamw_update", "step count ", steps[i], " of parameter ", i,
                 " must be ≥ 1 (1-based)");
  optim::AdamWArgs args;
  args.beta1 = h.beta1;
  args.beta2 = h.beta2;
  args.eps = h.eps;
  by_dtype(params, [&](DType d, const std::vector<std::size_t>& idx) {
    std::vector<Slot> slots;
    for (std::size_t i : idx) {
      Slot s = slot_of(params, grads, i);
      s.s1 = exp_avgs[i].raw_data();
      s.s2 = exp_avg_sqs[i].raw_data();
      optim::adamw_scalars(h.lr, h.weight_decay, h.beta1, h.beta2, steps[i], s.c);
      slots.push_back(s);
    }
    const Tables t = upload(*this, std::move(slots));
    launch_adamw_update(dt(d), t.slots(), t.chunks(), t.nchunks, args, stream());
    check_launch("adamw_update");
  });
}

}  // namespace contra::cuda
