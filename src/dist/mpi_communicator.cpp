// mpi_communicator.cpp — OpenMPI collectives with a deadline. See mpi_communicator.h.
#include "dist/mpi_communicator.h"

// Only MPI's C API is used: skip OpenMPI's deprecated C++ bindings (and their warnings).
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "tensor/error.h"

namespace contra::dist {

struct MpiCommunicator::State {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  bool owns_mpi = false;  // this object called MPI_Init_thread
  CommOptions options;

  // Ends the job: a message naming the rank and the call, then MPI_Abort (non-zero exit).
  [[noreturn]] void fail(const std::string& what) const {
    std::fprintf(stderr, "contra dist: rank %d of %d: %s; ending the job\n", rank, size, what.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 70);
    std::_Exit(70);  // MPI_Abort does not return; this line is for the compiler
  }

  void check(int err, const char* call) const {
    if (err == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, text, &len);
    fail(std::string(call) + ": " + std::string(text, static_cast<size_t>(len)));
  }

  // Polls `request` until it completes or timeout_s passes (mpi_communicator.h: polling).
  void wait(MPI_Request& request, const char* call) const { wait(request, call, options.timeout_s); }
  // idle_sleep_us: the pause between polls after the first 200 ms.
  void wait(MPI_Request& request, const char* call, double timeout_s, int idle_sleep_us = 50) const {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = start + std::chrono::duration<double>(timeout_s);
    for (std::int64_t polls = 0;; ++polls) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
      if (done) return;
      const auto now = clock::now();
      if (now > deadline) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
        fail(std::string(call) + " did not complete within " + seconds + " s (a peer rank died or is stuck)");
      }
      if (now - start > std::chrono::milliseconds(200)) std::this_thread::sleep_for(std::chrono::microseconds(idle_sleep_us));
      else if (polls > 64) std::this_thread::yield();
    }
  }
};

namespace {

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i64: return MPI_INT64_T;
    default: throw Error("mpi", std::string("no MPI type for dtype ") + dtype_name(t));
  }
}

int count_of(const Tensor& x, const char* op) {
  CONTRA_CHECK_HINT(x.numel() <= 0x7fffffff, op, "split the buffer (MPI counts are int)", "tensor of ", x.numel(),
                    " elements");
  return static_cast<int>(x.numel());
}

struct MpiRequest final : Request {
  const MpiCommunicator::State* state;
  MPI_Request request = MPI_REQUEST_NULL;
  Tensor buffer;  // kept alive until the collective completes
  const char* call;
  bool waited = false;
  MpiRequest(const MpiCommunicator::State* s, Tensor b, const char* c) : state(s), buffer(std::move(b)), call(c) {}
  void wait() override {
    if (waited) return;
    state->wait(request, call);
    if (buffer.defined()) buffer.bump_version();
    waited = true;
  }
  bool poll() override {
    if (waited) return true;
    int done = 0;
    state->check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
    if (done) {  // MPI_Test freed the request: complete the bookkeeping of wait()
      if (buffer.defined()) buffer.bump_version();
      waited = true;
    }
    return done != 0;
  }
  ~MpiRequest() override {
    if (!waited) state->wait(request, call);  // never leave a collective pending in MPI
  }
};

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

MpiCommunicator::MpiCommunicator(int* argc, char*** argv, const CommOptions& options)
    : state_(std::make_unique<State>()) {
  CONTRA_CHECK(options.timeout_s > 0, "MpiCommunicator", "timeout_s must be > 0, got ", options.timeout_s);
  state_->options = options;
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    state_->owns_mpi = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  state_->check(MPI_Comm_dup(MPI_COMM_WORLD, &state_->comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(state_->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(state_->comm, &state_->rank);
  MPI_Comm_size(state_->comm, &state_->size);
}

MpiCommunicator::~MpiCommunicator() {
  if (state_->comm != MPI_COMM_NULL) MPI_Comm_free(&state_->comm);
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (state_->owns_mpi && !finalised) MPI_Finalize();
}

int MpiCommunicator::rank() const { return state_->rank; }
int MpiCommunicator::size() const { return state_->size; }

void MpiCommunicator::all_reduce_sum(const Tensor& x) { start_all_reduce_sum(x)->wait(); }

std::unique_ptr<Request> MpiCommunicator::start_all_reduce_sum(const Tensor& x) {
  check_buffer(x, "all_reduce_sum", true);
  auto r = std::make_unique<MpiRequest>(state_.get(), x, "MPI_Iallreduce");
  state_->check(MPI_Iallreduce(MPI_IN_PLACE, x.raw_data(), count_of(x, "all_reduce_sum"), mpi_type(x.dtype()),
                               MPI_SUM, state_->comm, &r->request),
                "MPI_Iallreduce");
  return r;
}

Tensor MpiCommunicator::all_gather(const Tensor& x) {
  check_buffer(x, "all_gather", false);
  CONTRA_CHECK(x.dim() >= 1, "all_gather", "needs a tensor with a row dimension, got a scalar");
  Shape s = x.shape();
  s[0] *= state_->size;  // (K·n, ...)
  Tensor out = Tensor::empty(s, x.dtype());
  MpiRequest r(state_.get(), out, "MPI_Iallgather");
  const int n = count_of(x, "all_gather");
  state_->check(MPI_Iallgather(x.raw_data(), n, mpi_type(x.dtype()), out.raw_data(), n, mpi_type(x.dtype()),
                               state_->comm, &r.request),
                "MPI_Iallgather");
  r.wait();
  return out;
}

Tensor MpiCommunicator::reduce_scatter_sum(const Tensor& x) {
  check_buffer(x, "reduce_scatter_sum", true);
  const int K = state_->size;
  CONTRA_CHECK(x.dim() >= 1 && x.size(0) % K == 0, "reduce_scatter_sum", "needs (K·n, ...) rows with K = ", K,
               ", got ", shape_str(x.shape()));
  Shape s = x.shape();
  s[0] /= K;  // (n, ...)
  Tensor out = Tensor::empty(s, x.dtype());
  MpiRequest r(state_.get(), out, "MPI_Ireduce_scatter_block");
  state_->check(MPI_Ireduce_scatter_block(x.raw_data(), out.raw_data(), count_of(out, "reduce_scatter_sum"),
                                          mpi_type(x.dtype()), MPI_SUM, state_->comm, &r.request),
                "MPI_Ireduce_scatter_block");
  r.wait();
  return out;
}

void MpiCommunicator::broadcast(const Tensor& x, int root) {
  check_buffer(x, "broadcast", false);
  CONTRA_CHECK(root >= 0 && root < state_->size, "broadcast", "root rank ", root, " does not exist in a world of size ",
               state_->size);
  MpiRequest r(state_.get(), x, "MPI_Ibcast");
  state_->check(MPI_Ibcast(x.raw_data(), count_of(x, "broadcast"), mpi_type(x.dtype()), root, state_->comm,
                           &r.request),
                "MPI_Ibcast");
  r.wait();
}

void MpiCommunicator::abort_job(const std::string& what) const { state_->fail(what); }

void MpiCommunicator::barrier() {
  MpiRequest r(state_.get(), Tensor(), "MPI_Ibarrier");
  state_->check(MPI_Ibarrier(state_->comm, &r.request), "MPI_Ibarrier");
  r.wait();
}

void MpiCommunicator::barrier_within(double timeout_s) {
  CONTRA_CHECK(timeout_s > 0, "barrier_within", "timeout_s must be > 0, got ", timeout_s);
  MPI_Request request = MPI_REQUEST_NULL;
  state_->check(MPI_Ibarrier(state_->comm, &request), "MPI_Ibarrier");
  // a long wait: poll every 2 ms, leaving the core to the rank that works
  state_->wait(request, "MPI_Ibarrier (waiting for rank 0's work)", timeout_s, 2000);
}

}  // namespace contra::dist
