// skyplex._C bindings of the fixed-point SGD witness and its checker (registered from cpu_ops.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "fixed_point_sgd_args.h"
#include "skyplex/fixed_point_sgd.h"

namespace py = pybind11;

namespace skyplex::bindings {

namespace {

const int64_t* ptr(const py::array& a) { return a ? static_cast<const int64_t*>(a.data()) : nullptr; }

py::dict fixed_point_sgd(const py::handle& x, const py::handle& y, const py::handle& w1, const py::object& w2,
                         const py::handle& table, int64_t lr_q, int frac_bits) {
  const auto in = check_sgd_inputs(x, y, w1, w2, table, lr_q, frac_bits);
  SgdTrace t;
  py::dict out = alloc_trace(in.shape, t);
  SgdStatus st;
  {
    py::gil_scoped_release release;
    st = cpu::fixed_point_sgd(ptr(in.x), ptr(in.y), ptr(in.w1), in.shape.hidden > 0 ? ptr(in.w2) : nullptr, ptr(in.table), in.shape, t);
  }
  if (!st.ok) raise_overflow(st, in.shape);
  return out;
}

std::string check_fixed_point_sgd(const py::handle& x, const py::handle& y, const py::handle& w1,
                                  const py::object& w2, const py::handle& table, int64_t lr_q, int frac_bits,
                                  const py::dict& trace) {
  const auto in = check_sgd_inputs(x, y, w1, w2, table, lr_q, frac_bits);
  SgdTrace t;
  py::list keep = bind_trace(trace, in.shape, t);
  py::gil_scoped_release release;
  return cpu::check_fixed_point_sgd(ptr(in.x), ptr(in.y), ptr(in.w1), in.shape.hidden > 0 ? ptr(in.w2) : nullptr, ptr(in.table), in.shape, t);
}

}  // namespace

void register_fixed_point_sgd_cpu(py::module_& m) {
  m.def("fixed_point_sgd", &fixed_point_sgd, py::arg("x"), py::arg("y"), py::arg("w1"), py::arg("w2"),
        py::arg("table"), py::kw_only(), py::arg("lr_q"), py::arg("frac_bits"),
        "Exact fixed-point SGD trace (int64 in and out); see skyplex.ops.fixed_point_sgd.");
  m.def("check_fixed_point_sgd", &check_fixed_point_sgd, py::arg("x"), py::arg("y"), py::arg("w1"), py::arg("w2"),
        py::arg("table"), py::kw_only(), py::arg("lr_q"), py::arg("frac_bits"), py::arg("trace"),
        "Check every constraint of a trace; returns '' or the first violation.");
}

}  // namespace skyplex::bindings
