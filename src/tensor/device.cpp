// device.cpp — Device's text form ("cpu", "cuda:0"). See device.h.
#include "tensor/device.h"

namespace contra {

std::string Device::str() const {
  return type == DeviceType::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace contra
