// test_dist_failure.cpp — a rank killed or stuck mid-step ends the whole job, non-zero, within
// a bound. Launches `mpirun -np 2 dist_failure_probe <mode>` with a 2 s collective timeout and
// an outer `timeout 60` (so a regression fails this test instead of hanging CI). Also rank 0
// stuck or slow in its work alone (run_on_root) under a 2 s heartbeat bound.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>

namespace {

struct Outcome {
  int status = 0;  // exit status of the shell pipeline
  double seconds = 0.0;
  std::string output;
};

Outcome launch(const std::string& mode, const std::string& env = "") {
  const char* mpirun = std::getenv("MPIRUN");
  const char* probe = std::getenv("DIST_PROBE");
  REQUIRE_MESSAGE(mpirun, "run through meson test (MPIRUN and DIST_PROBE are set there)");
  REQUIRE(probe);
  const std::string cmd = env + " CONTRA_DIST_TIMEOUT_S=2 timeout 60 " + mpirun + " -np 2 --oversubscribe " +
                          probe + " " + mode + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  Outcome o;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) o.output += buf;
  const int raw = pclose(p);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return o;
}

}  // namespace

TEST_CASE("a rank killed with SIGKILL mid-step: the job exits non-zero within the bound") {
  const Outcome o = launch("kill");
  INFO(o.output);
  CHECK(o.status != 0);
  CHECK(o.status != 124);   // ended by MPI, not by the outer timeout
  CHECK(o.seconds < 30.0);  // bound: the 2 s collective timeout plus start-up and teardown
  CHECK(o.output.find("probe: rank 1 kill at step 3, mid-backward") != std::string::npos);
}

TEST_CASE("a rank stuck mid-step: the others time out, name themselves and the call, and end the job") {
  const Outcome o = launch("stuck");
  INFO(o.output);
  CHECK(o.status != 0);
  CHECK(o.status != 124);
  CHECK(o.seconds < 30.0);
  CHECK(o.output.find("probe: rank 1 stuck at step 3, mid-backward") != std::string::npos);
  CHECK(o.output.find("contra dist: rank 0 of 2: MPI_Iallreduce did not complete within 2 s") != std::string::npos);
}

TEST_CASE("rank 0 stopped (SIGSTOP) in its work alone: the others end the job within the heartbeat bound, naming rank 0") {
  const Outcome o = launch("root_stuck", "CONTRA_DIST_HEARTBEAT_TIMEOUT_S=2");
  INFO(o.output);
  CHECK(o.status != 0);
  CHECK(o.status != 124);   // ended by the waiting rank, not by the outer timeout
  CHECK(o.seconds < 30.0);  // the 2 s bound plus start-up and teardown (the root deadline is 1 h)
  CHECK(o.output.find("probe: rank 0 root_stuck in its work alone") != std::string::npos);
  CHECK(o.output.find("contra dist: rank 1 of 2: rank 0 sent no heartbeat for 2 s while working alone "
                      "(the probe's evaluation)") != std::string::npos);
  CHECK(o.output.find("done waiting") == std::string::npos);
}

TEST_CASE("rank 0 slow but alive in its work alone (3 × the heartbeat bound): the others wait, the job succeeds") {
  const Outcome o = launch("root_slow", "CONTRA_DIST_HEARTBEAT_TIMEOUT_S=2");
  INFO(o.output);
  CHECK(o.status == 0);
  CHECK(o.seconds >= 6.0);
  CHECK(o.output.find("probe: rank 1 done waiting for rank 0") != std::string::npos);
  CHECK(o.output.find("no heartbeat") == std::string::npos);
}

TEST_CASE("rank 0 alive but past the whole wait's deadline: the others end the job, naming rank 0 and the deadline") {
  const Outcome o = launch("root_overdue", "CONTRA_DIST_HEARTBEAT_TIMEOUT_S=2");
  INFO(o.output);
  CHECK(o.status != 0);
  CHECK(o.status != 124);
  CHECK(o.seconds < 30.0);
  CHECK(o.output.find("contra dist: rank 1 of 2: rank 0 did not finish the probe's evaluation within 3 s, although "
                      "alive (CONTRA_DIST_ROOT_TIMEOUT_S sets this bound)") != std::string::npos);
  CHECK(o.output.find("no heartbeat") == std::string::npos);
}
