// CPU fixed-point SGD witness and constraint checker. Steps are sequential (each starts from the
// previous step's weights); within a step every output element is independent (OpenMP).
#include "skyplex/fixed_point_sgd.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

namespace skyplex::cpu {
namespace {

// out[i, j] = rdiv(A[i, :] . B[:, j], sf) for an n x m output; false when a value left the range.
bool matmul_rescale(const int64_t* a, int64_t as0, int64_t as1, const int64_t* b, int64_t bs0, int64_t bs1,
                    int64_t n, int64_t k, int64_t m, int64_t sf, int64_t* q, int64_t* r) {
  bool ok = true;
#pragma omp parallel for collapse(2) reduction(&& : ok) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      int64_t rem = 0;
      const i128 v = sgd_rdiv(sgd_dot(a, as0, as1, b, bs0, bs1, k, i, j), sf, &rem);
      ok = ok && sgd_in_range(v);
      q[i * m + j] = static_cast<int64_t>(v);
      r[i * m + j] = rem;
    }
  }
  return ok;
}

void softmax(const int64_t* z, int64_t b, int64_t c, int64_t sf, const int64_t* table, int64_t table_len,
             int64_t* zmax, int64_t* e, int64_t* esum, int64_t* p, int64_t* p_rem) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < b; ++i) {
    const int64_t* zr = z + i * c;
    const int64_t m = *std::max_element(zr, zr + c);
    int64_t s = 0;  // <= c * SF: the max's own entry is SF, others are at most SF
    for (int64_t j = 0; j < c; ++j) {
      const int64_t k = m - zr[j];
      e[i * c + j] = k < table_len ? table[k] : 0;
      s += e[i * c + j];
    }
    zmax[i] = m;
    esum[i] = s;
    for (int64_t j = 0; j < c; ++j) {
      p[i * c + j] = static_cast<int64_t>(sgd_rdiv(i128(e[i * c + j]) * sf, s, &p_rem[i * c + j]));
    }
  }
}

bool update(const int64_t* w, const int64_t* g, int64_t n, int64_t lr_q, int64_t sf, int64_t* w_new,
            int64_t* w_rem) {
  bool ok = true;
#pragma omp parallel for reduction(&& : ok) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const i128 v = sgd_rdiv(i128(w[i]) * sf - i128(g[i]) * lr_q, sf, &w_rem[i]);
    ok = ok && sgd_in_range(v);
    w_new[i] = static_cast<int64_t>(v);
  }
  return ok;
}

int64_t* at(const SgdTrace& t, int f, const SgdShape& s, int64_t step) {
  return t.f[f] + step * sgd_field_size(f, s);
}

}  // namespace

SgdStatus fixed_point_sgd(const int64_t* x, const int64_t* y, const int64_t* w1, const int64_t* w2,
                          const int64_t* table, const SgdShape& s, const SgdTrace& t) {
  const int64_t b = s.batch, d = s.in_dim, h = s.hidden, c = s.classes, k = s.width();
  const int64_t sf = int64_t(1) << s.frac_bits;
  std::vector<int64_t> gz(b * c), da(b * h);
  SgdStatus st;
  auto fail = [&](int64_t step, int field) {
    st.ok = false;
    st.step = step;
    st.field = field;
    return st;
  };
  for (int64_t step = 0; step < s.steps; ++step) {
    const int64_t* xs = x + step * b * d;
    const int64_t* ys = y + step * b * c;
    const int64_t* cw1 = step == 0 ? w1 : at(t, kW1New, s, step - 1);
    const int64_t* cw2 = h == 0 ? nullptr : (step == 0 ? w2 : at(t, kW2New, s, step - 1));
    const int64_t* zin = xs;  // input of the classifier layer: x, or h for the MLP
    int64_t zin_cols = d;
    const int64_t* zw = cw1;
    if (h > 0) {
      int64_t* a = at(t, kA, s, step);
      if (!matmul_rescale(xs, d, 1, cw1, h, 1, b, d, h, sf, a, at(t, kARem, s, step))) return fail(step, kA);
      int64_t* hr = at(t, kH, s, step);
      for (int64_t i = 0; i < b * h; ++i) hr[i] = std::max<int64_t>(a[i], 0);
      zin = hr;
      zin_cols = h;
      zw = cw2;
    }
    int64_t* z = at(t, kZ, s, step);
    if (!matmul_rescale(zin, zin_cols, 1, zw, c, 1, b, zin_cols, c, sf, z, at(t, kZRem, s, step)))
      return fail(step, kZ);
    int64_t* p = at(t, kP, s, step);
    softmax(z, b, c, sf, table, s.table_len, at(t, kZMax, s, step), at(t, kE, s, step), at(t, kESum, s, step), p,
            at(t, kPRem, s, step));
    for (int64_t i = 0; i < b * c; ++i) gz[i] = p[i] - ys[i];
    if (h > 0) {
      // weight gradients use this step's weights; dh uses w2 before its update
      int64_t* g2 = at(t, kG2, s, step);
      if (!matmul_rescale(zin, 1, h, gz.data(), c, 1, h, b, c, sf, g2, at(t, kG2Rem, s, step))) return fail(step, kG2);
      int64_t* dh = at(t, kDh, s, step);
      if (!matmul_rescale(gz.data(), c, 1, cw2, 1, c, b, c, h, sf, dh, at(t, kDhRem, s, step))) return fail(step, kDh);
      const int64_t* a = at(t, kA, s, step);
      for (int64_t i = 0; i < b * h; ++i) da[i] = a[i] > 0 ? dh[i] : 0;
      int64_t* g1 = at(t, kG1, s, step);
      if (!matmul_rescale(xs, 1, d, da.data(), h, 1, d, b, h, sf, g1, at(t, kG1Rem, s, step))) return fail(step, kG1);
      if (!update(cw1, g1, d * h, s.lr_q, sf, at(t, kW1New, s, step), at(t, kW1Rem, s, step))) return fail(step, kW1New);
      if (!update(cw2, g2, h * c, s.lr_q, sf, at(t, kW2New, s, step), at(t, kW2Rem, s, step))) return fail(step, kW2New);
    } else {
      int64_t* g = at(t, kG1, s, step);
      if (!matmul_rescale(xs, 1, d, gz.data(), c, 1, d, b, c, sf, g, at(t, kG1Rem, s, step))) return fail(step, kG1);
      if (!update(cw1, g, d * k, s.lr_q, sf, at(t, kW1New, s, step), at(t, kW1Rem, s, step))) return fail(step, kW1New);
    }
  }
  return st;
}

// ---- checker ----------------------------------------------------------------------------------

namespace {

struct Checker {
  const SgdShape& s;
  const SgdTrace& t;
  int64_t sf;
  std::string error;

  bool fail(int64_t step, int field, int64_t idx, const std::string& what) {
    if (error.empty()) {
      error = "step " + std::to_string(step) + ", " + sgd_field_name(field, s.hidden > 0) + "[" +
              std::to_string(idx) + "]: " + what;
    }
    return false;
  }

  // q, r witness rdiv(num_half, den) where num_half is the exact (unrescaled) value: 2a+b = 2bq + r.
  bool rescale(int64_t step, int field, int64_t idx, i128 a, int64_t den, int64_t q, int64_t r) {
    if (r < 0 || r >= 2 * den) return fail(step, field, idx, "remainder " + std::to_string(r) + " not in [0, 2*" + std::to_string(den) + ")");
    if (2 * a + den != 2 * i128(den) * q + r) return fail(step, field, idx, "rounded-division equation 2a+b = 2bq+r does not hold");
    if (!sgd_in_range(q)) return fail(step, field, idx, "value outside |v| < 2^52");
    return true;
  }

  bool matmul(int64_t step, int field, const int64_t* a, int64_t as0, int64_t as1, const int64_t* b, int64_t bs0,
              int64_t bs1, int64_t n, int64_t k, int64_t m, const int64_t* q, const int64_t* r) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j)
        if (!rescale(step, field, i * m + j, sgd_dot(a, as0, as1, b, bs0, bs1, k, i, j), sf, q[i * m + j], r[i * m + j]))
          return false;
    return true;
  }
};

}  // namespace

std::string check_fixed_point_sgd(const int64_t* x, const int64_t* y, const int64_t* w1, const int64_t* w2,
                                  const int64_t* table, const SgdShape& s, const SgdTrace& t) {
  const int64_t b = s.batch, d = s.in_dim, h = s.hidden, c = s.classes, k = s.width();
  Checker ck{s, t, int64_t(1) << s.frac_bits, {}};
  const int64_t sf = ck.sf;
  std::vector<int64_t> gz(b * c), da(b * h);
  for (int64_t step = 0; step < s.steps; ++step) {
    const int64_t* xs = x + step * b * d;
    const int64_t* ys = y + step * b * c;
    const int64_t* cw1 = step == 0 ? w1 : at(t, kW1New, s, step - 1);
    const int64_t* cw2 = h == 0 ? nullptr : (step == 0 ? w2 : at(t, kW2New, s, step - 1));
    const int64_t* zin = xs;
    int64_t zin_cols = d;
    const int64_t* zw = cw1;
    if (h > 0) {
      const int64_t* a = at(t, kA, s, step);
      if (!ck.matmul(step, kA, xs, d, 1, cw1, h, 1, b, d, h, a, at(t, kARem, s, step))) return ck.error;
      const int64_t* hr = at(t, kH, s, step);
      for (int64_t i = 0; i < b * h; ++i)
        if (hr[i] != std::max<int64_t>(a[i], 0)) return ck.fail(step, kH, i, "ReLU output != max(a, 0)"), ck.error;
      zin = hr;
      zin_cols = h;
      zw = cw2;
    }
    const int64_t* z = at(t, kZ, s, step);
    if (!ck.matmul(step, kZ, zin, zin_cols, 1, zw, c, 1, b, zin_cols, c, z, at(t, kZRem, s, step))) return ck.error;
    const int64_t *zmax = at(t, kZMax, s, step), *e = at(t, kE, s, step), *esum = at(t, kESum, s, step);
    const int64_t *p = at(t, kP, s, step), *p_rem = at(t, kPRem, s, step);
    for (int64_t i = 0; i < b; ++i) {
      bool hit = false;
      i128 sum = 0;
      for (int64_t j = 0; j < c; ++j) {
        const int64_t v = z[i * c + j];
        if (v > zmax[i]) return ck.fail(step, kZMax, i, "row max is below an entry of z"), ck.error;
        hit = hit || v == zmax[i];
        const int64_t kk = zmax[i] - v;
        if (e[i * c + j] != (kk < s.table_len ? table[kk] : 0))
          return ck.fail(step, kE, i * c + j, "exp lookup does not match the table"), ck.error;
        sum += e[i * c + j];
      }
      if (!hit) return ck.fail(step, kZMax, i, "row max is not an entry of z"), ck.error;
      if (sum != esum[i] || esum[i] <= 0) return ck.fail(step, kESum, i, "sum of exps is wrong"), ck.error;
      for (int64_t j = 0; j < c; ++j)
        if (!ck.rescale(step, kP, i * c + j, i128(e[i * c + j]) * sf, esum[i], p[i * c + j], p_rem[i * c + j]))
          return ck.error;
    }
    for (int64_t i = 0; i < b * c; ++i) gz[i] = p[i] - ys[i];
    auto check_update = [&](int fnew, const int64_t* w, const int64_t* g, int64_t n) {
      const int64_t *wn = at(t, fnew, s, step), *wr = at(t, fnew + 1, s, step);
      for (int64_t i = 0; i < n; ++i)
        if (!ck.rescale(step, fnew, i, i128(w[i]) * sf - i128(g[i]) * s.lr_q, sf, wn[i], wr[i])) return false;
      return true;
    };
    if (h > 0) {
      const int64_t* hr = at(t, kH, s, step);
      const int64_t *g2 = at(t, kG2, s, step), *dh = at(t, kDh, s, step), *g1 = at(t, kG1, s, step);
      if (!ck.matmul(step, kG2, hr, 1, h, gz.data(), c, 1, h, b, c, g2, at(t, kG2Rem, s, step))) return ck.error;
      if (!ck.matmul(step, kDh, gz.data(), c, 1, cw2, 1, c, b, c, h, dh, at(t, kDhRem, s, step))) return ck.error;
      const int64_t* a = at(t, kA, s, step);
      for (int64_t i = 0; i < b * h; ++i) da[i] = a[i] > 0 ? dh[i] : 0;
      if (!ck.matmul(step, kG1, xs, 1, d, da.data(), h, 1, d, b, h, g1, at(t, kG1Rem, s, step))) return ck.error;
      if (!check_update(kW1New, cw1, g1, d * h) || !check_update(kW2New, cw2, g2, h * c)) return ck.error;
    } else {
      const int64_t* g = at(t, kG1, s, step);
      if (!ck.matmul(step, kG1, xs, 1, d, gz.data(), c, 1, d, b, c, g, at(t, kG1Rem, s, step))) return ck.error;
      if (!check_update(kW1New, cw1, g, d * k)) return ck.error;
    }
  }
  return "";
}

}  // namespace skyplex::cpu
