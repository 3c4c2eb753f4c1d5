// skyplex._C_cuda: Python bindings of the CUDA kernels. Two ways in:
//   merge_attn_states(oa, la, ob, lb)      NumPy arrays; copies to the device and back (convenience).
//   merge_attn_states_ptr(..., stream=0)   raw device pointers as ints (e.g. torch's data_ptr()), no
//                                          copies, asynchronous on `stream` (e.g. torch's cuda_stream).
// Importing this module never touches the GPU; device_count() is 0 on machines without one.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "arrays.h"
#include "cascade_args.h"
#include "skyplex/cascade_attention.h"
#include "skyplex/cuda_ops.h"
#include "skyplex/merge_attn_states.h"

namespace py = pybind11;

// fixed-point SGD witness (csrc/bindings/fixed_point_sgd_cuda.cpp)
namespace skyplex::bindings {
void register_fixed_point_sgd_cuda(pybind11::module_& m);
}  // namespace skyplex::bindings
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

void check_cuda_head_dim(int64_t head_dim) {
  if (head_dim < 1 || head_dim > cuda::kCascadeMaxHeadDim) {
    throw py::value_error("cascade_attention on CUDA supports head_dim 1.." + std::to_string(cuda::kCascadeMaxHeadDim) +
                          ", got " + std::to_string(head_dim) + "; use backend='cpu'");
  }
}

py::tuple cascade_attention(const py::handle& q, const py::handle& k_prefix, const py::handle& v_prefix,
                            const py::handle& k_suffix, const py::handle& v_suffix, const py::handle& q_offsets,
                            const py::handle& kv_offsets, bool causal, const py::object& scale) {
  // NumPy has no bfloat16; bfloat16 tensors come in through cascade_attention_ptr
  const auto in = skyplex::bindings::check_cascade_inputs(
      q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, causal, scale,
      {{py::dtype::of<float>(), "float32", skyplex::ElementType::kFloat32},
       {py::dtype("float16"), "float16", skyplex::ElementType::kFloat16}});
  check_cuda_head_dim(in.shape.head_dim);
  require_device();
  const auto& s = in.shape;
  py::array_t<float> out({s.total_q, s.q_heads, s.head_dim});
  py::array_t<float> lse({s.total_q, s.q_heads});
  float* out_ptr = out.mutable_data();
  float* lse_ptr = lse.mutable_data();
  {
    py::gil_scoped_release release;
    void* stream = nullptr;  // the default stream; the copies below make this call synchronous
    auto to_device = [stream](const py::array& a) {
      auto buf = std::make_unique<cuda::DeviceBuffer>(a.nbytes());
      buf->copy_from_host(a.data(), a.nbytes(), stream);
      return buf;
    };
    const auto d_q = to_device(in.q), d_kp = to_device(in.k_prefix), d_vp = to_device(in.v_prefix);
    const auto d_ks = to_device(in.k_suffix), d_vs = to_device(in.v_suffix);
    const auto d_qo = to_device(in.q_offsets), d_ko = to_device(in.kv_offsets);
    const std::size_t out_bytes = sizeof(float) * s.total_q * s.q_heads * s.head_dim;
    const std::size_t lse_bytes = sizeof(float) * s.total_q * s.q_heads;
    cuda::DeviceBuffer d_out(out_bytes), d_lse(lse_bytes);
    cuda::cascade_attention(d_q->get(), d_kp->get(), d_vp->get(), d_ks->get(), d_vs->get(),
                            static_cast<const int64_t*>(d_qo->get()), static_cast<const int64_t*>(d_ko->get()),
                            d_out.floats(), d_lse.floats(), s, in.type, in.max_queries, stream);
    d_out.copy_to_host(out_ptr, out_bytes, stream);
    d_lse.copy_to_host(lse_ptr, lse_bytes, stream);
    cuda::synchronize(stream);
  }
  return py::make_tuple(out, lse);
}

/// A device address that may be 0 only when `empty` (torch gives empty tensors a null data_ptr).
const void* maybe_empty_ptr(std::uintptr_t p, const char* arg, bool empty) {
  if (p == 0 && !empty) {
    throw py::value_error(std::string(arg) + " is a null pointer; pass a device address such as tensor.data_ptr()");
  }
  return reinterpret_cast<const void*>(p);
}

void cascade_attention_ptr(std::uintptr_t q, std::uintptr_t k_prefix, std::uintptr_t v_prefix, std::uintptr_t k_suffix,
                           std::uintptr_t v_suffix, std::uintptr_t q_offsets, std::uintptr_t kv_offsets,
                           std::uintptr_t out, std::uintptr_t lse, int64_t num_seqs, int64_t total_q,
                           int64_t prefix_len, int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                           int64_t max_queries_per_seq, const std::string& dtype, bool causal, const py::object& scale,
                           std::uintptr_t stream) {
  if (num_seqs < 0 || total_q < 0 || prefix_len < 0 || q_heads < 0 || max_queries_per_seq < 0) {
    throw py::value_error("num_seqs, total_q, prefix_len, q_heads and max_queries_per_seq must be >= 0");
  }
  if (kv_heads < 1 || q_heads % kv_heads != 0) {
    throw py::value_error("q_heads = " + std::to_string(q_heads) + " must be a multiple of kv_heads = " +
                          std::to_string(kv_heads) + " (kv_heads >= 1)");
  }
  check_cuda_head_dim(head_dim);
  skyplex::ElementType type;
  if (dtype == "float32") {
    type = skyplex::ElementType::kFloat32;
  } else if (dtype == "float16") {
    type = skyplex::ElementType::kFloat16;
  } else if (dtype == "bfloat16") {
    type = skyplex::ElementType::kBFloat16;
  } else {
    throw py::value_error("dtype must be 'float32', 'float16' or 'bfloat16' (of q, k and v), got '" + dtype + "'");
  }
  double sc = 1.0 / std::sqrt(static_cast<double>(head_dim));
  if (!scale.is_none()) sc = py::cast<double>(scale);
  if (!std::isfinite(sc)) throw py::value_error("scale must be a finite number, got " + std::to_string(sc));
  const bool no_q = total_q == 0 || q_heads == 0;
  const void* q_p = maybe_empty_ptr(q, "q", no_q);
  const void* kp_p = maybe_empty_ptr(k_prefix, "k_prefix", prefix_len == 0);
  const void* vp_p = maybe_empty_ptr(v_prefix, "v_prefix", prefix_len == 0);
  // the suffix length is only known on the device: 0 is accepted, for a group whose suffixes are all empty
  const void* ks_p = reinterpret_cast<const void*>(k_suffix);
  const void* vs_p = reinterpret_cast<const void*>(v_suffix);
  const auto* qo_p = static_cast<const int64_t*>(maybe_empty_ptr(q_offsets, "q_offsets", false));
  const auto* ko_p = static_cast<const int64_t*>(maybe_empty_ptr(kv_offsets, "kv_offsets", false));
  auto* out_p = static_cast<float*>(const_cast<void*>(maybe_empty_ptr(out, "out", no_q)));
  auto* lse_p = static_cast<float*>(const_cast<void*>(maybe_empty_ptr(lse, "lse", no_q)));
  const skyplex::CascadeShape s{num_seqs, total_q, prefix_len, q_heads, kv_heads, head_dim, causal,
                                static_cast<float>(sc)};
  py::gil_scoped_release release;
  cuda::cascade_attention(q_p, kp_p, vp_p, ks_p, vs_p, qo_p, ko_p, out_p, lse_p, s, type, max_queries_per_seq,
                          reinterpret_cast<void*>(stream));
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  skyplex::bindings::register_fixed_point_sgd_cuda(m);  // fixed-point SGD witness
  m.doc() = "skyplex CUDA kernels. Use them through skyplex.ops, which falls back to the CPU without a device.";
  m.def("device_count", &cuda::device_count, "Usable CUDA devices; 0 when there is no GPU or driver (never raises).");
  m.def("device_status", &cuda::device_status, "Why device_count() is 0; empty when a device is usable.");
  m.def("merge_attn_states", &merge_attn_states, py::arg("oa"), py::arg("la"), py::arg("ob"), py::arg("lb"),
        R"(Merge two partial attention results on the GPU, NumPy in and out (copies both ways).

Same contract as skyplex._C.merge_attn_states; raises RuntimeError when no device is usable.)");
  m.def("cascade_attention", &cascade_attention, py::arg("q"), py::arg("k_prefix"), py::arg("v_prefix"),
        py::arg("k_suffix"), py::arg("v_suffix"), py::arg("q_offsets"), py::arg("kv_offsets"), py::kw_only(),
        py::arg("causal") = true, py::arg("scale") = py::none(),
        R"(Cascade attention on the GPU, NumPy in and out (copies both ways); q, k, v float32 or float16.

Same contract as skyplex._C.cascade_attention (out and lse are float32); raises RuntimeError when no
device is usable. bfloat16 inputs go through cascade_attention_ptr.)");
  m.def("cascade_attention_ptr", &cascade_attention_ptr, py::arg("q"), py::arg("k_prefix"), py::arg("v_prefix"),
        py::arg("k_suffix"), py::arg("v_suffix"), py::arg("q_offsets"), py::arg("kv_offsets"), py::arg("out"),
        py::arg("lse"), py::kw_only(), py::arg("num_seqs"), py::arg("total_q"), py::arg("prefix_len"),
        py::arg("q_heads"), py::arg("kv_heads"), py::arg("head_dim"), py::arg("max_queries_per_seq"),
        py::arg("dtype") = "float32", py::arg("causal") = true, py::arg("scale") = py::none(), py::arg("stream") = 0,
        R"(Cascade attention on the GPU given device addresses (ints, e.g. torch's tensor.data_ptr()).

Layout of skyplex.ops.cascade_attention: q [total_q, q_heads, head_dim], k/v_prefix
[prefix_len, kv_heads, head_dim], k/v_suffix [total_suffix, kv_heads, head_dim], all of `dtype`
('float32', 'float16' or 'bfloat16'); q_offsets, kv_offsets int64 [num_seqs + 1]; out float32
[total_q, q_heads, head_dim] and lse float32 [total_q, q_heads] are written. max_queries_per_seq is
the largest q_offsets[i+1] - q_offsets[i]. Asynchronous on `stream`; nothing can be checked from raw
addresses, so the caller guarantees shapes, dtypes and offsets.)");
  m.def("merge_attn_states_ptr", &merge_attn_states_ptr, py::arg("oa"), py::arg("la"), py::arg("ob"), py::arg("lb"),
        py::arg("o"), py::arg("lse"), py::arg("tokens"), py::arg("heads"), py::arg("head_dim"), py::kw_only(),
        py::arg("stream") = 0,
        R"(Merge on the GPU in place, given device addresses (ints, e.g. torch's tensor.data_ptr()).

All six buffers are contiguous float32 device memory: oa, ob, o [tokens, heads, head_dim] and
la, lb, lse [tokens, heads]; o and lse are written. Runs asynchronously on `stream` (a cudaStream_t as
an int, e.g. torch.cuda.current_stream().cuda_stream; 0 is the default stream). Shapes and dtypes
cannot be checked from raw pointers: the caller guarantees them.)");
}
