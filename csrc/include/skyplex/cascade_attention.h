// Prefix-sharing (cascade) attention for a group of sequences that share a prompt prefix.
//
// G sequences share a prefix of P tokens (keys/values stored once); sequence i has its own suffix of
// L_i tokens and M_i query tokens (1 when decoding, more when prefilling the end of its suffix).
// Attention of each query over [prefix || own suffix] is computed in two parts:
//   1. every query of every sequence against the shared prefix, as one matrix-matrix product per
//      kv head (all G * sum(M_i) * (q_heads / kv_heads) query rows meet each prefix key once), and
//   2. each sequence's queries against its own suffix (causal inside the suffix),
// and the two partial results are merged exactly through their log-sum-exps (merge_attn_states.h).
// Part 1 is where the saving is: a per-sequence kernel streams the prefix keys/values G times for a
// handful of query rows each, which is memory-bound; here they are streamed once for all of them.
//
// Ragged-batch layout (all arrays C-contiguous, one dtype for q, k and v):
//   q          [total_q, q_heads, head_dim]   queries of all sequences, packed; sequence i owns rows
//                                             q_offsets[i] .. q_offsets[i+1] (M_i of them)
//   k_prefix,
//   v_prefix   [prefix_len, kv_heads, head_dim]
//   k_suffix,
//   v_suffix   [total_kv, kv_heads, head_dim] suffix keys/values, packed; sequence i owns rows
//                                             kv_offsets[i] .. kv_offsets[i+1] (L_i of them)
//   q_offsets,
//   kv_offsets int64 [num_seqs + 1], starting at 0, non-decreasing, ending at total_q / total_kv
//   out        float32 [total_q, q_heads, head_dim]
//   lse        float32 [total_q, q_heads]       natural-log log-sum-exp of each query's scores
// Grouped-query attention: q head h reads kv head h / (q_heads / kv_heads).
// Causal: the M_i queries are the last M_i tokens of the sequence, so query j (0-based within the
// sequence) sees the whole prefix and suffix keys 0 .. L_i - M_i + j; that needs L_i >= M_i (the
// query's own key is in the suffix). Non-causal: every query sees the whole prefix and suffix.
// A query with no keys at all (P = 0 and L_i = 0, non-causal) gets zeros and lse = -inf.
//
// Plain pointers and shapes only: no torch, no pybind11, no CUDA headers.
#pragma once

#include <cstdint>

namespace skyplex {

/// Element type of q, k and v (the CUDA kernels read all three; the CPU kernel is float32 only).
/// Outputs are float32 whatever the inputs: scores, softmax and sums are accumulated in float32.
enum class ElementType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

/// Sizes of one cascade-attention call; see the layout above.
struct CascadeShape {
  int64_t num_seqs;    // G
  int64_t total_q;     // sum of M_i: rows of q, out and lse
  int64_t prefix_len;  // P, may be 0
  int64_t q_heads;
  int64_t kv_heads;    // divides q_heads
  int64_t head_dim;
  bool causal;
  float scale;  // multiplies q . k before the softmax, usually 1 / sqrt(head_dim)

  int64_t group() const { return q_heads / kv_heads; }  // q heads per kv head
};

namespace cpu {

/// float32 cascade attention on the host, parallel with OpenMP when built with it. Offsets are
/// trusted (the bindings check them); never throws.
void cascade_attention(const float* q, const float* k_prefix, const float* v_prefix, const float* k_suffix,
                       const float* v_suffix, const int64_t* q_offsets, const int64_t* kv_offsets, float* out,
                       float* lse, const CascadeShape& shape);

}  // namespace cpu
}  // namespace skyplex
