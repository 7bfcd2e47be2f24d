"""Golden values for isotropic Adaptive Filter Attention (Racioppo 2025, arXiv 2509.04154,
sec. 2.5 and 3.6), written out in PyTorch with complex numbers and plain loops over query i and key
j <= i (independently of attnkit's factorised residual and its rotations):

  per head: Lambda = -mu + i Omega, Delta = i - j, khat_ij = exp(Lambda Delta) k_j,
  V_ij = sigma^2 (1 - exp(-2 mu Delta)) / (2 mu) + eta^2 exp(-2 mu Delta) + gamma^2,
  s_ij = tau^2 (-log V_ij - log(1 + |q_i - khat_ij|^2 / (nu m V_ij))), A_i = softmax_j(s_ij),
  z_i = sum_j A_ij exp(Lambda Delta) v_j;  out = [Re z, Im z] W_o (per head, heads concatenated).
mu = softplus(decay) + 1e-4, sigma^2 = softplus(processNoise), eta^2 = softplus(measurementNoise)
+ 1e-6, gamma^2 = softplus(anchorNoise) + 1e-6, nu = softplus(robustness) + 1e-6, tau = temperature;
a head's projection is [Re (m), Im (m)]. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/afa_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/afa.json')
B, T, D, H, HD = 2, 7, 8, 2, 4
M = HD // 2
F = torch.nn.functional


def afa(x, w):
    def heads(y):
        y = y.reshape(B, T, H, HD)
        return torch.complex(y[..., :M], y[..., M:])

    q, k, v = heads(x @ w['q.weight']), heads(x @ w['k.weight']), heads(x @ w['v.weight'])
    mu = F.softplus(w['decay']) + 1e-4
    sigma2 = F.softplus(w['processNoise'])
    eta2 = F.softplus(w['measurementNoise']) + 1e-6
    gamma2 = F.softplus(w['anchorNoise']) + 1e-6
    nu = F.softplus(w['robustness']) + 1e-6
    tau = w['temperature']
    rows = []
    for i in range(T):
        per_head = []
        for h in range(H):
            lam = torch.complex(-mu[h].expand(M), w['frequencies'][h])
            scores, pulled = [], []
            for j in range(i + 1):
                delta = float(i - j)
                prop = torch.exp(lam * delta)  # [M]
                r = q[:, i, h] - prop * k[:, j, h]
                r2 = (r.real ** 2 + r.imag ** 2).sum(-1)  # [B]
                var = sigma2[h] * (1 - torch.exp(-2 * mu[h] * delta)) / (2 * mu[h]) \
                    + eta2[h] * torch.exp(-2 * mu[h] * delta) + gamma2[h]
                scores.append(tau[h] ** 2 * (-torch.log(var) - torch.log(1 + r2 / (nu[h] * M * var))))
                pulled.append(prop * v[:, j, h])
            a = torch.softmax(torch.stack(scores, -1), -1)  # [B, i+1]
            z = sum(a[:, j, None] * pulled[j] for j in range(i + 1))  # [B, M]
            per_head.append(torch.cat([z.real, z.imag], -1))
        rows.append(torch.cat(per_head, -1))
    return torch.stack(rows, 1) @ w['o.weight']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def rnd(*shape, scale=0.4):
    return torch.randn(*shape) * scale


w = {
    'q.weight': rnd(D, H * HD), 'k.weight': rnd(D, H * HD), 'v.weight': rnd(D, H * HD),
    'o.weight': rnd(H * HD, D),
    'decay': rnd(H, scale=0.5) - 1.5, 'frequencies': rnd(H, M, scale=0.5),
    'processNoise': rnd(H, scale=0.5), 'measurementNoise': rnd(H, scale=0.5),
    'anchorNoise': rnd(H, scale=0.5), 'robustness': rnd(H, scale=0.5),
    'temperature': 1 + rnd(H, scale=0.2),
}
small = ['decay', 'frequencies', 'processNoise', 'measurementNoise', 'anchorNoise', 'robustness',
         'temperature']
for n in small:
    w[n].requires_grad_()
x = torch.randn(B, T, D, requires_grad=True)
probe = torch.randn(B, T, D)
y = afa(x, w)
(y * probe).sum().backward()
case = {
    'config': {'type': 'adaptive-filter-attention', 'dModel': D, 'numHeads': H},
    'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
    'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
    'gradWeights': {n: flat(w[n].grad) for n in small}, 'shape': [B, T, D],
}
with open(OUT, 'w') as f:
    json.dump(case, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
