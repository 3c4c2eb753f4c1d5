// Device discovery and the little memory management the host-array entry points need.
#include "check.cuh"
#include "skyplex/cuda_ops.h"

namespace skyplex::cuda {

int device_count() {
  int n = 0;
  // Without a driver or a device this returns an error; for callers that only means "no GPU here".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return 0;
  }
  return n;
}

std::string device_status() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaSuccess && n > 0) return "";
  cudaGetLastError();
  if (err == cudaSuccess) return "no CUDA device found";
  if (err == cudaErrorInsufficientDriver) {
    // also what the static runtime reports when libcuda.so is missing altogether
    return "no NVIDIA driver found, or one older than the CUDA runtime " + std::to_string(CUDART_VERSION / 1000) +
           "." + std::to_string(CUDART_VERSION % 1000 / 10) + " this module was built with";
  }
  return cudaGetErrorString(err);
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) {
  // cudaMalloc(0) may return nullptr or a valid pointer; keep one byte so get() is never ambiguous.
  check(cudaMalloc(&ptr_, bytes ? bytes : 1), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() { cudaFree(ptr_); }

void DeviceBuffer::copy_from_host(const void* src, std::size_t bytes, void* stream) {
  if (bytes) check(cudaMemcpyAsync(ptr_, src, bytes, cudaMemcpyHostToDevice, as_stream(stream)), "cudaMemcpyAsync to device");
}

void DeviceBuffer::copy_to_host(void* dst, std::size_t bytes, void* stream) const {
  if (bytes) check(cudaMemcpyAsync(dst, ptr_, bytes, cudaMemcpyDeviceToHost, as_stream(stream)), "cudaMemcpyAsync to host");
}

void synchronize(void* stream) { check(cudaStreamSynchronize(as_stream(stream)), "cudaStreamSynchronize"); }

}  // namespace skyplex::cuda
