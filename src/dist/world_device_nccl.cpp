// world_device_nccl.cpp — make_communicator for a build with NCCL (-Dcuda=enabled, MPI, NCCL
// found): the NCCL communicator for CUDA devices at K > 1. See world.h.
#include "dist/nccl_communicator.h"
#include "dist/world.h"
#include "tensor/error.h"

namespace contra::dist {

bool nccl_built() { return true; }

std::shared_ptr<Communicator> make_communicator(std::shared_ptr<Communicator> world, Device device,
                                                CommOptions options) {
  CONTRA_CHECK(world != nullptr, "make_communicator", "no world (call init_world first)");
  if (device.type == DeviceType::cpu || world->size() == 1) return world;
  auto mpi = std::dynamic_pointer_cast<MpiCommunicator>(world);
  CONTRA_CHECK_HINT(mpi != nullptr, "make_communicator", "pass the communicator init_world returned",
                    "NCCL needs the job's MPI communicator for its start-up, got '", world->name(), "'");
  return std::make_shared<NcclCommunicator>(std::move(mpi), device, options_from_environment(options));
}

}  // namespace contra::dist
