// dist_main.cpp — the doctest runner of tests/dist: initialises the world (MPI under mpirun,
// else one rank) before the tests and finalises it after. Rank 0 prints doctest's report;
// other ranks print theirs (to stderr) only when a test failed there. mpirun's exit status is
// non-zero when any rank's is.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>
#include <sstream>

#include "dist/world.h"
#include "dist_test_util.h"

namespace dist_test {
namespace {
std::shared_ptr<dist::Communicator> g_world;
}
dist::Communicator& world() { return *g_world; }
std::shared_ptr<dist::Communicator> world_ptr() { return g_world; }
}  // namespace dist_test

int main(int argc, char** argv) {
  dist_test::g_world = contra::dist::init_world(&argc, &argv);
  const int rank = dist_test::g_world->rank();
  doctest::Context context(argc, argv);
  context.setOption("no-colors", true);  // mpirun forwards through a pty: keep the summary line parseable (.ci/run)
  std::ostringstream quiet;
  if (rank != 0) context.setCout(&quiet);
  const int failed = context.run();
  if (rank != 0 && failed) std::cerr << "rank " << rank << " failed:\n" << quiet.str();
  dist_test::g_world->barrier();
  dist_test::g_world.reset();  // MPI_Finalize
  return failed;
}
