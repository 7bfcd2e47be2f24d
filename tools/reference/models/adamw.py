"""Golden values for @attnkit/models AdamW: torch.optim.AdamW over three steps with given
gradients, one parameter group with weight decay (matrices) and one without (vectors).
Run: /usr/bin/python3 tools/reference/models/adamw.py"""
import json
import os

import numpy as np
import torch

rng = np.random.default_rng(0)
w = rng.normal(size=(3, 4)).astype(np.float32)
g = rng.normal(size=(4,)).astype(np.float32)
grads = [
    {"w": rng.normal(size=(3, 4)).astype(np.float32), "g": rng.normal(size=(4,)).astype(np.float32)}
    for _ in range(3)
]
lrs = [0.01, 0.02, 0.005]
beta1, beta2, eps, wd = 0.9, 0.95, 1e-8, 0.1

pw = torch.nn.Parameter(torch.tensor(w))
pg = torch.nn.Parameter(torch.tensor(g))
opt = torch.optim.AdamW(
    [{"params": [pw], "weight_decay": wd}, {"params": [pg], "weight_decay": 0.0}],
    lr=lrs[0], betas=(beta1, beta2), eps=eps,
)
for step, lr in enumerate(lrs):
    for group in opt.param_groups:
        group["lr"] = lr
    pw.grad = torch.tensor(grads[step]["w"])
    pg.grad = torch.tensor(grads[step]["g"])
    opt.step()

out = {
    "beta1": beta1, "beta2": beta2, "eps": eps, "weightDecay": wd, "lrs": lrs,
    "initial": {"w": w.tolist(), "g": g.tolist()},
    "grads": [{k: v.tolist() for k, v in s.items()} for s in grads],
    "final": {"w": pw.detach().numpy().tolist(), "g": pg.detach().numpy().tolist()},
}
path = os.path.join(os.path.dirname(__file__), "../../../packages/models/test/fixtures/adamw.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
