// skyplex._C_cuda: Python bindings of the CUDA kernels. Two ways in:
//   merge_attn_states(oa, la, ob, lb)      NumPy arrays; copies to the device and back (convenience).
//   merge_attn_states_ptr(..., stream=0)   raw device pointers as ints (e.g. torch's data_ptr()), no
//                                          copies, asynchronous on `stream` (e.g. torch's cuda_stream).
// Importing this module never touches the GPU; device_count() is 0 on machines without one.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "arrays.h"
#include "skyplex/cuda_ops.h"
#include "skyplex/merge_attn_states.h"

namespace py = pybind11;
namespace cuda = skyplex::cuda;
using skyplex::MergeShape;
using skyplex::bindings::check_merge_inputs;
using skyplex::bindings::data;

namespace {

void require_device() {
  if (cuda::device_count() == 0) {
    throw std::runtime_error("skyplex._C_cuda: no usable CUDA device (" + cuda::device_status() +
                             "); use the CPU ops in skyplex.ops instead");
  }
}

py::tuple merge_attn_states(const py::handle& oa, const py::handle& la, const py::handle& ob,
                            const py::handle& lb) {
  const auto in = check_merge_inputs(oa, la, ob, lb);
  require_device();
  const MergeShape s = in.shape;
  py::array_t<float> o({s.tokens, s.heads, s.head_dim});
  py::array_t<float> lse({s.tokens, s.heads});
  float* o_ptr = o.mutable_data();
  float* lse_ptr = lse.mutable_data();
  const std::size_t out_bytes = sizeof(float) * s.rows() * s.head_dim;
  const std::size_t lse_bytes = sizeof(float) * s.rows();
  {
    py::gil_scoped_release release;
    void* stream = nullptr;  // the default stream; the copies below make this call synchronous
    cuda::DeviceBuffer d_oa(out_bytes), d_ob(out_bytes), d_o(out_bytes);
    cuda::DeviceBuffer d_la(lse_bytes), d_lb(lse_bytes), d_lse(lse_bytes);
    d_oa.copy_from_host(data(in.oa), out_bytes, stream);
    d_ob.copy_from_host(data(in.ob), out_bytes, stream);
    d_la.copy_from_host(data(in.la), lse_bytes, stream);
    d_lb.copy_from_host(data(in.lb), lse_bytes, stream);
    cuda::merge_attn_states(d_oa.floats(), d_la.floats(), d_ob.floats(), d_lb.floats(), d_o.floats(),
                            d_lse.floats(), s, stream);
    d_o.copy_to_host(o_ptr, out_bytes, stream);
    d_lse.copy_to_host(lse_ptr, lse_bytes, stream);
    cuda::synchronize(stream);
  }
  return py::make_tuple(o, lse);
}

const float* device_ptr(std::uintptr_t p, const char* arg) {
  if (p == 0) throw py::value_error(std::string(arg) + " is a null pointer; pass a device address such as tensor.data_ptr()");
  return reinterpret_cast<const float*>(p);
}

void merge_attn_states_ptr(std::uintptr_t oa, std::uintptr_t la, std::uintptr_t ob, std::uintptr_t lb,
                           std::uintptr_t o, std::uintptr_t lse, int64_t tokens, int64_t heads, int64_t head_dim,
                           std::uintptr_t stream) {
  if (tokens < 0 || heads < 0 || head_dim < 0) {
    throw py::value_error("tokens, heads and head_dim must be >= 0, got " + std::to_string(tokens) + ", " +
                          std::to_string(heads) + ", " + std::to_string(head_dim));
  }
  const MergeShape s{tokens, heads, head_dim};
  const float* oa_p = device_ptr(oa, "oa");
  const float* la_p = device_ptr(la, "la");
  const float* ob_p = device_ptr(ob, "ob");
  const float* lb_p = device_ptr(lb, "lb");
  float* o_p = const_cast<float*>(device_ptr(o, "o"));
  float* lse_p = const_cast<float*>(device_ptr(lse, "lse"));
  py::gil_scoped_release release;
  cuda::merge_attn_states(oa_p, la_p, ob_p, lb_p, o_p, lse_p, s, reinterpret_cast<void*>(stream));
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "skyplex CUDA kernels. Use them through skyplex.ops, which falls back to the CPU without a device.";
  m.def("device_count", &cuda::device_count, "Usable CUDA devices; 0 when there is no GPU or driver (never raises).");
  m.def("device_status", &cuda::device_status, "Why device_count() is 0; empty when a device is usable.");
  m.def("merge_attn_states", &merge_attn_states, py::arg("oa"), py::arg("la"), py::arg("ob"), py::arg("lb"),
        R"(Merge two partial attention results on the GPU, NumPy in and out (copies both ways).

Same contract as skyplex._C.merge_attn_states; raises RuntimeError when no device is usable.)");
  m.def("merge_attn_states_ptr", &merge_attn_states_ptr, py::arg("oa"), py::arg("la"), py::arg("ob"), py::arg("lb"),
        py::arg("o"), py::arg("lse"), py::arg("tokens"), py::arg("heads"), py::arg("head_dim"), py::kw_only(),
        py::arg("stream") = 0,
        R"(Merge on the GPU in place, given device addresses (ints, e.g. torch's tensor.data_ptr()).

All six buffers are contiguous float32 device memory: oa, ob, o [tokens, heads, head_dim] and
la, lb, lse [tokens, heads]; o and lse are written. Runs asynchronously on `stream` (a cudaStream_t as
an int, e.g. torch.cuda.current_stream().cuda_stream; 0 is the default stream). Shapes and dtypes
cannot be checked from raw pointers: the caller guarantees them.)");
}
