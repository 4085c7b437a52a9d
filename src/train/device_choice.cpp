// device_choice.cpp — see device_choice.h.
#include "train/device_choice.h"

#include <cctype>

#include "tensor/backend.h"

namespace contra::train {

Device parse_device(const std::string& text, const std::string& source) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  const std::string prefix = "cuda:";
  if (text.rfind(prefix, 0) == 0 && text.size() > prefix.size() && text.size() <= prefix.size() + 3) {
    bool digits = true;
    for (size_t i = prefix.size(); i < text.size(); ++i)
      digits = digits && std::isdigit(static_cast<unsigned char>(text[i]));
    if (digits) return Device::cuda(std::stoi(text.substr(prefix.size())));
  }
  throw UsageError(source, "device \"" + abbreviate(text) + "\" is not a device", "valid: cpu, cuda, cuda:N (N = 0, 1, …)");
}

Device open_device(const std::string& text, const std::string& source) {
  const Device d = parse_device(text, source);
  try {
    backend_for(d);  // the stub throws in a CPU-only build; the CUDA backend throws without a GPU
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(source, e.detail(), e.hint());
  }
  return d;
}

}  // namespace contra::train
