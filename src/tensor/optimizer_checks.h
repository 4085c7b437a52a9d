// optimizer_checks.h — the argument contract of the fused optimizer updates (backend.h,
// "fused multi-tensor optimizer updates"), checked once for every backend.
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace contra {

// Every list has one entry per parameter (a `state` list may be empty when state_optional),
// each a contiguous tensor on `device` of its parameter's dtype and shape; parameters are
// defined floating tensors. Throws contra::Error naming `op` and the offending entry.
void check_optimizer_lists(const char* op, Device device, const std::vector<Tensor>& params,
                           const std::vector<Tensor>& grads,
                           std::initializer_list<std::pair<const char*, const std::vector<Tensor>*>> state,
                           bool state_optional);

}  // namespace contra
