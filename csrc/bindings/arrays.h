// NumPy argument checks shared by the CPU and CUDA bindings, so both reject bad input with the
// same ValueError text: which argument, what was expected, what was given.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "skyplex/merge_attn_states.h"

namespace skyplex::bindings {

namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    s += (i ? ", " : "") + std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

/// Checks that `obj` is a C-contiguous ndarray of `dtype` (called `dtype_name` in messages) and of
/// shape `expected` (-1: any size, bound to the first array's size by the caller), and returns it.
/// `dims` names the axes for messages.
inline py::array checked_array(const py::handle& obj, const char* arg, const py::dtype& dtype,
                               const std::string& dtype_name, const std::vector<int64_t>& expected,
                               const char* dims) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::value_error(std::string(arg) + " must be a numpy " + dtype_name + " array of shape " + dims +
                          ", got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  const std::string want = std::string(arg) + " must be a C-contiguous " + dtype_name + " array of shape " + dims;
  if (!a.dtype().is(dtype)) {
    throw py::value_error(want + ", got dtype " + std::string(py::str(a.dtype())) +
                          " (convert with np.ascontiguousarray(x, dtype=np." + dtype_name + "))");
  }
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) {
    ok = expected[i] < 0 || a.shape(i) == expected[i];
  }
  if (!ok) {
    std::string exp = "(";
    for (size_t i = 0; i < expected.size(); ++i) {
      exp += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
    }
    throw py::value_error(want + " = " + exp + (expected.size() == 1 ? ",)" : ")") + ", got shape " +
                          shape_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(want + ", got a non-contiguous view (use np.ascontiguousarray)");
  }
  return a;
}

/// checked_array for float32 arrays.
inline py::array checked_float32(const py::handle& obj, const char* arg, const std::vector<int64_t>& expected,
                                 const char* dims) {
  return checked_array(obj, arg, py::dtype::of<float>(), "float32", expected, dims);
}

/// The four merge inputs, checked against each other; shape is taken from `oa`.
struct MergeInputs {
  py::array oa, la, ob, lb;
  MergeShape shape;
};

inline MergeInputs check_merge_inputs(const py::handle& oa, const py::handle& la, const py::handle& ob,
                                      const py::handle& lb) {
  constexpr const char* kOut = "[tokens, heads, head_dim]";
  constexpr const char* kLse = "[tokens, heads]";
  MergeInputs in;
  in.oa = checked_float32(oa, "oa", {-1, -1, -1}, kOut);
  const int64_t t = in.oa.shape(0), h = in.oa.shape(1), d = in.oa.shape(2);
  in.ob = checked_float32(ob, "ob", {t, h, d}, kOut);
  in.la = checked_float32(la, "la", {t, h}, kLse);
  in.lb = checked_float32(lb, "lb", {t, h}, kLse);
  in.shape = MergeShape{t, h, d};
  return in;
}

inline const float* data(const py::array& a) { return static_cast<const float*>(a.data()); }

}  // namespace skyplex::bindings
