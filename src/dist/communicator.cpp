// communicator.cpp — the shared argument checks of communicator.h.
#include "dist/communicator.h"

#include "tensor/error.h"

namespace contra::dist {

void Communicator::check_buffer(const Tensor& x, const char* op, bool floating_only) {
  check_buffer(x, op, floating_only, Device::cpu());
}

void Communicator::check_buffer(const Tensor& x, const char* op, bool floating_only, Device device) {
  CONTRA_CHECK(x.defined(), op, "undefined tensor");
  CONTRA_CHECK_HINT(x.device() == device, op,
                    device.type == DeviceType::cpu
                        ? "copy the tensor to the CPU, or use dist::make_communicator(world, device) for CUDA tensors"
                        : "copy the tensor to " + device.str() + ", this rank's device",
                    "tensor on ", x.device().str(), ", this communicator's tensors are on ", device.str());
  CONTRA_CHECK_HINT(x.is_contiguous(), op, "call .contiguous() first", "tensor of shape ", shape_str(x.shape()),
                    " is not contiguous");
  const bool floating = x.dtype() == DType::f32 || x.dtype() == DType::f64;
  CONTRA_CHECK(floating || (!floating_only && x.dtype() == DType::i64), op, "unsupported dtype ",
               dtype_name(x.dtype()), floating_only ? " (f32 or f64)" : " (f32, f64 or i64)");
}

void Communicator::run_on_root(const char* /*what*/, const std::function<void()>& work, double max_wait_s) {
  if (rank() == 0) try {
      work();
    } catch (...) {
      barrier_within(max_wait_s);  // the others stop waiting; rank 0 reports its failure
      throw;
    }
  barrier_within(max_wait_s);
}

}  // namespace contra::dist
