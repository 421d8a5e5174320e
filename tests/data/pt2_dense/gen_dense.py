# Writes dense.pt2 (default IR), dense.core.pt2 (PyTorch's core IR: `_ex` ops with
# `with_effects` error checks, which ferrex does not read yet) and dense.io.safetensors.
# `python gen_dense.py OUT` with PyTorch 2.15 (a development tool, never a dependency).
import os, sys, torch
from torch.export import export, save
from safetensors.torch import save_file
OUT = sys.argv[1]
torch.manual_seed(0)

class Dense(torch.nn.Module):
    # inv, det, slogdet, solve (a matrix and a vector right-hand side, a broadcast batch), cholesky (lower, upper), matrix_power (3, 0, -2), matrix norms (fro, 1, -inf, keepdim).
    def forward(s, a, b, v):
        spd = a @ a.mT + torch.eye(3)
        return (torch.linalg.inv(spd), torch.linalg.det(a), torch.linalg.slogdet(a)[0], torch.linalg.slogdet(a)[1], torch.linalg.solve(spd, b),
                torch.linalg.solve(spd, v), torch.linalg.solve(spd[0], b), torch.linalg.cholesky(spd), torch.linalg.cholesky(spd, upper=True),
                torch.linalg.matrix_power(a, 3), torch.linalg.matrix_power(a, 0), torch.linalg.matrix_power(spd, -2), torch.linalg.matrix_norm(a),
                torch.linalg.matrix_norm(a, 1), torch.linalg.matrix_norm(a, -float("inf"), keepdim=True), torch.linalg.norm(a, "fro", dim=(-2, -1)))

m = Dense().eval()
args = (torch.randn(2, 3, 3), torch.randn(2, 3, 2), torch.randn(2, 3))
ep = export(m, args)
with torch.no_grad():
    outs = m(*args)
t = {f"in{i}": x.contiguous() for i, x in enumerate(args)}
t.update({f"out{j}": o.contiguous().clone() for j, o in enumerate(outs)})
save_file(t, os.path.join(OUT, "dense.io.safetensors"))
save(ep, os.path.join(OUT, "dense.pt2"))
save(ep.run_decompositions(), os.path.join(OUT, "dense.core.pt2"))
print("ok dense")
