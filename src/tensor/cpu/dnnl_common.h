// dnnl_common.h — the shared oneDNN state of the CPU backend: one engine, one stream, plan
// caches, and the layout helpers every dnnl_*.cpp uses.
//
// oneDNN here is Debian's 2.6 (v2 API: `op::desc` + `op::primitive_desc(desc, engine)`).
// It uses the GNU OpenMP runtime, so its threads follow omp_set_num_threads (set by
// contra::set_num_threads). Only f32 goes through oneDNN; f64 runs the reference kernels.
//
// Layouts: our tensors are plain row-major (nchw, oihw). A plan asks oneDNN for its
// preferred layouts (format_tag::any) where that speeds the primitive up and keeps a
// reorder primitive for each argument whose preferred layout differs from ours; arguments
// whose layouts agree are passed without a copy. Scratch buffers for reordered arguments
// come from the CPU allocator per call.
#pragma once

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "tensor/tensor.h"

namespace contra::cpu::dnnl_util {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& engine();
// The stream of the calling thread (oneDNN streams are not meant to be shared across threads).
dnnl::stream& stream();

inline dnnl::memory::dims dims_of(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

// A plain (row-major) f32 memory descriptor for `dims` with tag `t`.
inline dnnl::memory::desc plain_md(const dnnl::memory::dims& dims, tag t) { return {dims, dt::f32, t}; }

// Memory over a tensor's data (no copy). The tensor must be contiguous f32.
inline dnnl::memory wrap(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, engine(), const_cast<void*>(t.raw_data()));
}

// One argument whose layout inside a primitive (`inner`) may differ from ours (`user`).
// `to_inner` reorders user → inner, `to_user` inner → user; both absent when they agree.
struct ArgLayout {
  dnnl::memory::desc user, inner;
  std::optional<dnnl::reorder> to_inner, to_user;
  ArgLayout() = default;
  ArgLayout(const dnnl::memory::desc& user_md, const dnnl::memory::desc& inner_md, bool input, bool output);
  bool same() const { return user == inner; }
};

// Scratch memory in `md` layout, with storage from the CPU allocator (held by `keep`).
dnnl::memory scratch(const dnnl::memory::desc& md, std::vector<Tensor>& keep);

// Memory holding the input `t` in `a.inner` layout: `t` itself, or a reordered copy.
dnnl::memory input(const ArgLayout& a, const Tensor& t, std::vector<Tensor>& keep);
// Memory to receive an output in `a.inner` layout: `t` itself, or scratch to be copied back
// with `finish_output`.
dnnl::memory output(const ArgLayout& a, const Tensor& t, std::vector<Tensor>& keep);
void finish_output(const ArgLayout& a, const dnnl::memory& inner, const Tensor& t);

// A cache of plans keyed by a vector of integers (shapes, parameters, flags) and the
// OpenMP thread count (oneDNN sizes its kernels' work split and scratchpad for the thread
// count at creation). Plans are built once on first use and kept for the life of the process.
template <typename Plan>
class PlanCache {
 public:
  template <typename Make>
  std::shared_ptr<Plan> get(std::vector<std::int64_t> key, Make&& make) {
    key.push_back(omp_get_max_threads());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    auto plan = std::make_shared<Plan>(make());
    plans_.emplace(key, plan);
    return plan;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return plans_.size();
  }

 private:
  std::mutex mu_;
  std::map<std::vector<std::int64_t>, std::shared_ptr<Plan>> plans_;
};

// Rethrows a oneDNN error as contra::Error naming the op.
[[noreturn]] void rethrow(const dnnl::error& e, const char* op);

}  // namespace contra::cpu::dnnl_util
