// world.h — the communicator of this process: the one place that knows whether MPI was built.
//
//   built with MPI and started by mpirun (launched_by_mpi)  → MpiCommunicator, K = -np
//   otherwise                                               → SingleProcessCommunicator, K = 1
//
// The build picks world_mpi.cpp or world_single.cpp (src/dist/meson.build, -Dmpi), so no
// other file tests for MPI. Call once, early in main (MPI may rewrite argc/argv), and keep
// the pointer for the life of the program (its destructor finalises MPI).
// CONTRA_DIST_TIMEOUT_S and CONTRA_DIST_HEARTBEAT_TIMEOUT_S in the environment override
// options.timeout_s and options.heartbeat_timeout_s.
//
// make_communicator(world, device): the communicator for training on `device`, from the world:
//   CPU device, or K = 1                    → world itself
//   CUDA device, K > 1, NCCL built          → NcclCommunicator over world's MPI (nccl_communicator.h)
//   CUDA device, K > 1, no NCCL             → contra::Error saying how to build it
// Like world.h's MPI choice, the build picks world_device_nccl.cpp or world_device.cpp.
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace contra::dist {

std::shared_ptr<Communicator> init_world(int* argc, char*** argv, CommOptions options = {});

// Whether this build has the MPI communicator.
bool mpi_built();

// See above. Collective for K > 1 on a CUDA device (every rank calls it at the same point);
// call it on init_world's communicator (not a wrapper such as TimedCommunicator).
std::shared_ptr<Communicator> make_communicator(std::shared_ptr<Communicator> world, Device device,
                                                CommOptions options = {});

// Whether this build has the NCCL communicator (-Dcuda=enabled with MPI and NCCL).
bool nccl_built();

// options.timeout_s, or CONTRA_DIST_TIMEOUT_S when set, and options.heartbeat_timeout_s, or
// CONTRA_DIST_HEARTBEAT_TIMEOUT_S when set (positive numbers; error otherwise).
CommOptions options_from_environment(CommOptions options);

}  // namespace contra::dist
