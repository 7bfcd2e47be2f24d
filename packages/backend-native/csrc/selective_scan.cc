#include "selective_scan.h"

#include <algorithm>
#include <vector>

#include "exp_row.h"
#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

// Channels per lane group: each step updates h[n][0..L) for L channels at once, so the loops
// run across channels (which share B_t and C_t) and need no horizontal sum per channel.
constexpr int64_t L = 8;

/** The group's per-channel inputs at one row, zero in lanes past the last channel. */
struct Lanes {
  float dt[L], x[L];
};

inline Lanes load(const float* delta, const float* u, int64_t at, int64_t width) {
  Lanes v;
  for (int64_t l = 0; l < L; l++) {
    v.dt[l] = l < width ? delta[at + l] : 0.f;
    v.x[l] = l < width ? u[at + l] : 0.f;
  }
  return v;
}

/**
 * One step for a lane group, from hp into h: h ← exp(Δ a) ⊙ hp + Δ x b over N states × L
 * channels, the decays left in `decay` (N·L floats; the backward keeps them). The exponentials
 * go through exp_row_shifted, whose AVX2 path is vectorised by hand (GCC leaves exp_f scalar in
 * loops like this one). hp may equal h.
 */
ATTNKIT_CLONES void group_step(const float* hp, float* h, float* ATTNKIT_RESTRICT decay,
                               const float* ATTNKIT_RESTRICT a, const float* ATTNKIT_RESTRICT b,
                               const Lanes in, int64_t N) {
  float dt[L], dx[L];
  for (int64_t l = 0; l < L; l++) {
    dt[l] = in.dt[l];
    dx[l] = in.dt[l] * in.x[l];
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t l = 0; l < L; l++) decay[n * L + l] = dt[l] * a[n * L + l];
  exp_row_shifted(decay, N * L, 0.f);
  for (int64_t n = 0; n < N; n++) {
    const float bn = b[n];
    for (int64_t l = 0; l < L; l++) h[n * L + l] = decay[n * L + l] * hp[n * L + l] + dx[l] * bn;
  }
}

/** Where one backward step of a lane group adds its gradients (no two alias). */
struct Grads {
  float* dh;   // [N][L], carried backwards
  float* dA;   // [N][L], the group's ∂A
  float* dB;   // [N], this row's ∂B (a block's partial sum)
  float* dC;   // [N], this row's ∂C
  float* ddt;  // [L]
  float* dx;   // [L]
};

/**
 * One step of the backward for a lane group, given g = ∂y_t and the states h_t, h_{t-1} and
 * decays: adds into `out`, then carries ∂h back through the decay. Its own function so the
 * ISA clones apply and the pointers are known not to alias.
 */
ATTNKIT_CLONES void group_back(const float* ATTNKIT_RESTRICT h, const float* ATTNKIT_RESTRICT hp,
                               const float* ATTNKIT_RESTRICT dec, const float* ATTNKIT_RESTRICT a,
                               const float* ATTNKIT_RESTRICT bt, const float* ATTNKIT_RESTRICT ct,
                               const float* ATTNKIT_RESTRICT g, const Lanes in, int64_t N,
                               const Grads& out) {
  float* ATTNKIT_RESTRICT dh = out.dh;
  float* ATTNKIT_RESTRICT dA = out.dA;
  float ddt[L], dx[L], dtx[L];
  for (int64_t l = 0; l < L; l++) {
    ddt[l] = out.ddt[l];
    dx[l] = out.dx[l];
    dtx[l] = in.dt[l] * in.x[l];
  }
  for (int64_t n = 0; n < N; n++) {
    float sumC[L], sumB[L];
    for (int64_t l = 0; l < L; l++) {
      const int64_t at = n * L + l;
      const float dhl = dh[at] + g[l] * ct[n];
      sumC[l] = g[l] * h[at];
      const float carry = dhl * hp[at] * dec[at];  // ∂/∂(ΔA) of the decayed term
      dA[at] += carry * in.dt[l];
      ddt[l] += carry * a[at] + dhl * bt[n] * in.x[l];
      sumB[l] = dhl * dtx[l];
      dx[l] += dhl * in.dt[l] * bt[n];
      dh[at] = dhl * dec[at];
    }
    float c = 0.f, b = 0.f;
    for (int64_t l = 0; l < L; l++) {
      c += sumC[l];
      b += sumB[l];
    }
    out.dC[n] += c;
    out.dB[n] += b;
  }
  for (int64_t l = 0; l < L; l++) {
    out.ddt[l] = ddt[l];
    out.dx[l] = dx[l];
  }
}

/** A [E, N] of a group's channels as [N][L] (zeros past the last channel). */
void group_decays(const float* A, int64_t e0, int64_t width, int64_t N, float* a) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t l = 0; l < L; l++) a[n * L + l] = l < width ? A[(e0 + l) * N + n] : 0.f;
}

}  // namespace

void selective_scan_forward(const ScanShape& s, const float* u, const float* delta,
                            const float* A, const float* B, const float* C, const float* D,
                            const float* h0, float* y, float* last) {
  const int64_t E = s.channels, N = s.state, groups = (E + L - 1) / L;
  parallel_for_checked(s.batch * groups, [&](int64_t task) {
    const int64_t b = task / groups, e0 = (task % groups) * L, width = std::min(L, E - e0);
    std::vector<float> h(N * L), a(N * L), decay(N * L);
    group_decays(A, e0, width, N, a.data());
    for (int64_t n = 0; n < N; n++)
      for (int64_t l = 0; l < width; l++) h[n * L + l] = h0[(b * E + e0 + l) * N + n];
    for (int64_t i = 0; i < s.t; i++) {
      const int64_t row = b * s.t + i;
      const Lanes in = load(delta, u, row * E + e0, width);
      group_step(h.data(), h.data(), decay.data(), a.data(), B + row * N, in, N);
      const float* ct = C + row * N;
      float acc[L] = {};
      for (int64_t n = 0; n < N; n++)
        for (int64_t l = 0; l < L; l++) acc[l] += ct[n] * h[n * L + l];
      for (int64_t l = 0; l < width; l++) y[row * E + e0 + l] = acc[l] + D[e0 + l] * in.x[l];
    }
    for (int64_t n = 0; n < N; n++)
      for (int64_t l = 0; l < width; l++) last[(b * E + e0 + l) * N + n] = h[n * L + l];
  });
}

void selective_scan_backward(const ScanShape& s, const float* u, const float* delta,
                             const float* A, const float* B, const float* C, const float* D,
                             const float* h0, const float* dy, const float* dlast, float* du,
                             float* ddelta, float* dA, float* dB, float* dC, float* dD,
                             float* dh0) {
  const int64_t E = s.channels, N = s.state, T = s.t, rows = s.batch * T;
  const int64_t groups = (E + L - 1) / L;
  // dB and dC sum over channels: each block of lane groups adds into its own copy, reduced at the
  // end. The block count depends on E only (not on threads), so threads never change results.
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(groups, 16));
  std::vector<float> partB(blocks * rows * N, 0.f), partC(blocks * rows * N, 0.f);
  std::fill(dA, dA + E * N, 0.f);
  std::fill(dD, dD + E, 0.f);
  parallel_for_checked(blocks, [&](int64_t k) {
    float* pB = partB.data() + k * rows * N;
    float* pC = partC.data() + k * rows * N;
    std::vector<float> hs((T + 1) * N * L), decays(T * N * L), dh(N * L), a(N * L), dAg(N * L);
    for (int64_t grp = groups * k / blocks; grp < groups * (k + 1) / blocks; grp++) {
      const int64_t e0 = grp * L, width = std::min(L, E - e0);
      group_decays(A, e0, width, N, a.data());
      std::fill(dAg.begin(), dAg.end(), 0.f);
      float dDg[L] = {};
      for (int64_t b = 0; b < s.batch; b++) {
        // Every state of the group: hs[i + 1] = h_i, hs[0] = h0 ((T + 1)·N·L floats).
        std::fill(hs.begin(), hs.begin() + N * L, 0.f);
        std::fill(dh.begin(), dh.end(), 0.f);
        for (int64_t n = 0; n < N; n++)
          for (int64_t l = 0; l < width; l++) {
            hs[n * L + l] = h0[(b * E + e0 + l) * N + n];
            dh[n * L + l] = dlast[(b * E + e0 + l) * N + n];
          }
        for (int64_t i = 0; i < T; i++) {
          const int64_t row = b * T + i;
          group_step(hs.data() + i * N * L, hs.data() + (i + 1) * N * L,
                     decays.data() + i * N * L, a.data(), B + row * N,
                     load(delta, u, row * E + e0, width), N);
        }
        for (int64_t i = T - 1; i >= 0; i--) {
          const int64_t row = b * T + i;
          const Lanes in = load(delta, u, row * E + e0, width);
          float g[L];
          for (int64_t l = 0; l < L; l++) g[l] = l < width ? dy[row * E + e0 + l] : 0.f;
          const float* bt = B + row * N;
          const float* ct = C + row * N;
          const float* h = hs.data() + (i + 1) * N * L;
          const float* hp = hs.data() + i * N * L;
          const float* dec = decays.data() + i * N * L;
          float ddt[L] = {}, dx[L];
          for (int64_t l = 0; l < L; l++) {
            dx[l] = g[l] * (l < width ? D[e0 + l] : 0.f);
            dDg[l] += g[l] * in.x[l];
          }
          const Grads out{dh.data(), dAg.data(), pB + row * N, pC + row * N, ddt, dx};
          group_back(h, hp, dec, a.data(), bt, ct, g, in, N, out);
          for (int64_t l = 0; l < width; l++) {
            ddelta[row * E + e0 + l] = ddt[l];
            du[row * E + e0 + l] = dx[l];
          }
        }
        for (int64_t n = 0; n < N; n++)
          for (int64_t l = 0; l < width; l++) dh0[(b * E + e0 + l) * N + n] = dh[n * L + l];
      }
      for (int64_t l = 0; l < width; l++) {
        dD[e0 + l] = dDg[l];
        for (int64_t n = 0; n < N; n++) dA[(e0 + l) * N + n] = dAg[n * L + l];
      }
    }
  });
  parallel_for(rows, [&](int64_t row) {
    for (int64_t n = 0; n < N; n++) {
      float sb = 0.f, sc = 0.f;
      for (int64_t k = 0; k < blocks; k++) {
        sb += partB[(k * rows + row) * N + n];
        sc += partC[(k * rows + row) * N + n];
      }
      dB[row * N + n] = sb;
      dC[row * N + n] = sc;
    }
  });
}

}  // namespace attnkit
