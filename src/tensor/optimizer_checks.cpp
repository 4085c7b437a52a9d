// optimizer_checks.cpp — see optimizer_checks.h.
#include "tensor/optimizer_checks.h"

#include "tensor/error.h"

namespace contra {

void check_optimizer_lists(const char* op, Device dev, const std::vector<Tensor>& params,
                           const std::vector<Tensor>& grads,
                           std::initializer_list<std::pair<const char*, const std::vector<Tensor>*>> state,
                           bool state_optional) {
  CONTRA_CHECK(grads.size() == params.size(), op, params.size(), " parameters but ", grads.size(), " gradients");
  auto check_like = [&](const char* what, const Tensor& t, const Tensor& p, std::size_t i) {
    CONTRA_CHECK(t.defined() && t.device() == dev && t.is_contiguous() && t.dtype() == p.dtype() &&
                     t.shape() == p.shape(),
                 op, what, " ", i, " must be a contiguous ", dev.str(), " ", dtype_name(p.dtype()),
                 " tensor of shape ", shape_str(p.shape()), " like its parameter");
  };
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    CONTRA_CHECK(p.defined() && is_floating(p.dtype()), op, "parameter ", i, " must be a defined floating tensor");
    check_like("parameter", p, p, i);
    check_like("gradient", grads[i], p, i);
  }
  for (const auto& [what, list] : state) {
    if (state_optional && list->empty()) continue;
    CONTRA_CHECK(list->size() == params.size(), op, params.size(), " parameters but ", list->size(), " ", what, "s");
    for (std::size_t i = 0; i < params.size(); ++i) check_like(what, (*list)[i], params[i], i);
  }
}

}  // namespace contra
