// data_parallel.cpp — the loss over the global batch and the agreement helpers (data_parallel.h).
#include "train/data_parallel.h"

#include <algorithm>
#include <cstdlib>
#include <exception>

#include "dist/gathered_loss.h"
#include "dist/world.h"
#include "tensor/error.h"

namespace contra::train {

void check_data_parallel(const PretrainConfig& c, int K) {
  if (K <= 1) return;
  if (c.device != "cpu" && !dist::nccl_built())
    throw UsageError("--device " + c.device, "data-parallel runs (" + std::to_string(K) +
                                                 " ranks) on a GPU need NCCL collectives, which this build does not have",
                     "configure with -Dcuda=enabled and MPI (NCCL from the CUDA toolkit), or run the ranks on the CPU "
                     "(drop --device)");
  if (c.batch_size % K != 0)
    throw UsageError("--batch-size", "the global batch of " + std::to_string(c.batch_size) +
                                         " images does not split evenly over " + std::to_string(K) + " ranks",
                     "choose a batch size divisible by the number of ranks (mpirun -np)");
  root_work_timeout_s();  // a bad CONTRA_DIST_ROOT_TIMEOUT_S fails now, not after training
}

LossResult data_parallel_loss(dist::Communicator& comm, const Tensor& f_local, const Tensor& labels_local,
                              const PretrainConfig& c, bool telemetry) {
  const std::int64_t V = c.views;
  if (c.loss == "supcon") return {dist::gathered_supcon_loss(comm, f_local, V, labels_local, c.temperature), std::nullopt};
  if (c.loss == "supervised")
    return {dist::gathered_supervised_prototype_loss(comm, f_local, V, labels_local, c.lambda), std::nullopt};
  contrastive::BalancedParams p;  // the parameters of loss_registry.cpp's fused losses
  p.temperature = c.temperature;
  if (c.loss == "balanced") {
    p.attract = c.attract;
    p.repel = c.repel;
    p.positive_weight = c.positive_weight;
  } else if (c.loss == "derived") {
    p.repel = c.lambda;
    p.positive_weight = 0.0;
  } else if (c.loss != "nt_xent") {
    throw UsageError("--loss " + c.loss, "has no gathered (multi-rank) form",
                     "run it in one process, or choose nt_xent, balanced, derived, supervised or supcon");
  }
  Tensor F;  // (M, D) the global batch's embeddings, gathered for the loss
  LossResult out{dist::gathered_balanced_loss(comm, f_local, V, p, &F), std::nullopt};
  if (telemetry && comm.rank() == 0) out.telemetry = dist::global_balanced_telemetry(F, V, p, true);
  return out;
}

double root_work_timeout_s() {
  const char* v = std::getenv("CONTRA_DIST_ROOT_TIMEOUT_S");
  if (!v) return kRootWorkTimeoutS;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(t > 0))
    throw UsageError("CONTRA_DIST_ROOT_TIMEOUT_S", "not a positive number of seconds: '" + abbreviate(v) + "'",
                     "set it to how long ranks may wait for rank 0's evaluation, e.g. 3600, or unset it (24 h)");
  return t;
}

std::int64_t max_over_ranks(dist::Communicator& comm, std::int64_t value) {
  Tensor all = comm.all_gather(Tensor::full({1}, static_cast<double>(value), DType::f64));
  std::int64_t m = value;
  for (double v : all.to_vector<double>()) m = std::max(m, static_cast<std::int64_t>(v));
  return m;
}

bool any_rank(dist::Communicator& comm, bool flag) {
  Tensor x = Tensor::full({1}, flag ? 1.0 : 0.0, DType::f64);
  comm.all_reduce_sum(x);
  return x.to_vector<double>()[0] > 0;
}

std::string broadcast_text(dist::Communicator& comm, const std::string& text) {
  Tensor length = Tensor::full({1}, static_cast<double>(text.size()), DType::f64);
  comm.broadcast(length, 0);
  const auto n = static_cast<std::int64_t>(length.to_vector<double>()[0]);
  Tensor bytes = Tensor::zeros({std::max<std::int64_t>(n, 1)}, DType::i64);
  if (comm.rank() == 0)
    for (std::int64_t i = 0; i < n; ++i) bytes.data<std::int64_t>()[i] = static_cast<unsigned char>(text[i]);
  comm.broadcast(bytes, 0);
  std::string out(static_cast<std::size_t>(n), '\0');
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<char>(bytes.data<std::int64_t>()[i]);
  return out;
}

void on_root(DataParallel& dp, const char* what, const std::function<void()>& work) {
  if (!dp.active()) return work();
  enum Outcome { ok = 0, usage = 1, error = 2 };
  std::exception_ptr failure;
  Tensor outcome = Tensor::full({1}, 0.0, DType::f64);
  // the work may take long (a download): the others wait while rank 0's heartbeat lasts
  dp.comm->run_on_root(what, [&] {
    try {
      work();
    } catch (const UsageError&) {
      outcome.data<double>()[0] = usage;
      failure = std::current_exception();
    } catch (...) {
      outcome.data<double>()[0] = error;
      failure = std::current_exception();
    }
  }, root_work_timeout_s());
  dp.comm->broadcast(outcome, 0);
  if (failure) std::rethrow_exception(failure);
  const int o = static_cast<int>(outcome.to_vector<double>()[0]);
  const std::string where = "rank " + std::to_string(dp.rank());
  const std::string why = std::string("rank 0 failed to ") + what;
  if (o == usage) throw UsageError(where, why, "see rank 0's message");
  if (o == error) throw Error(where, why, "see rank 0's message");
}

}  // namespace contra::train

namespace contra::train {

std::string rank_device(const std::string& text, const DataParallel& dp) {
  if (!dp.active() || text != "cuda") return text;
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");  // set by mpirun for every rank
  return "cuda:" + std::to_string(local ? std::atoi(local) : 0);
}

}  // namespace contra::train
