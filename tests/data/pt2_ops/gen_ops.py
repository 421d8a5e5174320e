# PyTorch 2.15 programs of single ops (or small groups) that PyTorch models record and
# ferrex reads: NAME.pt2 (default IR), NAME.core.pt2 (run_decompositions()),
# NAME.io.safetensors (inputs in0…, PyTorch's outputs out0…). Run from this folder:
#   python gen_ops.py            (PyTorch in a side venv, ../../../../shared/tools/setup_torch.sh)
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import save_file
from torch.export import export, save

torch.manual_seed(0)


class M(nn.Module):
    def __init__(s, f, mods=None):
        super().__init__()
        s.f = f
        if mods:
            s.mods = nn.ModuleList(mods)

    def forward(s, *a):
        return s.f(s, *a)


x3 = torch.randn(2, 4, 9)
x4 = torch.randn(2, 4, 6, 7)
x2 = torch.randn(5, 8)
y2 = torch.randn(5, 8)
CASES = {
    "max_pool1d": (lambda s, x: F.max_pool1d(x, 3, 2) + F.max_pool1d(x, 3, 2, 1, ceil_mode=True)[..., :4], (x3,)),
    "adaptive_avg_pool1d": (lambda s, x: F.adaptive_avg_pool1d(x, 4), (x3,)),
    "upsample_1d": (lambda s, x: F.interpolate(x, scale_factor=2, mode="nearest")[..., :13] + F.interpolate(x, size=13, mode="linear"), (x3,)),
    "unbind": (lambda s, x: x.unbind(1)[2] * 2 + x.unbind(1)[0], (x3,)),
    "movedim": (lambda s, x: x.movedim(1, -1) + 1, (x4,)),
    "repeat_interleave": (lambda s, x: x.repeat_interleave(2, dim=1), (x2,)),
    "masked_fill": (lambda s, x: x.masked_fill(x > 0.5, -1.0).masked_fill(torch.triu(torch.ones(5, 8, dtype=torch.bool), 1), float("-inf")).softmax(-1), (x2,)),
    "scalar_arith": (lambda s, x: (1 - x) + (x + 2.5) * (x - 1) / 3 + torch.remainder(x, 0.3) + torch.fmod(x, 0.3) + x // 0.3 + torch.trunc(x * 3), (x2,)),
    "activations": (lambda s, x: F.relu6(x * 4) + F.selu(x) + F.celu(x, 0.5) + F.glu(x, 1).sum() + F.threshold(x, 0.1, 20.0) + F.softshrink(x) + F.hardshrink(x) + F.tanhshrink(x) + F.hardtanh(x) + F.softsign(x), (x2,)),
    "prelu": (lambda s, x: s.mods[0](x), (x4,), [nn.PReLU(4, init=0.1)]),
    "rms_norm": (lambda s, x: s.mods[0](x), (x2,), [nn.RMSNorm(8)]),
    "norms": (lambda s, x, y: F.normalize(x, dim=1) + torch.linalg.norm(x, dim=1, keepdim=True) + x.norm(p=1, dim=1, keepdim=True) + F.cosine_similarity(x, y, dim=1)[:, None] + F.pairwise_distance(x, y)[:, None], (x2, y2)),
    "reductions": (lambda s, x: x.max() + x.min() + x.std() + x.var(unbiased=False) + torch.var_mean(x, 1)[0].sum() + torch.std_mean(x, 1)[1].sum() + x.median(1)[0].sum() + torch.count_nonzero(x > 0), (x2,)),
    "trig": (lambda s, x: torch.asin(x.clamp(-1, 1)) + torch.acos(x.clamp(-1, 1)) + torch.atan(x) + torch.sinh(x) + torch.cosh(x) + torch.asinh(x) + torch.atanh(x.clamp(-0.9, 0.9)) + torch.log2(x.abs() + 1) + torch.log10(x.abs() + 1) + torch.exp2(x) + torch.acosh(x.abs() + 1), (x2,)),
    "binary_math": (lambda s, x, y: torch.lerp(x, y, 0.3) + torch.lerp(x, y, 0.7) + torch.hypot(x, y) + torch.logaddexp(x, y) + torch.addcmul(x, x, y, value=0.5) + torch.addcdiv(x, x, y.abs() + 1) + x.clamp_min(-0.2) + x.clamp_max(0.3) + torch.clamp(x, min=y, max=y + 1), (x2, y2)),
    "nan_to_num": (lambda s, x: torch.nan_to_num(x / 0.0 * torch.sign(x)) + torch.isnan(x.log()).float() + torch.isinf(x / 0.0).float(), (x2,)),
    "bitwise": (lambda s, i, j: (i & j) + (i | j) + (i ^ j) + (~i) + (i << 1) + (i >> 1), (torch.randint(0, 50, (5,)), torch.randint(0, 50, (5,)))),
    "bool_masks": (lambda s, x: torch.where((x > 0) & (x < 1) | ~(x > -1), x, 0.0), (x2,)),
    "sort": (lambda s, x: torch.sort(x, 1, descending=True)[0] + torch.argsort(x, 1).float() + torch.sort(x, 0)[1].float(), (x2,)),
    "cumprod": (lambda s, x: torch.cumprod(x, 1), (x2,)),
    "scatter": (lambda s, x, i: torch.zeros(5, 10).scatter_add(1, i, x) + torch.zeros(5, 10).scatter_reduce(1, i, x, "amax", include_self=False) + torch.ones(5, 10).scatter_reduce(1, i, x, "mean"), (x2, torch.randint(0, 10, (5, 8)))),
    "index_add": (lambda s, x, i: torch.zeros(7, 8).index_add(0, i, x, alpha=2.0), (x2, torch.tensor([0, 2, 2, 6, 1]))),
    "stacks": (lambda s, x, y: torch.hstack([x, y]) + 1, (x2, y2)),
    "vstack": (lambda s, x, y: torch.vstack([x, y]) * 2, (x2, y2)),
    "meshgrid": (lambda s, x, y: torch.stack(torch.meshgrid(x, y, indexing="ij")) + torch.stack(torch.meshgrid(x, x, indexing="xy")).sum(), (torch.randn(3), torch.randn(4))),
    "broadcast_tensors": (lambda s, x, y: torch.broadcast_tensors(x, y)[0] * torch.broadcast_tensors(x, y)[1], (torch.randn(5, 1), torch.randn(1, 8))),
    "diagonal": (lambda s, x: torch.diagonal(x) + torch.diagonal(x, 1).sum() + torch.diagonal(x, -2).sum(), (torch.randn(6, 6),)),
    "diff": (lambda s, x: torch.diff(x, dim=1) + torch.diff(x, n=2, dim=1, append=x[:, :1]).sum(), (x2,)),
    "one_hot": (lambda s, i: F.one_hot(i, 6).float() * 2, (torch.randint(0, 6, (7,)),)),
    "baddbmm_outer": (lambda s, x, y, z, u: torch.baddbmm(z, x, y, beta=0.5, alpha=2.0) + torch.outer(u, u)[:3, :5], (torch.randn(2, 3, 4), torch.randn(2, 4, 5), torch.randn(2, 3, 5), torch.randn(5))),
    "expand_zeros_like": (lambda s, x, y: x[:, :1].expand_as(y) * y + torch.zeros_like(x) + torch.full_like(x, 2.0), (x2, y2)),
    "overloads": (lambda s, x, y: torch.fmod(x, y) + torch.rsub(x, y) + torch.div(x, 2.0) + torch.sub(x, 2.0) + x.masked_fill(x > 0, torch.tensor(1.5)) + torch.where(x > 0, 1.0, 0.0) + torch.where(x > 0, 2.0, x) + torch.sort(x, stable=True)[0] + torch.argsort(x, stable=True).float() + torch.std_mean(x)[0] + torch.count_nonzero(x > 0, dim=(0, 1)) + x.std(unbiased=True), (x2, y2)),
    "int_shifts": (lambda s, i, j: (i << j) + (i >> j), (torch.randint(-50, 50, (6,)), torch.randint(0, 4, (6,)))),
    "alpha_dropout_eval": (lambda s, x: F.alpha_dropout(x, 0.2, training=False) + F.feature_alpha_dropout(x, 0.2, training=False), (x4,)),
    "dropout2d_eval": (lambda s, x: nn.functional.dropout2d(x, 0.3, training=False) + 1, (x4,)),
}

for name, case in CASES.items():
    f, args = case[0], case[1]
    m = M(f, case[2] if len(case) > 2 else None).eval()
    ep = export(m, args)
    save(ep, f"{name}.pt2")
    save(ep.run_decompositions(), f"{name}.core.pt2")
    with torch.no_grad():
        out = m(*args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    t = {f"in{i}": a.clone().contiguous() for i, a in enumerate(args)}
    t.update({f"out{j}": o.clone().contiguous() for j, o in enumerate(outs)})
    save_file(t, f"{name}.io.safetensors")
    print(name, [o.shape for o in outs])
