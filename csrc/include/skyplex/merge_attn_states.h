// Log-sum-exp merge of two partial attention results (cascade / prefix-sharing attention).
//
// Attention over keys split into two disjoint sets A and B (say a shared prompt prefix and a
// sequence's own suffix) can be computed per set and merged exactly afterwards: with oa, ob the
// softmax-weighted outputs over each set and la, lb the log-sum-exp of each set's scores,
//     o   = sigmoid(la - lb) * oa + sigmoid(lb - la) * ob
//     lse = logaddexp(la, lb)
// equal attention over A and B together. An empty set has lse = -inf and contributes nothing.
//
// Layout: o*, oa, ob are [tokens, heads, head_dim] and lse*, la, lb are [tokens, heads], all
// float32, C-contiguous. Plain pointers and shapes only: no torch, no pybind11, no CUDA headers
// (the CUDA entry points live in cuda_ops.h).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SKYPLEX_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SKYPLEX_HOST_DEVICE inline
#endif

namespace skyplex {

/// Shape of one merge: `tokens * heads` rows of `head_dim` values each.
struct MergeShape {
  int64_t tokens;
  int64_t heads;
  int64_t head_dim;

  int64_t rows() const { return tokens * heads; }
};

/// Weights of the two partials for one (token, head) row and the merged log-sum-exp.
struct MergeWeights {
  float wa;   // sigmoid(la - lb); exactly 0 when la = -inf
  float wb;   // sigmoid(lb - la); exactly 0 when lb = -inf
  float lse;  // logaddexp(la, lb); -inf when both are -inf
};

/// The per-row arithmetic shared by the CPU and CUDA kernels, so both round the same way.
/// Shifting by the larger lse keeps exp() in (0, 1]: no overflow however large the scores are.
SKYPLEX_HOST_DEVICE MergeWeights merge_weights(float la, float lb) {
  const float m = la > lb ? la : lb;
  if (m == -INFINITY) {
    // Both partials are empty: no keys at all. Output zeros rather than 0/0 = NaN.
    return {0.0f, 0.0f, -INFINITY};
  }
  const float ea = expf(la - m);  // one of ea, eb is exactly 1, the other in [0, 1]
  const float eb = expf(lb - m);
  const float inv = 1.0f / (ea + eb);
  // log1p of the smaller term keeps precision when the two lse are far apart.
  return {ea * inv, eb * inv, m + log1pf(ea < eb ? ea : eb)};
}

/// Merges one value of a row (for kernels that hold a partial in registers, not in memory); the
/// same arithmetic and rounding as merge_row. A side whose weight is 0 is never used.
SKYPLEX_HOST_DEVICE float merge_value(MergeWeights w, float a, float b) {
  if (w.wa == 0.0f && w.wb == 0.0f) return 0.0f;
  if (w.wb == 0.0f) return w.wa * a;
  if (w.wa == 0.0f) return w.wb * b;
  return w.wa * a + w.wb * b;
}

/// Merges one row. A side whose weight is 0 is never read, so an empty partial's output may hold
/// anything (attention over zero keys often leaves NaN from 0/0) without poisoning the result.
SKYPLEX_HOST_DEVICE void merge_row(const float* oa, const float* ob, float* o, MergeWeights w,
                                   int64_t begin, int64_t end, int64_t step) {
  if (w.wa == 0.0f && w.wb == 0.0f) {
    for (int64_t d = begin; d < end; d += step) o[d] = 0.0f;
  } else if (w.wb == 0.0f) {
    for (int64_t d = begin; d < end; d += step) o[d] = w.wa * oa[d];
  } else if (w.wa == 0.0f) {
    for (int64_t d = begin; d < end; d += step) o[d] = w.wb * ob[d];
  } else {
    for (int64_t d = begin; d < end; d += step) o[d] = w.wa * oa[d] + w.wb * ob[d];
  }
}

namespace cpu {

/// Merges on the host, parallel over rows with OpenMP when built with it. Never throws.
void merge_attn_states(const float* oa, const float* la, const float* ob, const float* lb, float* o,
                       float* lse, MergeShape shape);

}  // namespace cpu
}  // namespace skyplex
