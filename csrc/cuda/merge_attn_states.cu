// CUDA log-sum-exp merge of two partial attention results; see skyplex/merge_attn_states.h.
#include "check.cuh"
#include "skyplex/cuda_ops.h"
#include "skyplex/merge_attn_states.h"

namespace skyplex::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // one warp per (token, head) row, 256 threads per block

// One warp per row: every lane computes the row's weights (two exps, cheaper than a shuffle
// broadcast) and then lanes stride over head_dim, so loads and stores are coalesced.
__global__ void merge_attn_states_kernel(const float* __restrict__ oa, const float* __restrict__ la,
                                         const float* __restrict__ ob, const float* __restrict__ lb,
                                         float* __restrict__ o, float* __restrict__ lse, int64_t rows,
                                         int64_t head_dim) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const MergeWeights w = merge_weights(la[row], lb[row]);
  if (lane == 0) lse[row] = w.lse;
  const int64_t off = row * head_dim;
  merge_row(oa + off, ob + off, o + off, w, lane, head_dim, kWarp);
}

}  // namespace

void merge_attn_states(const float* oa, const float* la, const float* ob, const float* lb, float* o,
                       float* lse, MergeShape shape, void* stream) {
  const int64_t rows = shape.rows();
  if (rows == 0) return;  // a zero-sized grid is a launch error
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  if (blocks > 0x7fffffff) {
    throw std::runtime_error("merge_attn_states: tokens * heads = " + std::to_string(rows) +
                             " is too large for one launch; split the tokens into chunks");
  }
  merge_attn_states_kernel<<<static_cast<unsigned>(blocks), kRowsPerBlock * kWarp, 0, as_stream(stream)>>>(
      oa, la, ob, lb, o, lse, rows, shape.head_dim);
  check(cudaGetLastError(), "merge_attn_states kernel launch");
}

}  // namespace skyplex::cuda
