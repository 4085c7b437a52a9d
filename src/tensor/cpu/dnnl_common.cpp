#include "tensor/cpu/dnnl_common.h"

#include "tensor/cpu/caching_allocator.h"
#include "tensor/cpu/cpu_backend.h"

namespace contra::cpu::dnnl_util {

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

ArgLayout::ArgLayout(const dnnl::memory::desc& user_md, const dnnl::memory::desc& inner_md, bool in, bool out)
    : user(user_md), inner(inner_md) {
  if (same()) return;
  if (in) to_inner = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user, engine(), inner));
  if (out) to_user = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), inner, engine(), user));
}

dnnl::memory scratch(const dnnl::memory::desc& md, std::vector<Tensor>& keep) {
  const auto bytes = static_cast<std::int64_t>(md.get_size());
  WorkspaceScope counted_as_workspace;
  keep.push_back(Tensor::empty({bytes}, DType::u8));
  return dnnl::memory(md, engine(), keep.back().raw_data());
}

dnnl::memory input(const ArgLayout& a, const Tensor& t, std::vector<Tensor>& keep) {
  dnnl::memory user = wrap(a.user, t);
  if (a.same()) return user;
  dnnl::memory inner = scratch(a.inner, keep);
  a.to_inner->execute(stream(), user, inner);
  return inner;
}

dnnl::memory output(const ArgLayout& a, const Tensor& t, std::vector<Tensor>& keep) {
  if (a.same()) return wrap(a.user, t);
  return scratch(a.inner, keep);
}

void finish_output(const ArgLayout& a, const dnnl::memory& inner, const Tensor& t) {
  if (a.same()) return;
  dnnl::memory user = wrap(a.user, t);
  a.to_user->execute(stream(), const_cast<dnnl::memory&>(inner), user);
}

void rethrow(const dnnl::error& e, const char* op) {
  throw Error(op, std::string("oneDNN failed: ") + e.what(),
              "call contra::set_reference_kernels(true) to run the reference kernels instead");
}

}  // namespace contra::cpu::dnnl_util
