// storage.h — reference-counted bytes on one device.
//
// Storage owns (or borrows, with a deleter) one contiguous allocation. Tensors are views
// into it. The version counter lives here, so every view of the same bytes sees the same
// counter: an in-place write through any view bumps it, and autograd compares it with the
// version a saved tensor had when it was saved.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "tensor/device.h"
#include "tensor/dtype.h"

namespace contra {

class Storage {
 public:
  // Allocates `nbytes` on `device` (64-byte aligned on the CPU), uninitialised.
  Storage(std::size_t nbytes, Device device);
  // Wraps memory owned elsewhere; `deleter` runs when the last reference goes.
  Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  std::function<void(void*)> deleter_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace contra
