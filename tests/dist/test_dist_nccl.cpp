// test_dist_nccl.cpp — the NCCL communicator (built with -Dcuda=enabled, MPI and NCCL) against
// the MPI communicator on host copies of the same tensors. Run under `mpirun -np K` with one
// GPU per rank (tests/dist/meson.build runs K = 1: NCCL's own code path on one device). Without
// a GPU, or with fewer GPUs than ranks, every case says why it did not run and passes.
#include <doctest/doctest.h>

#include "dist/mpi_communicator.h"
#include "dist/nccl_communicator.h"
#include "dist_test_util.h"
#include "tensor/backend.h"

using namespace contra;
using namespace dist_test;

namespace {

// This rank's NCCL communicator on cuda:rank, or null (with the reason) when it cannot run here.
std::shared_ptr<dist::NcclCommunicator> nccl_or_skip() {
  static std::shared_ptr<dist::NcclCommunicator> nccl;
  static bool tried = false;
  if (tried) return nccl;
  tried = true;
  auto mpi = std::dynamic_pointer_cast<dist::MpiCommunicator>(world_ptr());
  if (!mpi) {
    MESSAGE("not run: start it under mpirun (the NCCL communicator needs MPI for its start-up)");
    return nullptr;
  }
  if (!cuda_available()) {
    MESSAGE("not run: no GPU on this machine (the CUDA build compiles this test; a GPU machine runs it)");
    return nullptr;
  }
  nccl = std::make_shared<dist::NcclCommunicator>(mpi, Device::cuda(mpi->rank()), dist::CommOptions{60.0});
  return nccl;
}

// rank r's (rows, cols) tensor: entries r·1000 + i (exact in f32).
Tensor rank_data(int r, std::int64_t rows, std::int64_t cols, DType dt) {
  std::vector<double> v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = r * 1000.0 + static_cast<double>(i);
  return Tensor::from_vector(v, {rows, cols}).to(dt);
}

}  // namespace

TEST_CASE("NCCL collectives on device tensors equal MPI's on host copies (f32, f64, i64)") {
  auto nccl = nccl_or_skip();
  if (!nccl) return;
  const int K = world().size(), r = world().rank();
  CHECK(nccl->name() == "nccl");
  CHECK(nccl->size() == K);
  const Device dev = nccl->device();
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    // all_reduce_sum, blocking and started
    const Tensor host = rank_data(r, 4, 3, dt);
    const Tensor d = host.to(dev);
    nccl->all_reduce_sum(d);
    world().all_reduce_sum(host);
    CHECK(max_abs_diff(d.to(Device::cpu()), host) == 0.0);
    const Tensor d2 = rank_data(r, 7, 5, dt).to(dev);
    auto request = nccl->start_all_reduce_sum(d2);
    request->wait();
    const Tensor h2 = rank_data(r, 7, 5, dt);
    world().all_reduce_sum(h2);
    CHECK(max_abs_diff(d2.to(Device::cpu()), h2) == 0.0);
    // reduce_scatter_sum (K·2, 3) → (2, 3)
    const Tensor rs = rank_data(r, 2 * K, 3, dt);
    CHECK(max_abs_diff(nccl->reduce_scatter_sum(rs.to(dev)).to(Device::cpu()), world().reduce_scatter_sum(rs)) == 0.0);
  }
  for (DType dt : {DType::f32, DType::i64}) {
    CAPTURE(dtype_name(dt));
    // all_gather (3, 2) → (3K, 2), broadcast from the last rank
    const Tensor x = rank_data(r, 3, 2, dt);
    const Tensor g = nccl->all_gather(x.to(dev));
    CHECK(g.device() == dev);
    CHECK(max_abs_diff(g.to(Device::cpu()), world().all_gather(x)) == 0.0);
    const Tensor b = rank_data(r, 2, 2, dt).to(dev);
    nccl->broadcast(b, K - 1);
    CHECK(max_abs_diff(b.to(Device::cpu()), rank_data(K - 1, 2, 2, dt)) == 0.0);
  }
}

TEST_CASE("NCCL communicator: CPU tensors go through MPI; argument rules") {
  auto nccl = nccl_or_skip();
  if (!nccl) return;
  const int K = world().size();
  const Tensor flag = Tensor::full({1}, 1.0, DType::f64);  // the pretrainer's agreements are CPU tensors
  nccl->all_reduce_sum(flag);
  CHECK(flag.to_vector<double>()[0] == K);
  nccl->barrier();
  CHECK_THROWS_WITH_AS(nccl->broadcast(rank_data(0, 1, 1, DType::f32).to(nccl->device()), K),
                       doctest::Contains("does not exist"), contra::Error);
  const Tensor strided = Tensor::zeros({3, 4}, DType::f32).to(nccl->device()).as_strided({3}, {4}, 0);
  CHECK_THROWS_WITH_AS(nccl->all_reduce_sum(strided), doctest::Contains("not contiguous"), contra::Error);
}
