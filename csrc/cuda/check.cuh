// Turns a failed CUDA runtime call into std::runtime_error naming the call and the reason.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace skyplex::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
  }
}

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

}  // namespace skyplex::cuda
