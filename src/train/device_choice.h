// device_choice.h — the compute device a tool runs on (--device, config key run.device):
// "cpu", "cuda" (= cuda:0) or "cuda:N".
//
// parse_device reads the text only (so --print-config and config files work on any
// machine); open_device also asks the backend registry whether this build and this machine
// can run it. Both throw UsageError (tools exit 2): a CPU-only build names -Dcuda=enabled,
// a CUDA build on a machine without a GPU says that no CUDA device is usable.
#pragma once

#include <string>

#include "tensor/device.h"
#include "train/config.h"

namespace contra::train {

// "cpu" → cpu, "cuda" → cuda:0, "cuda:N" → cuda:N; anything else throws UsageError naming `source`.
Device parse_device(const std::string& text, const std::string& source);

// parse_device, then the device's backend is created here (backend_for): throws UsageError
// when this build has no CUDA backend, or has one but no usable GPU (the backend's message
// and hint, with `source` as the place).
Device open_device(const std::string& text, const std::string& source);

// The --help text of every tool's --device flag.
inline constexpr const char* kDeviceHelp = "compute device: cpu, cuda (= cuda:0) or cuda:N";

}  // namespace contra::train
