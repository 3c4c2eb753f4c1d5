// skyplex._C: Python bindings of the C++ kernels. Arrays in, arrays out; the GIL is released
// while a kernel runs so other Python threads keep going.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "cascade_args.h"
#include "skyplex/cascade_attention.h"
#include "skyplex/merge_attn_states.h"

namespace py = pybind11;

// fixed-point SGD witness (csrc/bindings/fixed_point_sgd_cpu.cpp)
namespace skyplex::bindings {
void register_fixed_point_sgd_cpu(pybind11::module_& m);
}  // namespace skyplex::bindings
using skyplex::bindings::check_merge_inputs;
using skyplex::bindings::data;

namespace {

py::tuple merge_attn_states(const py::handle& oa, const py::handle& la, const py::handle& ob,
                            const py::handle& lb) {
  const auto in = check_merge_inputs(oa, la, ob, lb);
  const auto& s = in.shape;
  py::array_t<float> o({s.tokens, s.heads, s.head_dim});
  py::array_t<float> lse({s.tokens, s.heads});
  float* o_ptr = o.mutable_data();
  float* lse_ptr = lse.mutable_data();
  {
    py::gil_scoped_release release;
    skyplex::cpu::merge_attn_states(data(in.oa), data(in.la), data(in.ob), data(in.lb), o_ptr, lse_ptr, s);
  }
  return py::make_tuple(o, lse);
}

py::tuple cascade_attention(const py::handle& q, const py::handle& k_prefix, const py::handle& v_prefix,
                            const py::handle& k_suffix, const py::handle& v_suffix, const py::handle& q_offsets,
                            const py::handle& kv_offsets, bool causal, const py::object& scale) {
  const auto in = skyplex::bindings::check_cascade_inputs(
      q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, causal, scale,
      {{py::dtype::of<float>(), "float32", skyplex::ElementType::kFloat32}});
  const auto& s = in.shape;
  py::array_t<float> out({s.total_q, s.q_heads, s.head_dim});
  py::array_t<float> lse({s.total_q, s.q_heads});
  float* out_ptr = out.mutable_data();
  float* lse_ptr = lse.mutable_data();
  const auto* qo = static_cast<const int64_t*>(in.q_offsets.data());
  const auto* ko = static_cast<const int64_t*>(in.kv_offsets.data());
  {
    py::gil_scoped_release release;
    skyplex::cpu::cascade_attention(data(in.q), data(in.k_prefix), data(in.v_prefix), data(in.k_suffix),
                                    data(in.v_suffix), qo, ko, out_ptr, lse_ptr, s);
  }
  return py::make_tuple(out, lse);
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  skyplex::bindings::register_fixed_point_sgd_cpu(m);  // fixed-point SGD witness
  m.doc() = "skyplex C++ kernels (CPU). Use them through skyplex.ops, which also picks CUDA when it can.";
  m.def("merge_attn_states", &merge_attn_states, py::arg("oa"), py::arg("la"), py::arg("ob"), py::arg("lb"),
        R"(Merge two partial attention results through their log-sum-exps.

oa, ob: float32 [tokens, heads, head_dim]; la, lb: float32 [tokens, heads]; all C-contiguous.
Returns (o, lse) with o = sigmoid(la-lb)*oa + sigmoid(lb-la)*ob and lse = logaddexp(la, lb).
A side with lse -inf (no keys) contributes nothing; both -inf gives zeros and -inf.)");
  m.def("cascade_attention", &cascade_attention, py::arg("q"), py::arg("k_prefix"), py::arg("v_prefix"),
        py::arg("k_suffix"), py::arg("v_suffix"), py::arg("q_offsets"), py::arg("kv_offsets"), py::kw_only(),
        py::arg("causal") = true, py::arg("scale") = py::none(),
        R"(Prefix-sharing (cascade) attention of a group of sequences; float32 in and out.

q [tokens, q_heads, head_dim] packed by q_offsets; k_prefix, v_prefix [prefix_len, kv_heads, head_dim]
shared by all sequences; k_suffix, v_suffix [suffix_tokens, kv_heads, head_dim] packed by kv_offsets;
offsets int64 [num_seqs + 1]. Returns (out [tokens, q_heads, head_dim], lse [tokens, q_heads]).
See skyplex.ops.cascade_attention for the full contract.)");
  m.def("has_openmp", &has_openmp, "Whether the kernels were built with OpenMP (multi-threaded).");
}
