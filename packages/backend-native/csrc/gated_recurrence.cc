#include "gated_recurrence.h"

#include <algorithm>
#include <vector>

#include "exp_row.h"
#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

// Steps between the states the backward keeps; it recomputes the ones in between.
constexpr int64_t kCheckpoint = 64;

/** Σ a_i b_i in 8 independent lanes, so it vectorises without reassociating one sum. */
ATTNKIT_CLONES float dot(const float* a, const float* b, int64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lane[l] += a[i + l] * b[i + l];
  float sum = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

/** y += a · x. */
ATTNKIT_CLONES void axpy(float* ATTNKIT_RESTRICT y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/** y = f · y. */
ATTNKIT_CLONES void scale_row(float* y, float f, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] *= f;
}

/** The decays of the key rows at one step into f (dk): one exp when the gate is shared. */
void decays_of(const float* gt, int64_t gates, int64_t dk, float* f) {
  if (gates == 1) {
    std::fill(f, f + dk, exp_f(gt[0]));
    return;
  }
  std::copy(gt, gt + dk, f);
  exp_row_shifted(f, dk, 0.f);  // vectorised (GCC keeps exp_f scalar in a loop)
}

/**
 * One forward step on S in place: decay, the delta-rule write or the plain one; u (dv) is the
 * written value; f (dk) scratch for the decays. S is S_t after.
 */
void step(const RecurrenceShape& s, float* S, const float* kt, const float* vt, float bt,
          const float* gt, float* u, float* f) {
  const int64_t dk = s.dk, dv = s.dv;
  decays_of(gt, s.gates, dk, f);
  for (int64_t d = 0; d < dk; d++) scale_row(S + d * dv, f[d], dv);
  if (s.delta) {
    std::fill(u, u + dv, 0.f);
    for (int64_t d = 0; d < dk; d++) axpy(u, S + d * dv, kt[d], dv);  // S'ᵀ k
    for (int64_t e = 0; e < dv; e++) u[e] = bt * (vt[e] - u[e]);
  } else {
    std::copy(vt, vt + dv, u);
  }
  for (int64_t d = 0; d < dk; d++) axpy(S + d * dv, u, kt[d], dv);
}

}  // namespace

void gated_recurrence_forward(const RecurrenceShape& s, const float* q, const float* k,
                              const float* v, const float* beta, const float* g, const float* s0,
                              float* out, float* state) {
  const int64_t T = s.t, dk = s.dk, dv = s.dv, G = s.gates;
  parallel_for_checked(s.bh, [&](int64_t h) {
    float* S = state + h * dk * dv;
    std::copy(s0 + h * dk * dv, s0 + (h + 1) * dk * dv, S);
    std::vector<float> u(dv), f(dk);
    for (int64_t t = 0; t < T; t++) {
      const int64_t row = h * T + t;
      step(s, S, k + row * dk, v + row * dv, beta[row], g + row * G, u.data(), f.data());
      float* o = out + row * dv;
      std::fill(o, o + dv, 0.f);
      const float* qt = q + row * dk;
      for (int64_t d = 0; d < dk; d++) axpy(o, S + d * dv, s.scale * qt[d], dv);
    }
  });
}

void gated_recurrence_backward(const RecurrenceShape& s, const float* q, const float* k,
                               const float* v, const float* beta, const float* g,
                               const float* s0, const float* dout, const float* dstate, float* dq,
                               float* dk_, float* dv_, float* dbeta, float* dg, float* ds0) {
  const int64_t T = s.t, dk = s.dk, dv = s.dv, G = s.gates, size = dk * dv;
  const int64_t chunks = (T + kCheckpoint - 1) / kCheckpoint;
  parallel_for_checked(s.bh, [&](int64_t h) {
    // marks[c]: S before chunk c; before[i]: S before step i of the chunk being undone.
    std::vector<float> marks(std::max<int64_t>(chunks, 1) * size);
    std::vector<float> before(kCheckpoint * size), S(size), dS(size), decayed(size);
    std::vector<float> u(dv), r(dv), du(dv), f(dk);
    std::copy(s0 + h * size, s0 + (h + 1) * size, S.begin());
    for (int64_t t = 0; t < T; t++) {
      if (t % kCheckpoint == 0) std::copy(S.begin(), S.end(), marks.begin() + (t / kCheckpoint) * size);
      const int64_t row = h * T + t;
      step(s, S.data(), k + row * dk, v + row * dv, beta[row], g + row * G, u.data(),
           f.data());
    }
    std::copy(dstate + h * size, dstate + (h + 1) * size, dS.begin());
    for (int64_t c = chunks - 1; c >= 0; c--) {
      const int64_t t0 = c * kCheckpoint, n = std::min(kCheckpoint, T - t0);
      std::copy(marks.begin() + c * size, marks.begin() + (c + 1) * size, S.begin());
      for (int64_t i = 0; i < n; i++) {
        std::copy(S.begin(), S.end(), before.begin() + i * size);
        const int64_t row = h * T + t0 + i;
        step(s, S.data(), k + row * dk, v + row * dv, beta[row], g + row * G, u.data(),
           f.data());
      }
      for (int64_t i = n - 1; i >= 0; i--) {
        const int64_t row = h * T + t0 + i;
        const float *qt = q + row * dk, *kt = k + row * dk, *vt = v + row * dv;
        const float *dot_ = dout + row * dv, *gt = g + row * G;
        const float* Sp = before.data() + i * size;
        // S' = diag(f) S_{t-1}, then the written value u (and the residual r with delta).
        decays_of(gt, G, dk, f.data());
        for (int64_t d = 0; d < dk; d++) {
          for (int64_t e = 0; e < dv; e++) decayed[d * dv + e] = f[d] * Sp[d * dv + e];
        }
        const float bt = beta[row];
        if (s.delta) {
          std::fill(r.begin(), r.end(), 0.f);
          for (int64_t d = 0; d < dk; d++) axpy(r.data(), decayed.data() + d * dv, kt[d], dv);
          for (int64_t e = 0; e < dv; e++) {
            r[e] = vt[e] - r[e];
            u[e] = bt * r[e];
          }
        } else {
          std::copy(vt, vt + dv, u.begin());
        }
        // out_t = scale S_tᵀ q_t with S_t = S' + k uᵀ; dS (of S_t) gains scale q doᵀ.
        float* dqt = dq + row * dk;
        float* dkt = dk_ + row * dk;
        std::fill(du.begin(), du.end(), 0.f);
        const float udo = dot(u.data(), dot_, dv);
        for (int64_t d = 0; d < dk; d++) {
          float* dSd = dS.data() + d * dv;
          dqt[d] = s.scale * (dot(decayed.data() + d * dv, dot_, dv) + kt[d] * udo);
          axpy(dSd, dot_, s.scale * qt[d], dv);
          dkt[d] = dot(dSd, u.data(), dv);
          axpy(du.data(), dSd, kt[d], dv);
        }
        float* dvt = dv_ + row * dv;
        if (s.delta) {
          // u = β (v − S'ᵀ k): dβ = du·r; dr = β du reaches v, and −k drᵀ reaches S', −S' dr k.
          dbeta[row] = dot(du.data(), r.data(), dv);
          for (int64_t e = 0; e < dv; e++) dvt[e] = bt * du[e];
          for (int64_t d = 0; d < dk; d++) {
            dkt[d] -= dot(decayed.data() + d * dv, dvt, dv);
            axpy(dS.data() + d * dv, dvt, -kt[d], dv);
          }
        } else {
          dbeta[row] = 0.f;
          std::copy(du.begin(), du.end(), dvt);
        }
        // S' = diag(f) S_{t-1}: d log f_d = Σ_e S'_de dS'_de; dS_{t-1} = diag(f) dS'.
        float* dgt = dg + row * G;
        if (G == 1) dgt[0] = 0.f;
        for (int64_t d = 0; d < dk; d++) {
          const float gd = dot(decayed.data() + d * dv, dS.data() + d * dv, dv);
          if (G == 1) dgt[0] += gd;
          else dgt[d] = gd;
          scale_row(dS.data() + d * dv, f[d], dv);
        }
      }
    }
    std::copy(dS.begin(), dS.end(), ds0 + h * size);
  });
}

}  // namespace attnkit
