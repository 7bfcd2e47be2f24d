#include "selective_scan.h"

#include <algorithm>
#include <vector>

#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

/** Channels [lo, hi) of every batch row: the tasks own their channels' A and D gradients. */
struct Block {
  int64_t lo, hi;
};

/** h ← exp(Δ a) ⊙ h + (Δ x) b over one channel's N states (branch-free exp: vectorises). */
ATTNKIT_CLONES void step(float* ATTNKIT_RESTRICT h, const float* a, const float* b, float dt,
                         float x, int64_t N) {
  for (int64_t n = 0; n < N; n++) h[n] = exp_f(dt * a[n]) * h[n] + dt * b[n] * x;
}

/** The same from hp into h, keeping the decays for the backward. */
ATTNKIT_CLONES void step_keep(const float* hp, float* ATTNKIT_RESTRICT h,
                              float* ATTNKIT_RESTRICT decay, const float* a, const float* b,
                              float dt, float x, int64_t N) {
  for (int64_t n = 0; n < N; n++) {
    decay[n] = exp_f(dt * a[n]);
    h[n] = decay[n] * hp[n] + dt * b[n] * x;
  }
}

}  // namespace

void selective_scan_forward(const ScanShape& s, const float* u, const float* delta,
                            const float* A, const float* B, const float* C, const float* D,
                            const float* h0, float* y, float* last) {
  const int64_t E = s.channels, N = s.state;
  parallel_for_checked(s.batch * E, [&](int64_t task) {
    const int64_t b = task / E, e = task % E;
    std::vector<float> h(h0 + (b * E + e) * N, h0 + (b * E + e) * N + N);
    const float* a = A + e * N;
    for (int64_t i = 0; i < s.t; i++) {
      const int64_t row = b * s.t + i;
      const float dt = delta[row * E + e], x = u[row * E + e];
      const float* bt = B + row * N;
      const float* ct = C + row * N;
      step(h.data(), a, bt, dt, x, N);
      float acc = 0.f;
      for (int64_t n = 0; n < N; n++) acc += ct[n] * h[n];
      y[row * E + e] = acc + D[e] * x;
    }
    std::copy(h.begin(), h.end(), last + (b * E + e) * N);
  });
}

void selective_scan_backward(const ScanShape& s, const float* u, const float* delta,
                             const float* A, const float* B, const float* C, const float* D,
                             const float* h0, const float* dy, const float* dlast, float* du,
                             float* ddelta, float* dA, float* dB, float* dC, float* dD,
                             float* dh0) {
  const int64_t E = s.channels, N = s.state, T = s.t, rows = s.batch * T;
  // dB and dC sum over channels: each block adds into its own copy, reduced at the end. A fixed
  // block count (not the thread count) keeps the summation order, so threads never change results.
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(E, 16));
  std::vector<float> partB(blocks * rows * N, 0.f), partC(blocks * rows * N, 0.f);
  std::fill(dA, dA + E * N, 0.f);
  std::fill(dD, dD + E, 0.f);
  parallel_for_checked(blocks, [&](int64_t k) {
    const Block blk{E * k / blocks, E * (k + 1) / blocks};
    float* pB = partB.data() + k * rows * N;
    float* pC = partC.data() + k * rows * N;
    std::vector<float> hs((T + 1) * N), decays(T * N), dh(N);
    for (int64_t b = 0; b < s.batch; b++) {
      for (int64_t e = blk.lo; e < blk.hi; e++) {
        const float* a = A + e * N;
        // Every state of this channel: hs[i + 1] = h_i, hs[0] = h0 (T·N floats).
        std::copy(h0 + (b * E + e) * N, h0 + (b * E + e) * N + N, hs.begin());
        for (int64_t i = 0; i < T; i++) {
          const int64_t row = b * T + i;
          const float dt = delta[row * E + e], x = u[row * E + e];
          step_keep(hs.data() + i * N, hs.data() + (i + 1) * N, decays.data() + i * N, a,
                    B + row * N, dt, x, N);
        }
        std::copy(dlast + (b * E + e) * N, dlast + (b * E + e) * N + N, dh.begin());
        float* dAe = dA + e * N;
        for (int64_t i = T - 1; i >= 0; i--) {
          const int64_t row = b * T + i;
          const float dt = delta[row * E + e], x = u[row * E + e], g = dy[row * E + e];
          const float* bt = B + row * N;
          const float* ct = C + row * N;
          const float* h = hs.data() + (i + 1) * N;
          const float* hp = hs.data() + i * N;
          float ddt = 0.f, dx = g * D[e];
          dD[e] += g * x;
          for (int64_t n = 0; n < N; n++) {
            dh[n] += g * ct[n];
            pC[row * N + n] += g * h[n];
            const float decay = decays[i * N + n];
            const float carry = dh[n] * hp[n] * decay;  // ∂/∂(ΔA) of the decayed term
            dAe[n] += carry * dt;
            ddt += carry * a[n] + dh[n] * bt[n] * x;
            pB[row * N + n] += dh[n] * dt * x;
            dx += dh[n] * dt * bt[n];
            dh[n] *= decay;
          }
          ddelta[row * E + e] = ddt;
          du[row * E + e] = dx;
        }
        std::copy(dh.begin(), dh.end(), dh0 + (b * E + e) * N);
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
