// world_mpi.cpp — init_world for a build with MPI (-Dmpi=enabled/auto and OpenMPI found). See world.h.
#include "dist/mpi_communicator.h"
#include "dist/single_process_communicator.h"
#include "dist/world.h"

namespace contra::dist {

bool mpi_built() { return true; }

std::shared_ptr<Communicator> init_world(int* argc, char*** argv, CommOptions options) {
  options = options_from_environment(options);
  if (launched_by_mpi()) return std::make_shared<MpiCommunicator>(argc, argv, options);
  return std::make_shared<SingleProcessCommunicator>();
}

}  // namespace contra::dist
