// world_device.cpp — make_communicator for a build without NCCL: CPU devices, or one rank.
// See world.h.
#include "dist/world.h"
#include "tensor/error.h"

namespace contra::dist {

bool nccl_built() { return false; }

std::shared_ptr<Communicator> make_communicator(std::shared_ptr<Communicator> world, Device device,
                                                CommOptions /*options*/) {
  CONTRA_CHECK(world != nullptr, "make_communicator", "no world (call init_world first)");
  if (device.type == DeviceType::cpu || world->size() == 1) return world;
  throw Error("make_communicator",
              std::to_string(world->size()) + " ranks training on " + device.str() +
                  " need NCCL collectives, which this build does not have",
              "configure with -Dcuda=enabled and MPI (libopenmpi-dev; NCCL from /usr/local/cuda or libnccl-dev), "
              "or train on the CPU (--device cpu)");
}

}  // namespace contra::dist
