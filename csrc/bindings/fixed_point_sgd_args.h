// Argument checks and trace allocation for the fixed-point SGD witness, shared by the CPU and CUDA
// bindings so both reject bad input with the same ValueError text.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "arrays.h"
#include "skyplex/fixed_point_sgd.h"

namespace skyplex::bindings {

namespace py = pybind11;

struct SgdInputs {
  py::array x, y, w1, w2, table;
  SgdShape shape;
};

inline py::array checked_int64(const py::handle& obj, const char* arg, const std::vector<int64_t>& expected,
                               const char* dims) {
  return checked_array(obj, arg, py::dtype::of<int64_t>(), "int64", expected, dims);
}

inline void check_bounded(const py::array& a, const char* arg) {
  const auto* p = static_cast<const int64_t*>(a.data());
  for (py::ssize_t i = 0; i < a.size(); ++i) {
    if (p[i] <= -kSgdValueBound || p[i] >= kSgdValueBound) {
      throw py::value_error(std::string(arg) + "[flat " + std::to_string(i) + "] = " + std::to_string(p[i]) +
                            " is outside |v| < 2^52, the witness kernel's range; rescale the input");
    }
  }
}

inline SgdInputs check_sgd_inputs(const py::handle& x, const py::handle& y, const py::handle& w1,
                                  const py::handle& w2, const py::handle& table, int64_t lr_q, int frac_bits) {
  SgdInputs in;
  in.x = checked_int64(x, "x", {-1, -1, -1}, "[steps, batch, in_dim]");
  auto& s = in.shape;
  s.steps = in.x.shape(0);
  s.batch = in.x.shape(1);
  s.in_dim = in.x.shape(2);
  in.y = checked_int64(y, "y", {s.steps, s.batch, -1}, "[steps, batch, classes]");
  s.classes = in.y.shape(2);
  in.w1 = checked_int64(w1, "w1", {s.in_dim, -1}, "[in_dim, hidden or classes]");
  if (w2.is_none()) {
    s.hidden = 0;
    if (in.w1.shape(1) != s.classes)
      throw py::value_error("w1 must have shape [in_dim, classes] = (" + std::to_string(s.in_dim) + ", " +
                            std::to_string(s.classes) + ") for softmax regression (w2=None), got " + shape_str(in.w1));
  } else {
    s.hidden = in.w1.shape(1);
    in.w2 = checked_int64(w2, "w2", {s.hidden, s.classes}, "[hidden, classes]");
  }
  in.table = checked_int64(table, "table", {-1}, "[table_len]");
  s.table_len = in.table.shape(0);
  s.frac_bits = frac_bits;
  s.lr_q = lr_q;
  if (frac_bits < 1 || frac_bits > 30) throw py::value_error("frac_bits must be in [1, 30], got " + std::to_string(frac_bits));
  if (s.table_len < 1) throw py::value_error("table must not be empty (build it with skyplex_zkaudit.fixedpoint.exp_table)");
  if (lr_q < 0 || lr_q >= kSgdValueBound) throw py::value_error("lr_q must be in [0, 2^52), got " + std::to_string(lr_q));
  for (int64_t dim : {s.batch, s.in_dim, s.classes, s.width()}) {
    if (dim < 1 || dim > kSgdMaxDim)
      throw py::value_error("batch, in_dim, hidden and classes must be in [1, 2^20]; got a dimension of " + std::to_string(dim));
  }
  check_bounded(in.x, "x");
  check_bounded(in.y, "y");
  check_bounded(in.w1, "w1");
  if (s.hidden > 0) check_bounded(in.w2, "w2");
  return in;
}

// Allocates the trace arrays ([steps, ...] int64) and points `t` at them.
inline py::dict alloc_trace(const SgdShape& s, SgdTrace& t) {
  py::dict out;
  const bool mlp = s.hidden > 0;
  for (int f = 0; f < kSgdFieldCount; ++f) {
    if (!sgd_field_used(f, s)) continue;
    const int64_t n = sgd_field_size(f, s);
    py::array_t<int64_t> a({s.steps, n});
    t.f[f] = a.mutable_data();
    out[sgd_field_name(f, mlp)] = a;
  }
  return out;
}

// Points `t` at the caller's trace arrays (dict of [steps, n] int64), checking every shape.
inline py::list bind_trace(const py::dict& trace, const SgdShape& s, SgdTrace& t) {
  py::list keep;
  const bool mlp = s.hidden > 0;
  for (int f = 0; f < kSgdFieldCount; ++f) {
    if (!sgd_field_used(f, s)) continue;
    const char* name = sgd_field_name(f, mlp);
    if (!trace.contains(name)) throw py::value_error(std::string("trace is missing field '") + name + "'");
    py::array a = checked_int64(trace[name], name, {s.steps, sgd_field_size(f, s)}, "[steps, n]");
    t.f[f] = static_cast<int64_t*>(a.mutable_data());
    keep.append(a);
  }
  return keep;
}

inline void raise_overflow(const SgdStatus& st, const SgdShape& s) {
  PyErr_SetString(PyExc_OverflowError,
                  ("fixed-point SGD: step " + std::to_string(st.step) + ", field '" + sgd_field_name(st.field, s.hidden > 0) +
                   "' left |v| < 2^52; use smaller inputs, weights or learning rate")
                      .c_str());
  throw py::error_already_set();
}

}  // namespace skyplex::bindings
