// NumPy argument checks of cascade attention, shared by the CPU and CUDA bindings so both reject
// bad input with the same ValueError text (mirrored for the NumPy backend in skyplex/ops.py).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "skyplex/cascade_attention.h"

namespace skyplex::bindings {

/// A dtype the kernel accepts for q, k and v, with its name in messages and for the kernel.
struct AllowedDtype {
  py::dtype dtype;
  const char* name;
  ElementType type;
};

struct CascadeInputs {
  py::array q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets;
  CascadeShape shape;
  ElementType type;
  int64_t max_queries;  // the largest M_i: the CUDA suffix grid is sized by it
};

inline std::string error_at(const char* arg, int64_t i) { return std::string(arg) + "[" + std::to_string(i) + "]"; }

/// Offsets must start at 0, never decrease and end at the packed length `total` (of `total_what`).
inline void check_offsets(const int64_t* off, int64_t count, const char* arg, int64_t total, const char* total_what) {
  if (off[0] != 0) {
    throw py::value_error(error_at(arg, 0) + " must be 0, got " + std::to_string(off[0]));
  }
  for (int64_t i = 1; i < count; ++i) {
    if (off[i] < off[i - 1]) {
      throw py::value_error(std::string(arg) + " must be non-decreasing, but " + error_at(arg, i) + " = " +
                            std::to_string(off[i]) + " < " + error_at(arg, i - 1) + " = " + std::to_string(off[i - 1]));
    }
  }
  if (off[count - 1] != total) {
    throw py::value_error(std::string(arg) + "[-1] must equal " + total_what + " = " + std::to_string(total) +
                          ", got " + std::to_string(off[count - 1]));
  }
}

inline CascadeInputs check_cascade_inputs(const py::handle& q, const py::handle& k_prefix, const py::handle& v_prefix,
                                          const py::handle& k_suffix, const py::handle& v_suffix,
                                          const py::handle& q_offsets, const py::handle& kv_offsets, bool causal,
                                          const py::object& scale, const std::vector<AllowedDtype>& allowed) {
  constexpr const char* kQ = "[tokens, q_heads, head_dim]";
  constexpr const char* kPrefix = "[prefix_len, kv_heads, head_dim]";
  constexpr const char* kSuffix = "[suffix_tokens, kv_heads, head_dim]";
  constexpr const char* kOffsets = "[num_seqs + 1]";
  CascadeInputs in;

  // q fixes the dtype of q, k and v; say every accepted dtype when it is none of them
  std::string names;
  for (size_t i = 0; i < allowed.size(); ++i) names += (i ? " or " : "") + std::string(allowed[i].name);
  const AllowedDtype* chosen = &allowed[0];
  if (py::isinstance<py::array>(q)) {
    const auto dt = py::reinterpret_borrow<py::array>(q).dtype();
    for (const auto& a : allowed) {
      if (dt.is(a.dtype)) chosen = &a;
    }
    if (!dt.is(chosen->dtype)) {
      throw py::value_error("q must be a C-contiguous " + names + " array of shape " + kQ + ", got dtype " +
                            std::string(py::str(dt)) + " (convert with np.ascontiguousarray(x, dtype=np." +
                            allowed[0].name + "))");
    }
  }
  const py::dtype& dt = chosen->dtype;
  const std::string dn = chosen->name;
  in.type = chosen->type;

  in.q = checked_array(q, "q", dt, dn, {-1, -1, -1}, kQ);
  const int64_t total_q = in.q.shape(0), q_heads = in.q.shape(1), dim = in.q.shape(2);
  if (dim == 0) throw py::value_error("q has head_dim 0 (q.shape[2]); attention needs head_dim >= 1");
  in.k_prefix = checked_array(k_prefix, "k_prefix", dt, dn, {-1, -1, dim}, kPrefix);
  const int64_t prefix_len = in.k_prefix.shape(0), kv_heads = in.k_prefix.shape(1);
  if (kv_heads == 0 || q_heads % kv_heads != 0) {
    throw py::value_error("q_heads = " + std::to_string(q_heads) + " (q.shape[1]) must be a multiple of kv_heads = " +
                          std::to_string(kv_heads) + " (k_prefix.shape[1]): in grouped-query attention each kv "
                          "head serves the same number of q heads");
  }
  in.v_prefix = checked_array(v_prefix, "v_prefix", dt, dn, {prefix_len, kv_heads, dim}, kPrefix);
  in.k_suffix = checked_array(k_suffix, "k_suffix", dt, dn, {-1, kv_heads, dim}, kSuffix);
  const int64_t total_kv = in.k_suffix.shape(0);
  in.v_suffix = checked_array(v_suffix, "v_suffix", dt, dn, {total_kv, kv_heads, dim}, kSuffix);

  const py::dtype i64 = py::dtype::of<int64_t>();
  in.q_offsets = checked_array(q_offsets, "q_offsets", i64, "int64", {-1}, kOffsets);
  const int64_t count = in.q_offsets.shape(0);
  if (count == 0) {
    throw py::value_error("q_offsets must have num_seqs + 1 entries, got none (an empty group is [0])");
  }
  in.kv_offsets = checked_array(kv_offsets, "kv_offsets", i64, "int64", {count}, kOffsets);
  const auto* qo = static_cast<const int64_t*>(in.q_offsets.data());
  const auto* ko = static_cast<const int64_t*>(in.kv_offsets.data());
  check_offsets(qo, count, "q_offsets", total_q, "q.shape[0] (packed query tokens)");
  check_offsets(ko, count, "kv_offsets", total_kv, "k_suffix.shape[0] (packed suffix tokens)");
  in.max_queries = 0;
  for (int64_t s = 0; s + 1 < count; ++s) {
    const int64_t m = qo[s + 1] - qo[s], l = ko[s + 1] - ko[s];
    in.max_queries = std::max(in.max_queries, m);
    if (causal && l < m) {
      throw py::value_error("causal attention needs at least as many suffix tokens as queries in each sequence "
                            "(the queries are the last tokens of the suffix), but sequence " + std::to_string(s) +
                            " has " + std::to_string(m) + " queries and " + std::to_string(l) +
                            " suffix tokens; include the queries' own keys in k_suffix or pass causal=False");
    }
  }

  double sc = 1.0 / std::sqrt(static_cast<double>(dim));
  if (!scale.is_none()) {
    sc = py::cast<double>(scale);
    if (!std::isfinite(sc)) throw py::value_error("scale must be a finite number, got " + std::string(py::str(scale)));
  }
  in.shape = CascadeShape{count - 1, total_q, prefix_len, q_heads, kv_heads, dim, causal, static_cast<float>(sc)};
  return in;
}

}  // namespace skyplex::bindings
