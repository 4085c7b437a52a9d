// mpi_communicator.h — the Communicator over OpenMPI (built only with -Dmpi=enabled/auto).
//
// One process per rank, started by `mpirun -np K ...`. Collectives are MPI's non-blocking
// ones (MPI_Iallreduce, MPI_Iallgather, MPI_Ireduce_scatter_block, MPI_Ibcast, MPI_Ibarrier) on a private duplicate of
// MPI_COMM_WORLD whose error handler is MPI_ERRORS_RETURN, completed by polling MPI_Test
// against a deadline (no watchdog thread: the polling thread is the one that waits):
//
//   done within timeout_s      → return
//   MPI reports an error       → message "rank r of K: <call>: <MPI error>", MPI_Abort
//   deadline passed            → message "rank r of K: <call> did not complete within T s
//                                 (a peer rank died or is stuck)", MPI_Abort
//
// MPI_Abort ends every rank of the job with a non-zero status (mpirun exits with it): an
// exception could not do that safely, since a collective still pending in MPI would make
// the unwinding MPI_Finalize hang. A rank killed outright (SIGKILL) is noticed by mpirun
// itself, which ends the job; the deadline covers the cases mpirun cannot see (a stuck rank,
// a rank that stopped calling collectives, a lost network peer).
//
// Polling: MPI_Test in a loop (OpenMPI moves a large message only inside MPI calls, so each
// poll advances the transfer), yielding the core between polls (a rank waiting for a slow
// peer on an oversubscribed machine hands it the core: CI runs 2–3 ranks on 2 cores), and
// after 200 ms sleeping 50 µs per poll. Sleeping from 1 ms on instead halved the rate of a
// 11.6 MB all-reduce here (36 ms against 16 ms, 2 ranks through shared memory).
//
// run_on_root (rank 0 works alone, the others wait): a thread on rank 0 sends each other rank a
// one-int message every min(5 s, heartbeat_timeout_s/6) on a second private communicator
// while rank 0's main thread works, then a last "done" message. The waiting ranks poll for
// them (MPI_Test, 2 ms apart) and end the job, naming rank 0, after heartbeat_timeout_s
// (CONTRA_DIST_HEARTBEAT_TIMEOUT_S, default 60 s) without one: a stopped (SIGSTOP), swapped-out
// or unreachable rank 0 costs that long, not the whole root-work deadline (24 h by default).
// A rank 0 that is alive but slow keeps beating and is waited for. Not caught: a rank 0 whose
// main thread loops forever while its process runs (the heartbeat thread still beats); the
// root-work deadline (max_wait_s) bounds that case. MPI is initialised with
// MPI_THREAD_SERIALIZED, and every MPI call here holds State's mutex, so the heartbeat thread
// and the main thread never call MPI at once.
//
// Sums are MPI_SUM in MPI's reduction order, which is fixed for a given K and message size:
// runs repeat bit for bit, but K = 2 and K = 3 sum in different orders (float tolerance).
#pragma once

#include <functional>
#include <memory>

#include "dist/communicator.h"

namespace contra::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI (MPI_THREAD_SERIALIZED, for run_on_root's heartbeat thread) unless it
  // already is; finalises it on destruction if it initialised it. One instance per process
  // (world.h).
  MpiCommunicator(int* argc, char*** argv, const CommOptions& options);
  ~MpiCommunicator() override;

  int rank() const override;
  int size() const override;
  std::string name() const override { return "mpi"; }
  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Request> start_all_reduce_sum(const Tensor& x) override;
  Tensor all_gather(const Tensor& x) override;
  Tensor reduce_scatter_sum(const Tensor& x) override;
  void broadcast(const Tensor& x, int root) override;
  void barrier() override;
  void barrier_within(double timeout_s) override;
  // Heartbeats (see the file comment): rank 0 sends, the others end the job after
  // CommOptions::heartbeat_timeout_s of silence. Without MPI_THREAD_SERIALIZED (MPI
  // initialised elsewhere at a lower level): Communicator's default, max_wait_s alone.
  void run_on_root(const char* what, const std::function<void()>& work, double max_wait_s) override;
  // Ends the job as a failed collective does: "contra dist: rank r of K: <what>; ending the
  // job", then MPI_Abort (exit 70 for every rank). For transports layered on this one (NCCL).
  [[noreturn]] void abort_job(const std::string& what) const;

  struct State;  // MPI handles (mpi_communicator.cpp); public for the request type there

 private:
  std::unique_ptr<State> state_;
};

// Whether this process was started by an MPI launcher (mpirun/orterun/PMIx set the
// environment): world.h uses MPI only then, so plain `./program` stays single-process.
bool launched_by_mpi();

}  // namespace contra::dist
