// CPU log-sum-exp merge of two partial attention results; see skyplex/merge_attn_states.h.
#include "skyplex/merge_attn_states.h"

namespace skyplex::cpu {

namespace {
// Below this many output values a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;
}  // namespace

void merge_attn_states(const float* oa, const float* la, const float* ob, const float* lb, float* o,
                       float* lse, MergeShape shape) {
  const int64_t rows = shape.rows();
  const int64_t dim = shape.head_dim;
#pragma omp parallel for schedule(static) if (rows * dim >= kMinParallelWork)
  for (int64_t r = 0; r < rows; ++r) {
    const MergeWeights w = merge_weights(la[r], lb[r]);
    lse[r] = w.lse;
    const int64_t off = r * dim;
    merge_row(oa + off, ob + off, o + off, w, 0, dim, 1);
  }
}

}  // namespace skyplex::cpu
