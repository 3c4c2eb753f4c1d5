// skyplex._C: Python bindings of the C++ kernels. Arrays in, arrays out; the GIL is released
// while a kernel runs so other Python threads keep going.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "skyplex/merge_attn_states.h"

namespace py = pybind11;
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

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "skyplex C++ kernels (CPU). Use them through skyplex.ops, which also picks CUDA when it can.";
  m.def("merge_attn_states", &merge_attn_states, py::arg("oa"), py::arg("la"), py::arg("ob"), py::arg("lb"),
        R"(Merge two partial attention results through their log-sum-exps.

oa, ob: float32 [tokens, heads, head_dim]; la, lb: float32 [tokens, heads]; all C-contiguous.
Returns (o, lse) with o = sigmoid(la-lb)*oa + sigmoid(lb-la)*ob and lse = logaddexp(la, lb).
A side with lse -inf (no keys) contributes nothing; both -inf gives zeros and -inf.)");
  m.def("has_openmp", &has_openmp, "Whether the kernels were built with OpenMP (multi-threaded).");
}
