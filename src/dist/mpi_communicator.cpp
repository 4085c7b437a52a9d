// mpi_communicator.cpp — OpenMPI collectives with a deadline. See mpi_communicator.h.
#include "dist/mpi_communicator.h"

// Only MPI's C API is used: skip OpenMPI's deprecated C++ bindings (and their warnings).
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace contra::dist {

namespace {
// run_on_root's messages on State::beat, rank 0 → every other rank: one int each.
constexpr int kBeatTag = 1;  // rank 0 is alive (every heartbeat_interval_s)
constexpr int kDoneTag = 2;  // rank 0's work returned or threw: stop waiting
}  // namespace

struct MpiCommunicator::State {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Comm beat = MPI_COMM_NULL;  // run_on_root's heartbeats, apart from the collectives
  int rank = 0, size = 1;
  bool owns_mpi = false;  // this object called MPI_Init_thread
  bool heartbeats = false;  // MPI provides MPI_THREAD_SERIALIZED (rank 0's heartbeat thread)
  CommOptions options;
  // MPI_THREAD_SERIALIZED: one thread inside MPI at a time. Held around every MPI call of
  // this file except MPI_Abort (a failing rank must not wait for a lock to end the job) and
  // those of the constructor and destructor (no heartbeat thread exists then: it lives inside
  // one run_on_root call).
  mutable std::mutex serial_mutex;
  std::unique_lock<std::mutex> serial() const { return std::unique_lock<std::mutex>(serial_mutex); }
  // Rank 0's heartbeat period: several beats per timeout, at most 5 s apart.
  double heartbeat_interval_s() const { return std::clamp(options.heartbeat_timeout_s / 6.0, 0.01, 5.0); }

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
      {
        const auto lock = serial();
        check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
      }
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

  // A waiting rank's side of run_on_root: receives rank 0's heartbeats until its kDoneTag.
  // Ends the job when rank 0 is silent for heartbeat_timeout_s or the wait passes max_wait_s.
  void wait_for_root(const char* what, double max_wait_s) const {
    using clock = std::chrono::steady_clock;
    int token = 0;
    MPI_Request request = MPI_REQUEST_NULL;
    const auto receive = [&] {
      const auto lock = serial();
      check(MPI_Irecv(&token, 1, MPI_INT, 0, MPI_ANY_TAG, beat, &request), "MPI_Irecv (rank 0's heartbeat)");
    };
    receive();
    const auto start = clock::now();
    auto last_heard = start;
    const auto seconds = [](double t) {
      char text[32];
      std::snprintf(text, sizeof text, "%g", t);
      return std::string(text);
    };
    for (;;) {
      int done = 0;
      MPI_Status status;
      {
        const auto lock = serial();
        check(MPI_Test(&request, &done, &status), "MPI_Test (rank 0's heartbeat)");
      }
      const auto now = clock::now();
      if (done) {
        if (status.MPI_TAG == kDoneTag) return;
        last_heard = now;  // kBeatTag: rank 0 is alive; wait for the next message
        receive();
        continue;
      }
      if (now - last_heard > std::chrono::duration<double>(options.heartbeat_timeout_s))
        fail("rank 0 sent no heartbeat for " + seconds(options.heartbeat_timeout_s) + " s while working alone (" +
             what + "): rank 0 is stopped, hung or unreachable (CONTRA_DIST_HEARTBEAT_TIMEOUT_S sets this bound)");
      if (now - start > std::chrono::duration<double>(max_wait_s))
        fail("rank 0 did not finish " + std::string(what) + " within " + seconds(max_wait_s) +
             " s, although alive (CONTRA_DIST_ROOT_TIMEOUT_S sets this bound)");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // leave the core to rank 0
    }
  }
};

namespace {

// Rank 0's side of run_on_root: a thread that sends every other rank a kBeatTag message every
// heartbeat_interval_s while rank 0's main thread works. finish() joins the thread, then sends
// kDoneTag. No message is left over for the next run_on_root or anything else: the join puts
// every beat's MPI_Isend before the Done's (MPI orders two threads' sends only when the program
// does), and a waiting rank's one posted receive (source 0, MPI_ANY_TAG, State::beat) matches
// both tags, so MPI's non-overtaking rule delivers Done after every beat; wait_for_root returns
// on Done only, and finish() completes every send before run_on_root returns. A receive per tag,
// or a Done sent before the join, would break this.
class Heartbeat {
 public:
  explicit Heartbeat(const MpiCommunicator::State& s) : s_(s), thread_([this] { beat_until_stopped(); }) {}
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  ~Heartbeat() { stop(); }

  void finish() {
    stop();
    send_to_all(kDoneTag);
    for (MPI_Request& r : pending_) s_.wait(r, "MPI_Isend (rank 0's heartbeat)");
    pending_.clear();
  }

 private:
  void stop() {
    {
      const std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void beat_until_stopped() {
    const auto interval = std::chrono::duration<double>(s_.heartbeat_interval_s());
    std::unique_lock<std::mutex> g(m_);
    while (!stop_) {
      g.unlock();
      send_to_all(kBeatTag);
      g.lock();
      cv_.wait_for(g, interval, [&] { return stop_; });
    }
  }
  // One small message to each other rank; completed sends are released (eager: at once).
  void send_to_all(int tag) {
    static const int token = 0;
    const auto lock = s_.serial();
    for (int r = 1; r < s_.size; ++r) {
      pending_.emplace_back(MPI_REQUEST_NULL);
      s_.check(MPI_Isend(&token, 1, MPI_INT, r, tag, s_.beat, &pending_.back()), "MPI_Isend (rank 0's heartbeat)");
    }
    int all_done = 0;
    s_.check(MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &all_done, MPI_STATUSES_IGNORE),
             "MPI_Testall (rank 0's heartbeat)");
    if (all_done) pending_.clear();
  }

  const MpiCommunicator::State& s_;
  std::vector<MPI_Request> pending_;  // the thread's until it is joined, then finish()'s
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

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
    {
      const auto lock = state->serial();
      state->check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
    }
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
  int provided = MPI_THREAD_SINGLE;
  if (!initialised) {
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    state_->owns_mpi = true;
  } else {
    MPI_Query_thread(&provided);  // initialised by someone else: heartbeats only if it allows
  }
  state_->heartbeats = provided >= MPI_THREAD_SERIALIZED;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  state_->check(MPI_Comm_dup(MPI_COMM_WORLD, &state_->comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(state_->comm, MPI_ERRORS_RETURN);
  state_->check(MPI_Comm_dup(MPI_COMM_WORLD, &state_->beat), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(state_->beat, MPI_ERRORS_RETURN);
  MPI_Comm_rank(state_->comm, &state_->rank);
  MPI_Comm_size(state_->comm, &state_->size);
}

MpiCommunicator::~MpiCommunicator() {
  if (state_->beat != MPI_COMM_NULL) MPI_Comm_free(&state_->beat);
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
  const auto lock = state_->serial();
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
  {
    const auto lock = state_->serial();
    state_->check(MPI_Iallgather(x.raw_data(), n, mpi_type(x.dtype()), out.raw_data(), n, mpi_type(x.dtype()),
                                 state_->comm, &r.request),
                  "MPI_Iallgather");
  }
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
  {
    const auto lock = state_->serial();
    state_->check(MPI_Ireduce_scatter_block(x.raw_data(), out.raw_data(), count_of(out, "reduce_scatter_sum"),
                                            mpi_type(x.dtype()), MPI_SUM, state_->comm, &r.request),
                  "MPI_Ireduce_scatter_block");
  }
  r.wait();
  return out;
}

void MpiCommunicator::broadcast(const Tensor& x, int root) {
  check_buffer(x, "broadcast", false);
  CONTRA_CHECK(root >= 0 && root < state_->size, "broadcast", "root rank ", root, " does not exist in a world of size ",
               state_->size);
  MpiRequest r(state_.get(), x, "MPI_Ibcast");
  {
    const auto lock = state_->serial();
    state_->check(MPI_Ibcast(x.raw_data(), count_of(x, "broadcast"), mpi_type(x.dtype()), root, state_->comm,
                             &r.request),
                  "MPI_Ibcast");
  }
  r.wait();
}

void MpiCommunicator::abort_job(const std::string& what) const { state_->fail(what); }

void MpiCommunicator::barrier() {
  MpiRequest r(state_.get(), Tensor(), "MPI_Ibarrier");
  {
    const auto lock = state_->serial();
    state_->check(MPI_Ibarrier(state_->comm, &r.request), "MPI_Ibarrier");
  }
  r.wait();
}

void MpiCommunicator::barrier_within(double timeout_s) {
  CONTRA_CHECK(timeout_s > 0, "barrier_within", "timeout_s must be > 0, got ", timeout_s);
  MPI_Request request = MPI_REQUEST_NULL;
  {
    const auto lock = state_->serial();
    state_->check(MPI_Ibarrier(state_->comm, &request), "MPI_Ibarrier");
  }
  // a long wait: poll every 2 ms, leaving the core to the rank that works
  state_->wait(request, "MPI_Ibarrier (waiting for rank 0's work)", timeout_s, 2000);
}

}  // namespace contra::dist

namespace contra::dist {

void MpiCommunicator::run_on_root(const char* what, const std::function<void()>& work, double max_wait_s) {
  CONTRA_CHECK(max_wait_s > 0, "run_on_root", "max_wait_s must be > 0, got ", max_wait_s);
  if (!state_->heartbeats) return Communicator::run_on_root(what, work, max_wait_s);  // MPI below SERIALIZED
  if (state_->rank != 0) return state_->wait_for_root(what, max_wait_s);
  // MPI_THREAD_SERIALIZED: from here to finish()'s join the heartbeat thread calls MPI, the main
  // thread only if work() does, and both hold State::serial_mutex for every call. work() must not
  // call a collective all the same (the other ranks are in wait_for_root, not in it; it would end
  // the job after timeout_s): pretrain's works (run directory, dataset, kNN monitor, final
  // evaluation) make none; their forwards run in eval mode, where synchronised BN all-reduces nothing.
  Heartbeat heartbeat(*state_);
  try {
    work();
  } catch (...) {
    heartbeat.finish();  // the others stop waiting; rank 0 reports its failure
    throw;
  }
  heartbeat.finish();
}

}  // namespace contra::dist
