// CUDA fixed-point SGD witness: the same element arithmetic as the CPU kernel (shared inline
// functions in fixed_point_sgd.h), so results are bit-identical. One thread per output element;
// steps run in order on one stream. Overflow is reported through a device flag holding the first
// field that left the range.
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "check.cuh"
#include "skyplex/fixed_point_sgd.h"

namespace skyplex::cuda {
namespace {

constexpr int kThreads = 256;

int blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

__global__ void matmul_rescale_kernel(const int64_t* a, int64_t as0, int64_t as1, const int64_t* b, int64_t bs0,
                                      int64_t bs1, int64_t n, int64_t k, int64_t m, int64_t sf, int64_t* q,
                                      int64_t* r, int* bad, int field) {
  const int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (idx >= n * m) return;
  const int64_t i = idx / m, j = idx % m;
  int64_t rem = 0;
  const i128 v = sgd_rdiv(sgd_dot(a, as0, as1, b, bs0, bs1, k, i, j), sf, &rem);
  if (!sgd_in_range(v)) atomicCAS(bad, -1, field);
  q[idx] = static_cast<int64_t>(v);
  r[idx] = rem;
}

__global__ void relu_kernel(const int64_t* a, int64_t* h, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) h[i] = a[i] > 0 ? a[i] : 0;
}

__global__ void softmax_kernel(const int64_t* z, int64_t b, int64_t c, int64_t sf, const int64_t* table,
                               int64_t table_len, int64_t* zmax, int64_t* e, int64_t* esum, int64_t* p,
                               int64_t* p_rem) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= b) return;
  const int64_t* zr = z + i * c;
  int64_t m = zr[0];
  for (int64_t j = 1; j < c; ++j) m = zr[j] > m ? zr[j] : m;
  int64_t s = 0;
  for (int64_t j = 0; j < c; ++j) {
    const int64_t kk = m - zr[j];
    e[i * c + j] = kk < table_len ? table[kk] : 0;
    s += e[i * c + j];
  }
  zmax[i] = m;
  esum[i] = s;
  for (int64_t j = 0; j < c; ++j) p[i * c + j] = static_cast<int64_t>(sgd_rdiv(i128(e[i * c + j]) * sf, s, &p_rem[i * c + j]));
}

__global__ void diff_kernel(const int64_t* p, const int64_t* y, int64_t* gz, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) gz[i] = p[i] - y[i];
}

__global__ void relu_mask_kernel(const int64_t* dh, const int64_t* a, int64_t* da, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) da[i] = a[i] > 0 ? dh[i] : 0;
}

__global__ void update_kernel(const int64_t* w, const int64_t* g, int64_t n, int64_t lr_q, int64_t sf, int64_t* w_new,
                              int64_t* w_rem, int* bad, int field) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const i128 v = sgd_rdiv(i128(w[i]) * sf - i128(g[i]) * lr_q, sf, &w_rem[i]);
  if (!sgd_in_range(v)) atomicCAS(bad, -1, field);
  w_new[i] = static_cast<int64_t>(v);
}

// A device buffer freed on scope exit, so an exception never leaks GPU memory.
struct DeviceBuffer {
  int64_t* p = nullptr;
  explicit DeviceBuffer(int64_t n) { check(cudaMalloc(&p, sizeof(int64_t) * (n > 0 ? n : 1)), "cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

SgdStatus fixed_point_sgd(const int64_t* x, const int64_t* y, const int64_t* w1, const int64_t* w2,
                          const int64_t* table, const SgdShape& s, const SgdTrace& t) {
  const int64_t b = s.batch, d = s.in_dim, h = s.hidden, c = s.classes, k = s.width();
  const int64_t sf = int64_t(1) << s.frac_bits;
  auto up = [](const int64_t* src, int64_t n) {
    auto buf = std::make_unique<DeviceBuffer>(n);
    check(cudaMemcpy(buf->p, src, sizeof(int64_t) * n, cudaMemcpyHostToDevice), "cudaMemcpy to device");
    return buf;
  };
  const auto dx = up(x, s.steps * b * d), dy = up(y, s.steps * b * c), dw1 = up(w1, d * k);
  const auto dw2 = h > 0 ? up(w2, h * c) : std::make_unique<DeviceBuffer>(1);
  const auto dtable = up(table, s.table_len);
  std::vector<std::unique_ptr<DeviceBuffer>> field(kSgdFieldCount);
  for (int f = 0; f < kSgdFieldCount; ++f)
    if (sgd_field_used(f, s)) field[f] = std::make_unique<DeviceBuffer>(s.steps * sgd_field_size(f, s));
  DeviceBuffer gz(b * c), da(b * h), bad_buf(1);
  int* bad = reinterpret_cast<int*>(bad_buf.p);
  check(cudaMemset(bad, 0xff, sizeof(int)), "cudaMemset");  // -1: no overflow yet
  auto at = [&](int f, int64_t step) { return field[f]->p + step * sgd_field_size(f, s); };

  SgdStatus st;
  for (int64_t step = 0; step < s.steps && st.ok; ++step) {
    const int64_t* xs = dx->p + step * b * d;
    const int64_t* ys = dy->p + step * b * c;
    const int64_t* cw1 = step == 0 ? dw1->p : at(kW1New, step - 1);
    const int64_t* cw2 = h == 0 ? nullptr : (step == 0 ? dw2->p : at(kW2New, step - 1));
    const int64_t* zin = xs;
    int64_t zin_cols = d;
    const int64_t* zw = cw1;
    if (h > 0) {
      matmul_rescale_kernel<<<blocks(b * h), kThreads>>>(xs, d, 1, cw1, h, 1, b, d, h, sf, at(kA, step), at(kARem, step), bad, kA);
      relu_kernel<<<blocks(b * h), kThreads>>>(at(kA, step), at(kH, step), b * h);
      zin = at(kH, step);
      zin_cols = h;
      zw = cw2;
    }
    matmul_rescale_kernel<<<blocks(b * c), kThreads>>>(zin, zin_cols, 1, zw, c, 1, b, zin_cols, c, sf, at(kZ, step),
                                                       at(kZRem, step), bad, kZ);
    softmax_kernel<<<blocks(b), kThreads>>>(at(kZ, step), b, c, sf, dtable->p, s.table_len, at(kZMax, step), at(kE, step),
                                            at(kESum, step), at(kP, step), at(kPRem, step));
    diff_kernel<<<blocks(b * c), kThreads>>>(at(kP, step), ys, gz.p, b * c);
    if (h > 0) {
      matmul_rescale_kernel<<<blocks(h * c), kThreads>>>(zin, 1, h, gz.p, c, 1, h, b, c, sf, at(kG2, step), at(kG2Rem, step), bad, kG2);
      matmul_rescale_kernel<<<blocks(b * h), kThreads>>>(gz.p, c, 1, cw2, 1, c, b, c, h, sf, at(kDh, step), at(kDhRem, step), bad, kDh);
      relu_mask_kernel<<<blocks(b * h), kThreads>>>(at(kDh, step), at(kA, step), da.p, b * h);
      matmul_rescale_kernel<<<blocks(d * h), kThreads>>>(xs, 1, d, da.p, h, 1, d, b, h, sf, at(kG1, step), at(kG1Rem, step), bad, kG1);
      update_kernel<<<blocks(d * h), kThreads>>>(cw1, at(kG1, step), d * h, s.lr_q, sf, at(kW1New, step), at(kW1Rem, step), bad, kW1New);
      update_kernel<<<blocks(h * c), kThreads>>>(cw2, at(kG2, step), h * c, s.lr_q, sf, at(kW2New, step), at(kW2Rem, step), bad, kW2New);
    } else {
      matmul_rescale_kernel<<<blocks(d * c), kThreads>>>(xs, 1, d, gz.p, c, 1, d, b, c, sf, at(kG1, step), at(kG1Rem, step), bad, kG1);
      update_kernel<<<blocks(d * k), kThreads>>>(cw1, at(kG1, step), d * k, s.lr_q, sf, at(kW1New, step), at(kW1Rem, step), bad, kW1New);
    }
    check(cudaGetLastError(), "fixed_point_sgd kernel launch");
    int flag = -1;  // one small sync per step: later steps would build on out-of-range values
    check(cudaMemcpy(&flag, bad, sizeof(int), cudaMemcpyDeviceToHost), "cudaMemcpy overflow flag");
    if (flag >= 0) {
      st.ok = false;
      st.step = step;
      st.field = flag;
    }
  }
  for (int f = 0; f < kSgdFieldCount; ++f)
    if (field[f])
      check(cudaMemcpy(t.f[f], field[f]->p, sizeof(int64_t) * s.steps * sgd_field_size(f, s), cudaMemcpyDeviceToHost),
            "cudaMemcpy trace to host");
  return st;
}

}  // namespace skyplex::cuda
