// CUDA cascade (prefix-sharing) attention; see skyplex/cascade_attention.h for the layout.
//
// Two launches of one kernel on the same stream (the mode is a runtime flag, not a template
// parameter: every instance is compiled for three GPU targets, which is most of the build time):
//   prefix: blocks over (tile of kRows query rows of the whole group, kv head); every block streams
//           the shared prefix keys/values through shared memory once for its 16 rows, so the group's
//           queries share each load instead of every sequence reading the prefix on its own;
//   suffix: blocks over (sequence, tile of its rows, kv head); each streams the sequence's own
//           suffix and merges its partial result into the prefix's through the log-sum-exps, with
//           the merge op's arithmetic (merge_weights / merge_value), in registers.
// One warp owns kRowsPerWarp query rows: lane j scores key j of a 32-key tile, the warp reduces the
// tile's maximum and sum with shuffles (online softmax), and each lane accumulates the output
// dimensions lane, lane + 32, ... . q, k and v may be float32, float16 or bfloat16; everything is
// converted to float32 on load and accumulated in float32. Plain CUDA cores, no tensor-core MMA:
// that keeps the kernel small, and its point is reading the shared prefix once, not peak FLOPs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "check.cuh"
#include "skyplex/cascade_attention.h"
#include "skyplex/cuda_ops.h"
#include "skyplex/merge_attn_states.h"

namespace skyplex::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarp;
constexpr int kRowsPerWarp = 4;
constexpr int kRows = kWarps * kRowsPerWarp;  // query rows per block
constexpr int kKeys = kWarp;                  // keys per shared-memory tile: one per lane
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Element i of a q/k/v array as float32. The element type is a runtime argument (warp-uniform, and
// only on the loads into shared memory) rather than a template parameter, for the same build-time
// reason as the mode.
__device__ __forceinline__ float load(const void* base, int64_t i, ElementType type) {
  switch (type) {
    case ElementType::kFloat16:
      return __half2float(static_cast<const __half*>(base)[i]);
    case ElementType::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
    default:
      return static_cast<const float*>(base)[i];
  }
}

struct Params {
  ElementType type;  // of q, k and v
  const void* q;
  const void* k;  // the key stream: k_prefix, or k_suffix (all sequences, packed)
  const void* v;
  const int64_t* q_offsets;
  const int64_t* kv_offsets;
  float* out;
  float* lse;
  int64_t total_q, prefix_len, q_heads, kv_heads, head_dim, group;
  int64_t tiles_per_seq;  // suffix launch: row tiles per sequence
  float qscale;           // scale * log2(e): scores in log2 units, so exp2f is the softmax's exp
  bool causal;
};

__device__ __forceinline__ float warp_max(float x) {
  for (int o = kWarp / 2; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = kWarp / 2; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// kChunks * 32 >= head_dim: each lane owns head_dim / 32 output values per row, in registers.
template <int kChunks>
__global__ void __launch_bounds__(kThreads) cascade_kernel(const Params p, const bool suffix) {
  extern __shared__ float smem[];
  const int64_t dim = p.head_dim;
  const int64_t kpad = dim + 1;  // odd row stride: lane j reading key j's row hits its own bank
  float* qs = smem;                  // [kRows][dim], scaled
  float* ks = qs + kRows * dim;      // [kKeys][dim + 1]
  float* vs = ks + kKeys * kpad;     // [kKeys][dim]
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int64_t h = blockIdx.y;

  int64_t row0, n_rows, q0 = 0, n_queries = 0, key0 = 0, n_keys;
  if (suffix) {
    const int64_t seq = blockIdx.x / p.tiles_per_seq;
    row0 = blockIdx.x % p.tiles_per_seq * kRows;
    q0 = p.q_offsets[seq];
    n_queries = p.q_offsets[seq + 1] - q0;
    key0 = p.kv_offsets[seq];
    n_keys = p.kv_offsets[seq + 1] - key0;
    n_rows = n_queries * p.group;
    // uniform over the block, so returning before the barriers below is safe
    if (row0 >= n_rows || n_keys == 0) return;
  } else {
    row0 = static_cast<int64_t>(blockIdx.x) * kRows;
    n_rows = p.total_q * p.group;
    n_keys = p.prefix_len;
  }
  const int64_t kv_stride = p.kv_heads * dim;

  for (int64_t i = threadIdx.x; i < kRows * dim; i += kThreads) {
    const int64_t row = row0 + i / dim;
    float x = 0.0f;
    if (row < n_rows) {
      const int64_t token = q0 + row / p.group;
      const int64_t head = h * p.group + row % p.group;
      x = load(p.q, (token * p.q_heads + head) * dim + i % dim, p.type) * p.qscale;
    }
    qs[i] = x;
  }

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kChunks];
  int64_t limit[kRowsPerWarp];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int64_t row = row0 + warp * kRowsPerWarp + rr;
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) acc[rr][c] = 0.0f;
    if (row >= n_rows) {
      limit[rr] = 0;
    } else if (suffix && p.causal) {
      // the queries are the sequence's last n_queries tokens: each sees its own key and those before
      const int64_t local = row / p.group;
      const int64_t visible = n_keys - n_queries + local + 1;
      limit[rr] = visible > 0 ? visible : 0;
    } else {
      limit[rr] = n_keys;
    }
  }

  for (int64_t j0 = 0; j0 < n_keys; j0 += kKeys) {
    __syncthreads();  // the previous tile is consumed (and, the first time, qs is written)
    for (int64_t i = threadIdx.x; i < kKeys * dim; i += kThreads) {
      const int64_t j = i / dim, d = i % dim;
      float kx = 0.0f, vx = 0.0f;
      if (j0 + j < n_keys) {
        const int64_t src = (key0 + j0 + j) * kv_stride + h * dim + d;
        kx = load(p.k, src, p.type);
        vx = load(p.v, src, p.type);
      }
      ks[j * kpad + d] = kx;
      vs[j * dim + d] = vx;
    }
    __syncthreads();

#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const float* qrow = qs + (warp * kRowsPerWarp + rr) * dim;
      float score = -INFINITY;
      if (j0 + lane < limit[rr]) {
        const float* krow = ks + lane * kpad;
        float dot = 0.0f;
        for (int64_t d = 0; d < dim; ++d) dot += qrow[d] * krow[d];
        score = dot;
      }
      const float mn = fmaxf(m[rr], warp_max(score));
      if (mn == -INFINITY) continue;  // warp-uniform: this row sees no key yet
      const float alpha = exp2f(m[rr] - mn);  // 0 when m was -inf
      const float prob = exp2f(score - mn);   // 0 for masked keys
      l[rr] = l[rr] * alpha + warp_sum(prob);
      m[rr] = mn;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) acc[rr][c] *= alpha;
      for (int j = 0; j < kKeys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, prob, j);
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int64_t d = lane + c * kWarp;
          if (d < dim) acc[rr][c] += pj * vs[j * dim + d];
        }
      }
    }
  }

#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int64_t row = row0 + warp * kRowsPerWarp + rr;
    if (row >= n_rows) continue;
    const int64_t token = q0 + row / p.group;
    const int64_t head = h * p.group + row % p.group;
    const int64_t orow = token * p.q_heads + head;
    const float inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
    const float part_lse = l[rr] > 0.0f ? (m[rr] + log2f(l[rr])) * kLn2 : -INFINITY;
    float* o = p.out + orow * dim;
    if (!suffix) {
      if (lane == 0) p.lse[orow] = part_lse;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int64_t d = lane + c * kWarp;
        if (d < dim) o[d] = acc[rr][c] * inv;
      }
    } else {
      // merge into the prefix's result, which the previous launch left in out / lse
      const MergeWeights w = merge_weights(p.lse[orow], part_lse);
      __syncwarp();  // every lane has read lse[orow] before lane 0 overwrites it
      if (lane == 0) p.lse[orow] = w.lse;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int64_t d = lane + c * kWarp;
        if (d < dim) o[d] = merge_value(w, o[d], acc[rr][c] * inv);
      }
    }
  }
}

template <int kChunks>
void launch(const Params& p, bool suffix, dim3 grid, cudaStream_t stream) {
  const size_t smem = sizeof(float) * (kRows * p.head_dim + kKeys * (p.head_dim + 1) + kKeys * p.head_dim);
  auto* kernel = cascade_kernel<kChunks>;
  // above 48 KiB (head_dim > 128) dynamic shared memory must be asked for explicitly
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
        "cudaFuncSetAttribute (cascade_attention shared memory)");
  kernel<<<grid, kThreads, smem, stream>>>(p, suffix);
  check(cudaGetLastError(),
        suffix ? "cascade_attention suffix kernel launch" : "cascade_attention prefix kernel launch");
}

template <int kChunks>
void run(ElementType type, const void* q, const void* k_prefix, const void* v_prefix, const void* k_suffix,
         const void* v_suffix, const int64_t* q_offsets, const int64_t* kv_offsets, float* out, float* lse,
         const CascadeShape& s, int64_t max_queries, cudaStream_t stream) {
  Params p{};
  p.type = type;
  p.q = q;
  p.q_offsets = q_offsets;
  p.kv_offsets = kv_offsets;
  p.out = out;
  p.lse = lse;
  p.total_q = s.total_q;
  p.prefix_len = s.prefix_len;
  p.q_heads = s.q_heads;
  p.kv_heads = s.kv_heads;
  p.head_dim = s.head_dim;
  p.group = s.group();
  p.qscale = s.scale * kLog2e;
  p.causal = s.causal;

  const int64_t prefix_tiles = (s.total_q * p.group + kRows - 1) / kRows;
  if (prefix_tiles > 0x7fffffff) throw std::runtime_error("cascade_attention: too many query rows for one launch");
  p.k = k_prefix;
  p.v = v_prefix;
  launch<kChunks>(p, false, dim3(static_cast<unsigned>(prefix_tiles), static_cast<unsigned>(s.kv_heads)), stream);

  p.tiles_per_seq = (max_queries * p.group + kRows - 1) / kRows;
  const int64_t suffix_blocks = p.tiles_per_seq * s.num_seqs;
  if (suffix_blocks == 0) return;
  if (suffix_blocks > 0x7fffffff) throw std::runtime_error("cascade_attention: too many sequences for one launch");
  p.k = k_suffix;
  p.v = v_suffix;
  launch<kChunks>(p, true, dim3(static_cast<unsigned>(suffix_blocks), static_cast<unsigned>(s.kv_heads)), stream);
}

}  // namespace

void cascade_attention(const void* q, const void* k_prefix, const void* v_prefix, const void* k_suffix,
                       const void* v_suffix, const int64_t* q_offsets, const int64_t* kv_offsets, float* out,
                       float* lse, const CascadeShape& shape, ElementType type, int64_t max_queries, void* stream) {
  if (shape.head_dim < 1 || shape.head_dim > kCascadeMaxHeadDim) {
    throw std::invalid_argument("cascade_attention on CUDA supports head_dim 1.." + std::to_string(kCascadeMaxHeadDim) +
                                ", got " + std::to_string(shape.head_dim) + "; use the CPU backend");
  }
  if (shape.kv_heads < 1 || shape.kv_heads > 65535 || shape.q_heads % shape.kv_heads != 0) {
    throw std::invalid_argument("cascade_attention: kv_heads must be 1..65535 and divide q_heads, got q_heads = " +
                                std::to_string(shape.q_heads) + ", kv_heads = " + std::to_string(shape.kv_heads));
  }
  if (shape.total_q == 0 || shape.q_heads == 0) return;  // nothing to compute; a zero-sized grid is an error
  const cudaStream_t s = as_stream(stream);
  // head_dim picks how many output values each lane keeps in registers (no separate instance for
  // head_dim <= 32: every instance costs build time, and those heads are rare)
  if (shape.head_dim <= 64) {
    run<2>(type, q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, out, lse, shape, max_queries, s);
  } else if (shape.head_dim <= 128) {
    run<4>(type, q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, out, lse, shape, max_queries, s);
  } else {
    run<8>(type, q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, out, lse, shape, max_queries, s);
  }
}

}  // namespace skyplex::cuda
