#include "tensor/storage.h"

#include "tensor/backend.h"

namespace contra {

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  Backend& be = backend_for(device);
  data_ = be.allocate(nbytes == 0 ? 1 : nbytes);
  deleter_ = [&be](void* p) { be.deallocate(p); };
}

Storage::Storage(void* data, std::size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (deleter_ && data_) deleter_(data_);
}

}  // namespace contra
