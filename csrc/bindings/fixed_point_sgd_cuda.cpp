// skyplex._C_cuda binding of the fixed-point SGD witness (registered from cuda_ops.cpp). NumPy in
// and out; the kernel copies to the device and back. Raises RuntimeError when no device is usable.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "fixed_point_sgd_args.h"
#include "skyplex/cuda_ops.h"
#include "skyplex/fixed_point_sgd.h"

namespace py = pybind11;

namespace skyplex::bindings {

namespace {

const int64_t* ptr(const py::array& a) { return static_cast<const int64_t*>(a.data()); }

py::dict fixed_point_sgd(const py::handle& x, const py::handle& y, const py::handle& w1, const py::object& w2,
                         const py::handle& table, int64_t lr_q, int frac_bits) {
  const auto in = check_sgd_inputs(x, y, w1, w2, table, lr_q, frac_bits);
  if (cuda::device_count() == 0) {
    throw std::runtime_error("skyplex._C_cuda: no usable CUDA device (" + cuda::device_status() +
                             "); use the CPU backend of skyplex.ops.fixed_point_sgd instead");
  }
  SgdTrace t;
  py::dict out = alloc_trace(in.shape, t);
  SgdStatus st;
  {
    py::gil_scoped_release release;
    st = cuda::fixed_point_sgd(ptr(in.x), ptr(in.y), ptr(in.w1), in.shape.hidden > 0 ? ptr(in.w2) : nullptr,
                               ptr(in.table), in.shape, t);
  }
  if (!st.ok) raise_overflow(st, in.shape);
  return out;
}

}  // namespace

void register_fixed_point_sgd_cuda(py::module_& m) {
  m.def("fixed_point_sgd", &fixed_point_sgd, py::arg("x"), py::arg("y"), py::arg("w1"), py::arg("w2"),
        py::arg("table"), py::kw_only(), py::arg("lr_q"), py::arg("frac_bits"),
        "Exact fixed-point SGD trace on the GPU (int64 NumPy in and out); see skyplex.ops.fixed_point_sgd.");
}

}  // namespace skyplex::bindings
