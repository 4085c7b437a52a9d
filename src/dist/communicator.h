// communicator.h — the collectives a data-parallel job needs, over K processes ("ranks").
//
// Every rank runs the same program on its slice of the global batch and calls the same
// collectives in the same order (the order is part of the contract: a rank that skips or
// reorders a call deadlocks the others, which the timeout below turns into an exit).
//
//   all_reduce_sum   x ← Σ_r x_r                  in place, every rank gets the sum
//   all_gather       (n, ...) → (K·n, ...)        rank r's rows at [r·n, (r+1)·n); equal n
//   reduce_scatter_sum (K·n, ...) → (n, ...)      rank r gets Σ_s x_s[r·n : (r+1)·n]
//   broadcast        x ← x_root                   in place
//   barrier          returns once every rank has entered it
//
// Failure contract: every blocking call (and Request::wait) completes within the timeout
// (CommOptions::timeout_s) or ends the whole job with a non-zero status and a message naming
// this rank, the call and the timeout: a dead or stuck peer never hangs a job forever.
//
// Tensors: contiguous, on the CPU (NcclCommunicator: also on its GPU; SingleProcessCommunicator:
// any device); all_reduce_sum and reduce_scatter_sum f32/f64; all_gather and broadcast also i64.
// Like a Backend, an implementation reads and writes tensor memory directly (it is the
// transport, below the ops): src/dist/differentiable_collectives.h builds autograd ops on it.
//
// Implementations: SingleProcessCommunicator (K = 1, always built), MpiCommunicator
// (OpenMPI, built with -Dmpi=enabled/auto) and NcclCommunicator (CUDA devices; built with
// -Dcuda=enabled and MPI); world.h picks one.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace contra::dist {

struct CommOptions {
  // Upper bound in seconds on any one collective; past it the job ends (see above).
  // The environment variable CONTRA_DIST_TIMEOUT_S overrides it (world.h).
  double timeout_s = 60.0;
  // run_on_root: how long a waiting rank goes without hearing rank 0's heartbeat before it
  // ends the job. CONTRA_DIST_HEARTBEAT_TIMEOUT_S overrides it (world.h).
  double heartbeat_timeout_s = 60.0;
};

// A collective started without waiting (gradient buckets overlap it with backward).
class Request {
 public:
  virtual ~Request() = default;
  // Blocks until the result is in the tensor given at start, under the same timeout.
  virtual void wait() = 0;
  // Lets the transfer advance without blocking (MPI moves data only inside its calls);
  // true once complete (wait() is still required to take the result).
  virtual bool poll() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // r ∈ [0, K)
  virtual int size() const = 0;  // K
  virtual std::string name() const = 0;  // "single-process", "mpi"

  // x ← Σ_r x_r, in place (f32/f64, contiguous). Bumps x's version.
  virtual void all_reduce_sum(const Tensor& x) = 0;
  // Starts x ← Σ_r x_r; x must stay alive and untouched until wait() returns.
  virtual std::unique_ptr<Request> start_all_reduce_sum(const Tensor& x) = 0;
  // Concatenation along dim 0 of every rank's x (same shape and dtype on every rank).
  virtual Tensor all_gather(const Tensor& x) = 0;
  // Σ_s x_s[r·n : (r+1)·n] for this rank r: x (K·n, ...) → (n, ...), f32/f64. Moves
  // (K−1)/K of x's bytes per rank where all_reduce_sum moves 2(K−1)/K.
  virtual Tensor reduce_scatter_sum(const Tensor& x) = 0;
  // x ← x_root, in place (same shape and dtype on every rank).
  virtual void broadcast(const Tensor& x, int root) = 0;
  virtual void barrier() = 0;
  // A barrier under its own deadline instead of CommOptions::timeout_s: for ranks that wait
  // while one rank does work of unbounded length alone (rank 0's kNN monitor and final
  // evaluation in tools/pretrain). A rank that dies meanwhile is still noticed by mpirun.
  // Default: barrier() under the usual deadline (wrappers such as bench's timing one).
  virtual void barrier_within(double /*timeout_s*/) { barrier(); }
  // Rank 0's work alone while every other rank waits for it (tools/pretrain: the dataset
  // download, the kNN monitor, the final evaluation; `what` names it in messages). Rank 0
  // runs work(); the others return once it has returned or thrown (rank 0 then rethrows).
  // A waiting rank ends the job (a message naming rank 0 and `what`, non-zero exit) when the
  // whole wait passes max_wait_s, and — where the transport has heartbeats (MpiCommunicator)
  // — as soon as rank 0 has been silent for CommOptions::heartbeat_timeout_s: a stopped or
  // unreachable rank 0 is noticed within that bound, a slow but live one is waited for.
  // Default: work() on rank 0, then barrier_within(max_wait_s) (no heartbeat).
  virtual void run_on_root(const char* what, const std::function<void()>& work, double max_wait_s);

  // Checks the tensor rules above; throws contra::Error naming `op` otherwise.
  static void check_buffer(const Tensor& x, const char* op, bool floating_only);
  // The same rules for a tensor that must be on `device` (the CPU above).
  static void check_buffer(const Tensor& x, const char* op, bool floating_only, Device device);
};

}  // namespace contra::dist
