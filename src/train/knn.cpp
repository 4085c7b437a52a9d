#include "train/knn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"

namespace contra::train {

std::vector<std::int64_t> knn_predict(const Tensor& bank_in, const std::vector<std::int64_t>& bank_labels,
                                      const Tensor& queries_in, int num_classes, const KnnOptions& opt) {
  autograd::NoGradGuard no_grad;
  CONTRA_CHECK(bank_in.dim() == 2 && queries_in.dim() == 2 && bank_in.size(1) == queries_in.size(1), "knn",
               "bank ", shape_str(bank_in.shape()), " and queries ", shape_str(queries_in.shape()),
               " must be (B, D) and (Q, D)");
  CONTRA_CHECK(static_cast<std::int64_t>(bank_labels.size()) == bank_in.size(0), "knn", bank_labels.size(),
               " labels for a bank of ", bank_in.size(0));
  CONTRA_CHECK(opt.k >= 1 && opt.temperature > 0, "knn", "k must be ≥ 1 and the temperature > 0");
  for (auto y : bank_labels)
    CONTRA_CHECK(y >= 0 && y < num_classes, "knn", "bank label ", y, " outside [0, ", num_classes, ")");
  const Tensor bank = l2_normalize(bank_in.to(DType::f32));          // (B, D)
  const Tensor queries = l2_normalize(queries_in.to(DType::f32));    // (Q, D)
  const Tensor bank_t = transpose(bank, 0, 1);                       // (D, B)
  const std::int64_t B = bank.size(0), Q = queries.size(0);
  const int k = static_cast<int>(std::min<std::int64_t>(opt.k, B));
  std::vector<std::int64_t> pred(static_cast<size_t>(Q));
  for (std::int64_t q0 = 0; q0 < Q; q0 += opt.chunk) {
    const std::int64_t q1 = std::min(Q, q0 + opt.chunk);
    // Similarities on the bank's device, then read on the host (one explicit copy per chunk)
    // for the top-k vote below.
    const Tensor sim = matmul(slice(queries, 0, q0, q1), bank_t).contiguous().to(Device::cpu());  // (q, B)
    const float* s = sim.data<float>();
#pragma omp parallel for schedule(dynamic, 8)
    for (std::int64_t r = 0; r < q1 - q0; ++r) {
      const float* row = s + r * B;
      std::vector<std::int64_t> idx(static_cast<size_t>(B));
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](std::int64_t a, std::int64_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      std::vector<double> votes(static_cast<size_t>(num_classes), 0.0);
      for (int j = 0; j < k; ++j) votes[bank_labels[idx[j]]] += std::exp(row[idx[j]] / opt.temperature);
      pred[q0 + r] = std::max_element(votes.begin(), votes.end()) - votes.begin();
    }
  }
  return pred;
}

}  // namespace contra::train
