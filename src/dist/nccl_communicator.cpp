// nccl_communicator.cpp — NCCL collectives on device tensors with a deadline; MPI for the rest.
// See nccl_communicator.h.
#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "tensor/backend.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/error.h"

namespace contra::dist {

struct NcclCommunicator::State {
  const MpiCommunicator* host = nullptr;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // the device backend's one stream (cuda_backend.h)
  cudaEvent_t done = nullptr;     // recorded after each blocking collective
  int device_index = 0;
  double timeout_s = 60.0;
  bool aborted = false;

  using Clock = std::chrono::steady_clock;

  // Ends the job: NCCL's communicator aborted (it frees the device from a collective that
  // will never complete), then the MPI communicator's message and MPI_Abort.
  [[noreturn]] void fail(const std::string& what) {
    if (comm && !aborted) {
      aborted = true;
      ncclCommAbort(comm);
    }
    host->abort_job(what);
  }

  void check(ncclResult_t r, const char* call) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    std::string message = std::string(call) + ": " + ncclGetErrorString(r);
    if (comm)
      if (const char* last = ncclGetLastError(comm); last && *last) message += " (" + std::string(last) + ")";
    fail(message);
  }

  void check_cuda(cudaError_t e, const char* call) {
    if (e != cudaSuccess) fail(std::string(call) + ": " + cudaGetErrorString(e));
  }

  [[noreturn]] void timed_out(const char* call) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
    fail(std::string(call) + " did not complete within " + seconds + " s (a peer rank died or is stuck)");
  }

  // The communicator's state: ncclSuccess (idle), ncclInProgress (a call still being
  // issued: non-blocking initialisation, finalisation, connection set-up); ends the job on an error.
  ncclResult_t async_state(const char* call) {
    ncclResult_t state = ncclSuccess;
    check(ncclCommGetAsyncError(comm, &state), "ncclCommGetAsyncError");
    check(state, call);
    return state;
  }

  // Whether the work before `event` ran on the device; ends the job on a CUDA error.
  bool event_done(cudaEvent_t event, const char* call) {
    const cudaError_t q = cudaEventQuery(event);
    if (q == cudaSuccess) return true;
    if (q != cudaErrorNotReady) check_cuda(q, call);
    return false;
  }

  // Polls `ready` until it holds or the deadline passes, yielding the core between polls and
  // sleeping 50 µs per poll after the first 200 ms (as mpi_communicator.h).
  template <typename Ready>
  void poll_until(const char* call, Clock::time_point start, Ready ready) {
    const auto deadline = start + std::chrono::duration<double>(timeout_s);
    for (std::int64_t polls = 0;; ++polls) {
      if (ready()) return;
      const auto now = Clock::now();
      if (now > deadline) timed_out(call);
      if (now - start > std::chrono::milliseconds(200)) std::this_thread::sleep_for(std::chrono::microseconds(50));
      else if (polls > 64) std::this_thread::yield();
    }
  }

  // After an NCCL call: waits until NCCL has issued it to the stream (non-blocking mode may
  // return ncclInProgress), then records `event` behind it.
  void issued(const char* call, cudaEvent_t event, Clock::time_point start) {
    poll_until(call, start, [&] { return async_state(call) == ncclSuccess; });
    check_cuda(cudaEventRecord(event, stream), "cudaEventRecord");
  }

  // Waits until the collective before `event` ran on the device, under the deadline.
  void complete(const char* call, cudaEvent_t event, Clock::time_point start) {
    poll_until(call, start, [&] { return async_state(call) == ncclSuccess && event_done(event, call); });
  }

  // A blocking collective: issued, then completed, both within one deadline.
  void run(const char* call, ncclResult_t result) {
    const auto start = Clock::now();
    check(result, call);
    issued(call, done, start);
    complete(call, done, start);
  }

  void activate() { check_cuda(cudaSetDevice(device_index), "cudaSetDevice"); }
};

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64: return ncclInt64;
    default: throw Error("nccl", std::string("no NCCL type for dtype ") + dtype_name(t));
  }
}

size_t count_of(const Tensor& x) { return static_cast<size_t>(x.numel()); }

bool on_cuda(const Tensor& x) { return x.defined() && x.device().type == DeviceType::cuda; }

// A started all-reduce: its event is recorded behind it on the stream.
struct NcclRequest final : Request {
  NcclCommunicator::State* state;
  cudaEvent_t event = nullptr;
  Tensor buffer;  // kept alive until the collective ran
  const char* call;
  std::chrono::steady_clock::time_point start;
  bool waited = false;
  NcclRequest(NcclCommunicator::State* s, Tensor b, const char* c, std::chrono::steady_clock::time_point t0)
      : state(s), buffer(std::move(b)), call(c), start(t0) {
    state->check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  }
  void wait() override {
    if (waited) return;
    state->complete(call, event, start);
    buffer.bump_version();
    waited = true;
  }
  bool poll() override {
    if (waited) return true;
    if (state->async_state(call) != ncclSuccess || !state->event_done(event, call)) return false;
    buffer.bump_version();
    waited = true;
    return true;
  }
  ~NcclRequest() override {
    if (!waited) state->complete(call, event, start);  // never leave a collective unwatched
    cudaEventDestroy(event);
  }
};

}  // namespace

NcclCommunicator::NcclCommunicator(std::shared_ptr<MpiCommunicator> host, Device device, const CommOptions& options)
    : host_(std::move(host)), device_(device), state_(std::make_unique<State>()) {
  CONTRA_CHECK(host_ != nullptr, "NcclCommunicator", "needs the job's MPI communicator (init_world under mpirun)");
  CONTRA_CHECK_HINT(device.type == DeviceType::cuda, "NcclCommunicator",
                    "use the MPI communicator for CPU training (dist::make_communicator picks it)", "device ",
                    device.str(), " is not a CUDA device");
  CONTRA_CHECK(options.timeout_s > 0, "NcclCommunicator", "timeout_s must be > 0, got ", options.timeout_s);
  State& s = *state_;
  s.host = host_.get();
  s.timeout_s = options.timeout_s;
  s.device_index = device.index;
  // The backend of the device: refuses clearly without a GPU; its stream orders our work.
  auto* backend = dynamic_cast<cuda::CudaBackend*>(&backend_for(device));
  CONTRA_CHECK(backend != nullptr, "NcclCommunicator", "the backend of ", device.str(), " is not the CUDA backend");
  s.stream = backend->stream();
  s.activate();

  // Rank 0's unique id to every rank, over MPI (as i64 words: the broadcast's dtypes).
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (rank() == 0) s.check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  constexpr std::int64_t words = (sizeof(ncclUniqueId) + 7) / 8;
  Tensor bytes = Tensor::zeros({words}, DType::i64);
  std::memcpy(bytes.raw_data(), &id, sizeof id);
  host_->broadcast(bytes, 0);
  std::memcpy(&id, bytes.raw_data(), sizeof id);

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every call returns at once; the deadline polls (see the header)
  const auto start = State::Clock::now();
  s.check(ncclCommInitRankConfig(&s.comm, size(), id, rank(), &config), "ncclCommInitRankConfig");
  s.poll_until("ncclCommInitRankConfig", start, [&] { return s.async_state("ncclCommInitRankConfig") == ncclSuccess; });
  s.check_cuda(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
}

NcclCommunicator::~NcclCommunicator() {
  State& s = *state_;
  if (s.comm && !s.aborted) {
    s.activate();
    const auto start = State::Clock::now();
    s.check(ncclCommFinalize(s.comm), "ncclCommFinalize");  // flushes what is in flight, under the deadline
    s.poll_until("ncclCommFinalize", start, [&] { return s.async_state("ncclCommFinalize") == ncclSuccess; });
    ncclCommDestroy(s.comm);
  }
  if (s.done) cudaEventDestroy(s.done);
}

void NcclCommunicator::all_reduce_sum(const Tensor& x) {
  if (!on_cuda(x)) return host_->all_reduce_sum(x);
  start_all_reduce_sum(x)->wait();
}

std::unique_ptr<Request> NcclCommunicator::start_all_reduce_sum(const Tensor& x) {
  if (!on_cuda(x)) return host_->start_all_reduce_sum(x);
  check_buffer(x, "all_reduce_sum", true, device_);
  State& s = *state_;
  s.activate();
  const auto start = State::Clock::now();
  auto r = std::make_unique<NcclRequest>(&s, x, "ncclAllReduce", start);
  s.check(ncclAllReduce(x.raw_data(), x.raw_data(), count_of(x), nccl_type(x.dtype()), ncclSum, s.comm, s.stream),
          "ncclAllReduce");
  s.issued("ncclAllReduce", r->event, start);
  return r;
}

Tensor NcclCommunicator::all_gather(const Tensor& x) {
  if (!on_cuda(x)) return host_->all_gather(x);
  check_buffer(x, "all_gather", false, device_);
  CONTRA_CHECK(x.dim() >= 1, "all_gather", "needs a tensor with a row dimension, got a scalar");
  Shape shape = x.shape();
  shape[0] *= size();  // (K·n, ...)
  Tensor out = Tensor::empty(shape, x.dtype(), device_);
  State& s = *state_;
  s.activate();
  s.run("ncclAllGather",
        ncclAllGather(x.raw_data(), out.raw_data(), count_of(x), nccl_type(x.dtype()), s.comm, s.stream));
  return out;
}

Tensor NcclCommunicator::reduce_scatter_sum(const Tensor& x) {
  if (!on_cuda(x)) return host_->reduce_scatter_sum(x);
  check_buffer(x, "reduce_scatter_sum", true, device_);
  const int K = size();
  CONTRA_CHECK(x.dim() >= 1 && x.size(0) % K == 0, "reduce_scatter_sum", "needs (K·n, ...) rows with K = ", K,
               ", got ", shape_str(x.shape()));
  Shape shape = x.shape();
  shape[0] /= K;  // (n, ...)
  Tensor out = Tensor::empty(shape, x.dtype(), device_);
  State& s = *state_;
  s.activate();
  s.run("ncclReduceScatter", ncclReduceScatter(x.raw_data(), out.raw_data(), count_of(out), nccl_type(x.dtype()),
                                               ncclSum, s.comm, s.stream));
  return out;
}

void NcclCommunicator::broadcast(const Tensor& x, int root) {
  if (!on_cuda(x)) return host_->broadcast(x, root);
  check_buffer(x, "broadcast", false, device_);
  CONTRA_CHECK(root >= 0 && root < size(), "broadcast", "root rank ", root, " does not exist in a world of size ",
               size());
  State& s = *state_;
  s.activate();
  s.run("ncclBroadcast",
        ncclBroadcast(x.raw_data(), x.raw_data(), count_of(x), nccl_type(x.dtype()), root, s.comm, s.stream));
  x.bump_version();
}

}  // namespace contra::dist
