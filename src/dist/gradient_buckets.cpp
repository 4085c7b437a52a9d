// gradient_buckets.cpp — bucketed gradient all-reduce overlapped with backward. See gradient_buckets.h.
#include "dist/gradient_buckets.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace contra::dist {

GradientBuckets::GradientBuckets(std::shared_ptr<Communicator> comm, std::vector<Tensor> params,
                                 const BucketOptions& options)
    : comm_(std::move(comm)), params_(std::move(params)) {
  CONTRA_CHECK(comm_ != nullptr, "GradientBuckets", "needs a communicator (dist/world.h)");
  CONTRA_CHECK(options.bucket_bytes > 0, "GradientBuckets", "bucket_bytes must be > 0");
  const auto P = static_cast<std::int64_t>(params_.size());
  bucket_of_.assign(static_cast<size_t>(P), -1);
  arrived_.assign(static_cast<size_t>(P), 0);
  // Reverse registration order: the last layers' gradients arrive first.
  std::int64_t bytes = 0;
  for (std::int64_t i = P - 1; i >= 0; --i) {
    const Tensor& p = params_[i];
    CONTRA_CHECK(p.requires_grad() && p.is_leaf(), "GradientBuckets", "parameter ", i, " is not a leaf requiring grad");
    const std::int64_t size = p.numel() * static_cast<std::int64_t>(dtype_size(p.dtype()));
    const bool fits = !buckets_.empty() && bytes + size <= options.bucket_bytes &&
                      params_[buckets_.back().members.front()].dtype() == p.dtype();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    b.offsets.push_back(b.members.empty() ? 0 : b.offsets.back() + params_[b.members.back()].numel());
    b.members.push_back(i);
    bucket_of_[i] = static_cast<std::int64_t>(buckets_.size()) - 1;
    bytes += size;
  }
  for (Bucket& b : buckets_) {
    const Tensor& last = params_[b.members.back()];
    b.flat = Tensor::zeros({b.offsets.back() + last.numel()}, last.dtype(), last.device());
  }
  for (std::int64_t i = 0; i < P; ++i)
    hooks_.push_back(autograd::add_post_accumulate_grad_hook(params_[i], [this, i](const Tensor&) { on_ready(i); }));
}

void GradientBuckets::on_ready(std::int64_t i) {
  CONTRA_CHECK_HINT(!arrived_[i], "GradientBuckets",
                    "call finish() after each backward pass (accumulating gradients over several passes per "
                    "step is not supported yet)",
                    "parameter ", i, " received a second gradient before finish(): its bucket may already be "
                    "all-reduced without it");
  arrived_[i] = 1;
  // MPI moves a started all-reduce only inside MPI calls: give the buckets in flight a poll
  // at every gradient that arrives, so their transfers overlap the rest of backward.
  for (Bucket& other : buckets_)
    if (other.pending) other.pending->poll();
  Bucket& b = buckets_[bucket_of_[i]];
  if (++b.ready == static_cast<std::int64_t>(b.members.size())) {
    start(b);
    ++started_;
  }
}

void GradientBuckets::start(Bucket& b) {
  // flat ← [g_θ for θ in the bucket]   (zeros for a parameter without a gradient)
  for (size_t j = 0; j < b.members.size(); ++j) {
    const Tensor& p = params_[b.members[j]];
    const Tensor slot = b.flat.as_strided({p.numel()}, {1}, b.offsets[j]);
    const Tensor g = p.grad();
    if (g.defined()) slot.copy_(g.contiguous().view({p.numel()}));
    else slot.zero_();
  }
  b.pending = comm_->start_all_reduce_sum(b.flat);  // flat ← Σ_r flat^(r), in flight
}

void GradientBuckets::finish() {
  last_started_early_ = started_;
  for (Bucket& b : buckets_)
    if (!b.pending) start(b);  // in bucket order, the same on every rank
  const auto t0 = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) b.pending->wait();
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double inv_K = 1.0 / comm_->size();
  autograd::NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    for (size_t j = 0; j < b.members.size(); ++j) {
      const Tensor& p = params_[b.members[j]];
      // ḡ_θ = (1/K) Σ_r g_θ^(r)
      const Tensor sum = b.flat.as_strided({p.numel()}, {1}, b.offsets[j]).view(p.shape());
      p.set_grad(inv_K == 1.0 ? sum.clone() : scale(sum, inv_K));
    }
    b.pending.reset();
    b.ready = 0;
  }
  std::fill(arrived_.begin(), arrived_.end(), 0);
  started_ = 0;
}

}  // namespace contra::dist
