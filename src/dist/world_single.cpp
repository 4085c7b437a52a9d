// world_single.cpp — init_world for a build without MPI: always one rank. See world.h.
#include <cstdlib>

#include "dist/single_process_communicator.h"
#include "dist/world.h"
#include "tensor/error.h"

namespace contra::dist {

bool mpi_built() { return false; }

std::shared_ptr<Communicator> init_world(int* /*argc*/, char*** /*argv*/, CommOptions options) {
  options_from_environment(options);  // still validated
  // Started by mpirun but built without MPI: K copies would each train alone on the full
  // batch; refuse instead.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* k = std::getenv(v);
    CONTRA_CHECK_HINT(!k || std::atoi(k) <= 1, "init_world",
                      "reconfigure with -Dmpi=enabled (apt-get install libopenmpi-dev)",
                      "started by an MPI launcher with ", v, " = ", k, " ranks, but this build has no MPI");
  }
  return std::make_shared<SingleProcessCommunicator>();
}

}  // namespace contra::dist
