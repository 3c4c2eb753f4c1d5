// CUDA entry points, declared without CUDA headers so host-only code (the pybind11 bindings)
// can call them. Streams are passed as `void*` (a cudaStream_t; nullptr is the default stream).
// Every function throws std::runtime_error naming the failed CUDA call; none of them is called
// at import time, so the module loads on machines without a GPU or driver.
#pragma once

#include <cstddef>
#include <string>

#include "skyplex/cascade_attention.h"
#include "skyplex/merge_attn_states.h"

namespace skyplex::cuda {

/// Number of usable CUDA devices; 0 (not an error) when there is no driver or no device.
int device_count();

/// Why device_count() is 0, e.g. "no CUDA-capable device is detected"; empty when devices exist.
std::string device_status();

/// Launches the merge on `stream`; all pointers are device memory. Asynchronous: launch
/// configuration errors throw here, faults inside the kernel surface at the next synchronisation.
void merge_attn_states(const float* oa, const float* la, const float* ob, const float* lb, float* o,
                       float* lse, MergeShape shape, void* stream);

/// Launches cascade attention (skyplex/cascade_attention.h) on `stream`; all pointers are device
/// memory: q and the k/v arrays of `type`, offsets int64, out and lse float32. `max_queries` (the
/// largest M_i) sizes the suffix launch. head_dim must be at most kCascadeMaxHeadDim. Asynchronous.
constexpr int64_t kCascadeMaxHeadDim = 256;
void cascade_attention(const void* q, const void* k_prefix, const void* v_prefix, const void* k_suffix,
                       const void* v_suffix, const int64_t* q_offsets, const int64_t* kv_offsets, float* out,
                       float* lse, const CascadeShape& shape, ElementType type, int64_t max_queries, void* stream);

/// Device memory owned by one object; freed on destruction (never throws from the destructor).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  float* floats() const { return static_cast<float*>(ptr_); }
  void copy_from_host(const void* src, std::size_t bytes, void* stream);
  void copy_to_host(void* dst, std::size_t bytes, void* stream) const;

 private:
  void* ptr_ = nullptr;
};

/// Blocks until all work queued on `stream` is done, throwing if any of it failed.
void synchronize(void* stream);

}  // namespace skyplex::cuda
