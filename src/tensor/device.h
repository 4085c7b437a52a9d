// device.h — where a tensor's memory lives: the CPU, or CUDA device `index`. A device picks
// its Backend (backend_registry.cpp; backend.h: backend_for(device)).
#pragma once

#include <cstdint>
#include <string>

namespace contra {

enum class DeviceType : std::uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const;
  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
};

}  // namespace contra
