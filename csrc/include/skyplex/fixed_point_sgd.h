// Fixed-point SGD witness generation: the exact integer trace of SGD steps for softmax regression
// (hidden == 0) or a one-hidden-layer ReLU MLP head (hidden > 0), as the ZK auditor proves it.
// The specification is the pure-Python reference skyplex_zkaudit.fixedpoint; CPU and CUDA kernels
// must be bit-identical to it.
//
// Integer ranges (why 128 bits): every input and stored trace value satisfies |v| < 2^52
// (kSgdValueBound). A product of two is below 2^104 and a sum of at most 2^20 (kSgdMaxDim) of them
// below 2^124, so accumulators are __int128 and cannot overflow; every value is range-checked before
// it is stored as int64, and a value out of range aborts the run with SgdStatus naming it.
#pragma once

#include <cstdint>
#include <string>

#if defined(__CUDACC__)
#define SKYPLEX_HD __host__ __device__
#else
#define SKYPLEX_HD
#endif

namespace skyplex {

constexpr int64_t kSgdValueBound = int64_t(1) << 52;
constexpr int64_t kSgdMaxDim = int64_t(1) << 20;

struct SgdShape {
  int64_t steps = 0, batch = 0, in_dim = 0, hidden = 0, classes = 0;
  int frac_bits = 17;
  int64_t lr_q = 0;       // learning rate / batch at scale 2^frac_bits
  int64_t table_len = 0;  // exp table entries: EXP[k] = round(exp(-k/SF)*SF), 0 past the end
  int64_t width() const { return hidden > 0 ? hidden : classes; }  // columns of the first weight
};

// Trace fields, each [steps, ...] row-major. Softmax regression uses the "1" fields for its single
// weight (g1 = g, w1_new = w_new) and leaves a, a_rem, h, g2*, dh*, w2* null.
enum SgdField : int {
  kA, kARem, kH, kZ, kZRem, kZMax, kE, kESum, kP, kPRem, kG2, kG2Rem, kDh, kDhRem, kG1, kG1Rem,
  kW1New, kW1Rem, kW2New, kW2Rem, kSgdFieldCount
};

inline const char* sgd_field_name(int f, bool mlp) {
  static const char* const kMlp[] = {"a", "a_rem", "h", "z", "z_rem", "zmax", "e", "esum", "p", "p_rem",
                                     "g2", "g2_rem", "dh", "dh_rem", "g1", "g1_rem", "w1_new", "w1_rem",
                                     "w2_new", "w2_rem"};
  if (!mlp && f == kG1) return "g";
  if (!mlp && f == kG1Rem) return "g_rem";
  if (!mlp && f == kW1New) return "w_new";
  if (!mlp && f == kW1Rem) return "w_rem";
  return (f >= 0 && f < kSgdFieldCount) ? kMlp[f] : "?";
}

// Elements per step of each field.
inline int64_t sgd_field_size(int f, const SgdShape& s) {
  const int64_t b = s.batch, d = s.in_dim, h = s.hidden, c = s.classes, k = s.width();
  switch (f) {
    case kA: case kARem: case kH: case kDh: case kDhRem: return b * h;
    case kZ: case kZRem: case kE: case kP: case kPRem: return b * c;
    case kZMax: case kESum: return b;
    case kG2: case kG2Rem: case kW2New: case kW2Rem: return h * c;
    default: return d * k;  // g1, g1_rem, w1_new, w1_rem
  }
}

inline bool sgd_field_used(int f, const SgdShape& s) {
  if (s.hidden > 0) return true;
  return !(f == kA || f == kARem || f == kH || f == kG2 || f == kG2Rem || f == kDh || f == kDhRem ||
           f == kW2New || f == kW2Rem);
}

struct SgdTrace {
  int64_t* f[kSgdFieldCount] = {};
};

// Outcome of a run: ok, or the first field (in step order) whose value left |v| < 2^52.
struct SgdStatus {
  bool ok = true;
  int64_t step = -1;
  int field = -1;
};

// ---- element arithmetic shared by the CPU and CUDA kernels (one definition, bit-identical) ------

using i128 = __int128;

SKYPLEX_HD inline bool sgd_in_range(i128 v) { return v > -i128(kSgdValueBound) && v < i128(kSgdValueBound); }

// Rounded division by b > 0: q = floor((2a + b) / 2b), r = 2a + b - 2bq, so 0 <= r < 2b.
SKYPLEX_HD inline i128 sgd_rdiv(i128 a, int64_t b, int64_t* rem) {
  const i128 num = 2 * a + b, den = 2 * i128(b);
  i128 q = num / den;
  if (num % den != 0 && num < 0) q -= 1;  // C++ truncates toward zero; we need floor
  *rem = static_cast<int64_t>(num - den * q);
  return q;
}

// sum_t A[i, t] * B[t, j] with explicit strides, so transposed operands need no copies.
SKYPLEX_HD inline i128 sgd_dot(const int64_t* a, int64_t as0, int64_t as1, const int64_t* b, int64_t bs0,
                               int64_t bs1, int64_t k, int64_t i, int64_t j) {
  i128 acc = 0;
  for (int64_t t = 0; t < k; ++t) acc += i128(a[i * as0 + t * as1]) * i128(b[t * bs0 + j * bs1]);
  return acc;
}

namespace cpu {

// Runs s.steps chained steps. x [steps, batch, in_dim], y [steps, batch, classes] (one-hot at scale
// SF), w1 [in_dim, width], w2 [hidden, classes] (null when hidden == 0), table [table_len].
SgdStatus fixed_point_sgd(const int64_t* x, const int64_t* y, const int64_t* w1, const int64_t* w2,
                          const int64_t* table, const SgdShape& s, const SgdTrace& t);

// Checks every constraint of a trace (rescale equations and remainder ranges, max, exp lookups,
// sums, ReLU, update, chaining of weights between steps). Returns "" or the first violation.
std::string check_fixed_point_sgd(const int64_t* x, const int64_t* y, const int64_t* w1, const int64_t* w2,
                                  const int64_t* table, const SgdShape& s, const SgdTrace& t);

}  // namespace cpu

namespace cuda {

// Same contract as cpu::fixed_point_sgd on host buffers; copies to the device and back.
SgdStatus fixed_point_sgd(const int64_t* x, const int64_t* y, const int64_t* w1, const int64_t* w2,
                          const int64_t* table, const SgdShape& s, const SgdTrace& t);

}  // namespace cuda

}  // namespace skyplex
