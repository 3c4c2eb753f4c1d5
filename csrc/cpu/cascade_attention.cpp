// CPU cascade (prefix-sharing) attention; see skyplex/cascade_attention.h for the layout.
//
// The work is cut into tiles of up to kRowTile query rows that attend one stream of keys (one kv
// head of the shared prefix, or of one sequence's suffix) with an online softmax over blocks of
// kKeyBlock keys, flash-attention style, so memory stays bounded whatever the lengths. Two tile
// kernels, chosen by the number of rows:
//   wide   (> kNarrowRows rows: the prefix of a group, prefill): q is packed transposed so vector
//          lanes run along query rows and every key is loaded once per tile of 32 rows;
//   narrow (a few rows: decode of a single sequence): dot products along head_dim, no packing.
// Scores are kept in log2 units (q is pre-multiplied by scale * log2(e)) so the softmax needs exp2
// only, computed by a branch-free polynomial the compiler vectorises (libm's expf does not).
// Both kernels are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time
// (target_clones), so the wheel stays portable without giving up wide vectors.
#include "skyplex/cascade_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "skyplex/merge_attn_states.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define SKYPLEX_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SKYPLEX_SIMD_CLONES
#endif

namespace skyplex::cpu {

namespace {

constexpr int kRowTile = 32;    // query rows per tile: two AVX-512 vectors of scores per key
constexpr int kKeyBlock = 64;   // keys per softmax block: a block's scores stay in L1
constexpr int kNarrowRows = 8;  // tiles with at most this many rows use the narrow kernel
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
// Prefix keys are split across threads (for small groups) only in chunks of at least this many.
constexpr int64_t kMinChunkKeys = 256;
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

/// 2^x for x <= 0 (scores minus their running maximum), 0 for x below -126 and for -inf.
/// Round x to n, evaluate 2^(x - n) on [-1/2, 1/2] by its Taylor polynomial (relative error below
/// 2e-7, under float32 rounding of the sums that follow) and put n into the exponent bits.
inline float exp2_nonpositive(float x) {
  x = x < -127.0f ? -127.0f : (x > 0.0f ? 0.0f : x);
  // Adding 1.5 * 2^23 pushes the fraction out of the mantissa: the low mantissa bits hold round(x).
  constexpr float kShifter = 12582912.0f;
  const float shifted = x + kShifter;
  const float n = shifted - kShifter;
  const float f = x - n;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  const int32_t exponent = bits - 0x4B400000 + 127;  // round(x) + bias; 0 for x = -127 gives 0.0f
  const int32_t pow2_bits = exponent << 23;
  float pow2;
  std::memcpy(&pow2, &pow2_bits, sizeof pow2);
  // ln2^k / k!, k = 1..6
  float p = 1.5403530393381606e-4f;
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910071e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  return p * pow2;
}

/// Query rows of one tile: where each row's query is and how many keys of the stream it may see.
struct TileRows {
  int n = 0;                          // rows in use, <= kRowTile
  const float* q[kRowTile] = {};      // head_dim values each
  int64_t limit[kRowTile] = {};       // the row sees keys [0, limit) of the stream
};

/// One kv head's keys and values: key j is at k + j * stride (head_dim values, contiguous).
struct KeyStream {
  const float* k;
  const float* v;
  int64_t stride;
  int64_t n;
};

/// Per-thread buffers of the tile kernels, allocated once per parallel region.
struct Scratch {
  explicit Scratch(int64_t dim)
      : q(static_cast<size_t>(dim) * kRowTile),
        scores(static_cast<size_t>(kKeyBlock) * kRowTile),
        acc(static_cast<size_t>(dim) * kRowTile),
        out(static_cast<size_t>(dim) * kRowTile) {}

  std::vector<float> q;       // scaled queries: wide [dim][kRowTile], narrow [rows][dim]
  std::vector<float> scores;  // wide [key][row], narrow [row][key]
  std::vector<float> acc;     // unnormalised outputs [row][dim]
  std::vector<float> out;     // the tile's result [row][dim], normalised
  float lse[kRowTile];
};

/// Writes the normalised outputs and natural-log lse of rows with running max `m` (log2 units)
/// and softmax denominator `l`. A row that saw no key gets zeros and -inf (the merge's "empty").
inline void finish_rows(int n, int64_t dim, const float* m, const float* l, const float* acc, float* out,
                        float* lse) {
  for (int i = 0; i < n; ++i) {
    float* o = out + i * dim;
    if (l[i] > 0.0f) {
      const float inv = 1.0f / l[i];
      const float* a = acc + i * dim;
      for (int64_t d = 0; d < dim; ++d) o[d] = a[d] * inv;
      lse[i] = (m[i] + std::log2(l[i])) * kLn2;
    } else {
      std::fill(o, o + dim, 0.0f);
      lse[i] = -INFINITY;
    }
  }
}

/// Scales an unnormalised output row by `alpha`, the online-softmax correction when its running
/// maximum grew; skipped when it did not, which is most blocks once the maximum has settled.
inline void rescale(float* __restrict acc, int64_t dim, float alpha) {
  if (alpha != 1.0f) {
    for (int64_t d = 0; d < dim; ++d) acc[d] *= alpha;
  }
}
/// acc += p * v over `dim` values.
inline void add_scaled(float* __restrict acc, const float* __restrict v, int64_t dim, float p) {
  for (int64_t d = 0; d < dim; ++d) acc[d] += p * v[d];
}

/// Many rows: vector lanes along the tile's rows, each key and value loaded once for all of them.
/// Scores are s[key][row] and the unnormalised output is kept transposed, acc[d][row], so both
/// products are outer-product updates of whole row vectors, blocked four keys (or four output
/// dimensions) at a time so that the accumulators stay in registers and each load feeds 4 FMAs.
template <int T>
[[gnu::always_inline]] inline void attend_wide_impl(const TileRows& rows, const KeyStream& keys, int64_t dim,
                                                    float qscale, Scratch& scratch) {
  static_assert(T <= kRowTile, "the scratch buffers hold kRowTile rows");
  const int n = rows.n;
  const int64_t stride = keys.stride;
  float* __restrict qt = scratch.q.data();
  float* __restrict s = scratch.scores.data();
  float* __restrict acc = scratch.acc.data();
  for (int i = 0; i < T; ++i) {
    for (int64_t d = 0; d < dim; ++d) qt[d * T + i] = i < n ? rows.q[i][d] * qscale : 0.0f;
  }
  std::fill(acc, acc + dim * T, 0.0f);
  float m[T], l[T], m_safe[T], alpha[T];
  int32_t limit[T];  // 32-bit like the scores, so the mask below vectorises (streams are < 2^31 keys)
  int64_t max_limit = 0, min_limit = keys.n;
  for (int i = 0; i < T; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
    const int64_t lim = i < n ? std::min(rows.limit[i], keys.n) : 0;  // padding rows see nothing
    limit[i] = static_cast<int32_t>(lim);
    if (i < n) {
      max_limit = std::max(max_limit, lim);
      min_limit = std::min(min_limit, lim);
    }
  }
  for (int64_t j0 = 0; j0 < max_limit; j0 += kKeyBlock) {
    const int nb = static_cast<int>(std::min<int64_t>(kKeyBlock, max_limit - j0));
    const float* __restrict kb = keys.k + j0 * stride;
    const float* __restrict vb = keys.v + j0 * stride;
    // scores of this block: s[j][i] = q_i . k_j (log2 units)
    int j = 0;
    for (; j + 4 <= nb; j += 4) {
      const float* k0 = kb + j * stride;
      const float* k1 = k0 + stride;
      const float* k2 = k1 + stride;
      const float* k3 = k2 + stride;
      float a0[T] = {}, a1[T] = {}, a2[T] = {}, a3[T] = {};
      for (int64_t d = 0; d < dim; ++d) {
        const float* __restrict qd = qt + d * T;
        const float b0 = k0[d], b1 = k1[d], b2 = k2[d], b3 = k3[d];
        for (int i = 0; i < T; ++i) {
          a0[i] += b0 * qd[i];
          a1[i] += b1 * qd[i];
          a2[i] += b2 * qd[i];
          a3[i] += b3 * qd[i];
        }
      }
      for (int i = 0; i < T; ++i) {
        s[j * T + i] = a0[i];
        s[(j + 1) * T + i] = a1[i];
        s[(j + 2) * T + i] = a2[i];
        s[(j + 3) * T + i] = a3[i];
      }
    }
    for (; j < nb; ++j) {
      const float* kj = kb + j * stride;
      float a[T] = {};
      for (int64_t d = 0; d < dim; ++d) {
        for (int i = 0; i < T; ++i) a[i] += kj[d] * qt[d * T + i];
      }
      for (int i = 0; i < T; ++i) s[j * T + i] = a[i];
    }
    if (j0 + nb > min_limit) {  // some row stops inside this block (causal, or padding rows)
      for (int jj = 0; jj < nb; ++jj) {
        const int32_t key = static_cast<int32_t>(j0 + jj);
        for (int i = 0; i < T; ++i) s[jj * T + i] = key < limit[i] ? s[jj * T + i] : -INFINITY;
      }
    }
    // online softmax: new running maximum, correction of what was accumulated, probabilities
    float block_max[T];
    for (int i = 0; i < T; ++i) block_max[i] = -INFINITY;
    for (int jj = 0; jj < nb; ++jj) {
      for (int i = 0; i < T; ++i) block_max[i] = std::max(block_max[i], s[jj * T + i]);
    }
    for (int i = 0; i < T; ++i) {
      const float mn = std::max(m[i], block_max[i]);
      m_safe[i] = mn == -INFINITY ? 0.0f : mn;  // no key yet: any finite shift avoids -inf - -inf
      alpha[i] = exp2_nonpositive(m[i] - m_safe[i]);
      m[i] = mn;
    }
    float block_sum[T] = {};
    for (int jj = 0; jj < nb; ++jj) {
      for (int i = 0; i < T; ++i) {
        const float p = exp2_nonpositive(s[jj * T + i] - m_safe[i]);
        s[jj * T + i] = p;
        block_sum[i] += p;
      }
    }
    for (int i = 0; i < T; ++i) l[i] = l[i] * alpha[i] + block_sum[i];
    // acc[d][i] = alpha[i] * acc[d][i] + sum_j p[j][i] * v_j[d], four output dimensions at a time
    int64_t d0 = 0;
    for (; d0 + 4 <= dim; d0 += 4) {
      float c0[T], c1[T], c2[T], c3[T];
      for (int i = 0; i < T; ++i) {
        c0[i] = acc[d0 * T + i] * alpha[i];
        c1[i] = acc[(d0 + 1) * T + i] * alpha[i];
        c2[i] = acc[(d0 + 2) * T + i] * alpha[i];
        c3[i] = acc[(d0 + 3) * T + i] * alpha[i];
      }
      for (int jj = 0; jj < nb; ++jj) {
        const float* vj = vb + jj * stride + d0;
        const float* __restrict pj = s + jj * T;
        const float b0 = vj[0], b1 = vj[1], b2 = vj[2], b3 = vj[3];
        for (int i = 0; i < T; ++i) {
          c0[i] += b0 * pj[i];
          c1[i] += b1 * pj[i];
          c2[i] += b2 * pj[i];
          c3[i] += b3 * pj[i];
        }
      }
      for (int i = 0; i < T; ++i) {
        acc[d0 * T + i] = c0[i];
        acc[(d0 + 1) * T + i] = c1[i];
        acc[(d0 + 2) * T + i] = c2[i];
        acc[(d0 + 3) * T + i] = c3[i];
      }
    }
    for (; d0 < dim; ++d0) {
      float c[T];
      for (int i = 0; i < T; ++i) c[i] = acc[d0 * T + i] * alpha[i];
      for (int jj = 0; jj < nb; ++jj) {
        for (int i = 0; i < T; ++i) c[i] += vb[jj * stride + d0] * s[jj * T + i];
      }
      for (int i = 0; i < T; ++i) acc[d0 * T + i] = c[i];
    }
  }
  // normalise, transposing acc[d][row] back to the tile's rows
  float* out = scratch.out.data();
  for (int i = 0; i < n; ++i) {
    float* o = out + i * dim;
    if (l[i] > 0.0f) {
      const float inv = 1.0f / l[i];
      for (int64_t d = 0; d < dim; ++d) o[d] = acc[d * T + i] * inv;
      scratch.lse[i] = (m[i] + std::log2(l[i])) * kLn2;
    } else {
      std::fill(o, o + dim, 0.0f);
      scratch.lse[i] = -INFINITY;
    }
  }
}

/// Many rows; a tile of at most 16 rows (a small group's decode) runs on half-width row vectors
/// rather than leaving most lanes of 32-row vectors idle.
SKYPLEX_SIMD_CLONES
void attend_wide(const TileRows& rows, const KeyStream& keys, int64_t dim, float qscale, Scratch& scratch) {
  if (rows.n <= kRowTile / 2) {
    attend_wide_impl<kRowTile / 2>(rows, keys, dim, qscale, scratch);
  } else {
    attend_wide_impl<kRowTile>(rows, keys, dim, qscale, scratch);
  }
}

/// The narrow kernel for head_dim `kDim` known at compile time (0: `dim` at run time). A known
/// head_dim lets a row's output accumulator live in registers across a whole block of keys.
template <int kDim>
[[gnu::always_inline]] inline void attend_narrow_impl(const TileRows& rows, const KeyStream& keys, int64_t dim,
                                                      float qscale, Scratch& scratch) {
  constexpr int B = kKeyBlock;
  const int64_t D = kDim > 0 ? kDim : dim;
  const int n = rows.n;
  const int64_t stride = keys.stride;
  float* __restrict qs = scratch.q.data();
  float* __restrict s = scratch.scores.data();
  float* __restrict acc = scratch.acc.data();
  for (int i = 0; i < n; ++i) {
    for (int64_t d = 0; d < D; ++d) qs[i * D + d] = rows.q[i][d] * qscale;
  }
  std::fill(acc, acc + n * D, 0.0f);
  float m[kNarrowRows], l[kNarrowRows];
  int64_t limit[kNarrowRows], max_limit = 0;
  for (int i = 0; i < n; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
    limit[i] = std::min(rows.limit[i], keys.n);
    max_limit = std::max(max_limit, limit[i]);
  }
  for (int64_t j0 = 0; j0 < max_limit; j0 += B) {
    const int nb = static_cast<int>(std::min<int64_t>(B, max_limit - j0));
    const float* __restrict kb = keys.k + j0 * stride;
    const float* __restrict vb = keys.v + j0 * stride;
    for (int j = 0; j < nb; ++j) {
      const float* __restrict kj = kb + j * stride;
      for (int i = 0; i < n; ++i) {
        const float* __restrict qi = qs + i * D;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t d = 0; d < D; ++d) dot += qi[d] * kj[d];
        s[i * B + j] = dot;
      }
    }
    for (int i = 0; i < n; ++i) {
      float* __restrict si = s + i * B;
      const int visible = static_cast<int>(std::clamp<int64_t>(limit[i] - j0, 0, nb));
      float block_max = -INFINITY;
#pragma omp simd reduction(max : block_max)
      for (int j = 0; j < visible; ++j) block_max = std::max(block_max, si[j]);
      const float mn = std::max(m[i], block_max);
      const float m_safe = mn == -INFINITY ? 0.0f : mn;
      const float alpha = exp2_nonpositive(m[i] - m_safe);
      m[i] = mn;
      float block_sum = 0.0f;
#pragma omp simd reduction(+ : block_sum)
      for (int j = 0; j < visible; ++j) {
        const float p = exp2_nonpositive(si[j] - m_safe);
        si[j] = p;
        block_sum += p;
      }
      l[i] = l[i] * alpha + block_sum;
      float* __restrict ai = acc + i * D;
      if constexpr (kDim > 0) {
        float c[kDim];
        for (int d = 0; d < kDim; ++d) c[d] = ai[d] * alpha;
        for (int j = 0; j < visible; ++j) {
          const float* __restrict vj = vb + j * stride;
          const float p = si[j];
          for (int d = 0; d < kDim; ++d) c[d] += p * vj[d];
        }
        for (int d = 0; d < kDim; ++d) ai[d] = c[d];
      } else {
        rescale(ai, D, alpha);
        for (int j = 0; j < visible; ++j) add_scaled(ai, vb + j * stride, D, si[j]);
      }
    }
  }
  finish_rows(n, D, m, l, acc, scratch.out.data(), scratch.lse);
}

/// A few rows (decode of one sequence): dot products along head_dim straight from the keys.
SKYPLEX_SIMD_CLONES
void attend_narrow(const TileRows& rows, const KeyStream& keys, int64_t dim, float qscale, Scratch& scratch) {
  switch (dim) {  // the head sizes of common models get unrolled, register-resident kernels
    case 64:
      attend_narrow_impl<64>(rows, keys, dim, qscale, scratch);
      break;
    case 128:
      attend_narrow_impl<128>(rows, keys, dim, qscale, scratch);
      break;
    default:
      attend_narrow_impl<0>(rows, keys, dim, qscale, scratch);
  }
}

inline void attend(const TileRows& rows, const KeyStream& keys, int64_t dim, float qscale, Scratch& scratch) {
  if (rows.n <= kNarrowRows) {
    attend_narrow(rows, keys, dim, qscale, scratch);
  } else {
    attend_wide(rows, keys, dim, qscale, scratch);
  }
}

/// One tile of a sequence's suffix: `row0` counts (query token, q head of the group) pairs.
struct SuffixTile {
  int64_t seq;
  int64_t kv_head;
  int64_t row0;
};

}  // namespace

void cascade_attention(const float* q, const float* k_prefix, const float* v_prefix, const float* k_suffix,
                       const float* v_suffix, const int64_t* q_offsets, const int64_t* kv_offsets, float* out,
                       float* lse, const CascadeShape& shape) {
  const int64_t dim = shape.head_dim;
  const int64_t q_heads = shape.q_heads;
  const int64_t kv_heads = shape.kv_heads;
  const int64_t group = shape.group();
  const int64_t kv_stride = kv_heads * dim;
  const float qscale = shape.scale * kLog2e;

  // Prefix rows are all (token, q head of the group) pairs of the batch: one matrix per kv head.
  const int64_t prefix_rows = shape.total_q * group;
  const int64_t prefix_tiles_per_head = (prefix_rows + kRowTile - 1) / kRowTile;
  const int64_t prefix_tiles = prefix_tiles_per_head * kv_heads;

  std::vector<SuffixTile> suffix_tiles;
  int64_t suffix_work = 0;
  for (int64_t s = 0; s < shape.num_seqs; ++s) {
    const int64_t seq_rows = (q_offsets[s + 1] - q_offsets[s]) * group;
    const int64_t seq_keys = kv_offsets[s + 1] - kv_offsets[s];
    if (seq_keys == 0) continue;  // nothing to merge: the prefix result stands
    suffix_work += seq_rows * seq_keys * kv_heads;
    for (int64_t h = 0; h < kv_heads; ++h) {
      for (int64_t r0 = 0; r0 < seq_rows; r0 += kRowTile) suffix_tiles.push_back({s, h, r0});
    }
  }
  const int64_t n_suffix_tiles = static_cast<int64_t>(suffix_tiles.size());
  const int64_t work = (prefix_rows * shape.prefix_len * kv_heads + suffix_work) * dim;
  const bool parallel = work >= kMinParallelWork;

  // A small group has fewer prefix tiles than threads have room for (decode of 4 sequences with 3 kv
  // heads: 3 tiles for 2 threads). Then the prefix keys are also split into chunks whose partial
  // results merge through their lse like prefix and suffix do, so every thread gets work.
  int64_t chunks = 1;
#ifdef _OPENMP
  const int64_t threads = parallel ? omp_get_max_threads() : 1;
  if (threads > 1 && prefix_tiles > 0 && prefix_tiles < 2 * threads) {
    const int64_t wanted = (2 * threads + prefix_tiles - 1) / prefix_tiles;
    chunks = std::max<int64_t>(1, std::min(wanted, shape.prefix_len / kMinChunkKeys));
  }
#endif
  const int64_t out_rows = shape.total_q * q_heads;
  // chunk 0 writes into out / lse, chunks 1.. into these, merged after the prefix pass
  std::vector<float> chunk_out(static_cast<size_t>((chunks - 1) * out_rows * dim));
  std::vector<float> chunk_lse(static_cast<size_t>((chunks - 1) * out_rows));

#pragma omp parallel if (parallel)
  {
    Scratch scratch(dim);
    TileRows rows;

    // 1. every query against the shared prefix, written straight into out / lse
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < prefix_tiles * chunks; ++item) {
      const int64_t chunk = item % chunks;
      const int64_t tile = item / chunks;
      const int64_t h = tile / prefix_tiles_per_head;
      const int64_t r0 = tile % prefix_tiles_per_head * kRowTile;
      const int64_t key_begin = shape.prefix_len * chunk / chunks;
      const int64_t n_keys = shape.prefix_len * (chunk + 1) / chunks - key_begin;
      rows.n = static_cast<int>(std::min<int64_t>(kRowTile, prefix_rows - r0));
      for (int i = 0; i < rows.n; ++i) {
        const int64_t token = (r0 + i) / group;
        const int64_t head = h * group + (r0 + i) % group;
        rows.q[i] = q + (token * q_heads + head) * dim;
        rows.limit[i] = n_keys;
      }
      const int64_t key0 = key_begin * kv_stride + h * dim;
      attend(rows, {k_prefix + key0, v_prefix + key0, kv_stride, n_keys}, dim, qscale, scratch);
      float* dest_out = chunk == 0 ? out : chunk_out.data() + (chunk - 1) * out_rows * dim;
      float* dest_lse = chunk == 0 ? lse : chunk_lse.data() + (chunk - 1) * out_rows;
      for (int i = 0; i < rows.n; ++i) {
        const int64_t token = (r0 + i) / group;
        const int64_t row = token * q_heads + h * group + (r0 + i) % group;
        std::memcpy(dest_out + row * dim, scratch.out.data() + i * dim, sizeof(float) * dim);
        dest_lse[row] = scratch.lse[i];
      }
    }
    if (chunks > 1) {
#pragma omp for schedule(static)
      for (int64_t row = 0; row < out_rows; ++row) {
        for (int64_t c = 0; c < chunks - 1; ++c) {
          const MergeWeights w = merge_weights(lse[row], chunk_lse[c * out_rows + row]);
          lse[row] = w.lse;
          merge_row(out + row * dim, chunk_out.data() + (c * out_rows + row) * dim, out + row * dim, w, 0, dim, 1);
        }
      }
    }
    // (implicit barrier: the suffix pass merges into rows the prefix pass wrote)

    // 2. each sequence's queries against its own suffix, merged into out / lse through the lse
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < n_suffix_tiles; ++item) {
      const SuffixTile& tile = suffix_tiles[item];
      const int64_t q0 = q_offsets[tile.seq];
      const int64_t n_queries = q_offsets[tile.seq + 1] - q0;
      const int64_t n_keys = kv_offsets[tile.seq + 1] - kv_offsets[tile.seq];
      rows.n = static_cast<int>(std::min<int64_t>(kRowTile, n_queries * group - tile.row0));
      for (int i = 0; i < rows.n; ++i) {
        const int64_t local = (tile.row0 + i) / group;  // query index within the sequence
        const int64_t head = tile.kv_head * group + (tile.row0 + i) % group;
        rows.q[i] = q + ((q0 + local) * q_heads + head) * dim;
        // causal: the queries are the sequence's last n_queries tokens, each sees itself and before
        rows.limit[i] = shape.causal ? std::max<int64_t>(0, n_keys - n_queries + local + 1) : n_keys;
      }
      const int64_t key0 = kv_offsets[tile.seq] * kv_stride + tile.kv_head * dim;
      attend(rows, {k_suffix + key0, v_suffix + key0, kv_stride, n_keys}, dim, qscale, scratch);
      for (int i = 0; i < rows.n; ++i) {
        const int64_t local = (tile.row0 + i) / group;
        const int64_t row = (q0 + local) * q_heads + tile.kv_head * group + (tile.row0 + i) % group;
        const MergeWeights w = merge_weights(lse[row], scratch.lse[i]);
        lse[row] = w.lse;
        merge_row(out + row * dim, scratch.out.data() + i * dim, out + row * dim, w, 0, dim, 1);
      }
    }
  }
}

}  // namespace skyplex::cpu
