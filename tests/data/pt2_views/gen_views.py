"""Programs whose in-place ops write through views (usage: python gen_views.py OUTDIR)."""
import sys
import torch
import torch.nn as nn

import os
from torch.export import export, save
from safetensors.torch import save_file
OUT = sys.argv[1]
torch.manual_seed(0)

def go(name, m, args, extra=(), mutates=()):
    ep = export(m, args)
    tensors = {}
    for prefix, a in [("", args)] + list(extra):
        m2 = m
        state = {k: v.clone() for k, v in m.state_dict().items()}
        with torch.no_grad():
            out = m2(*[t.clone() for t in a])
        for k, b in enumerate(mutates):
            tensors[f"{prefix}mut{k}"] = m.state_dict()[b].clone().contiguous()
        m.load_state_dict(state)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for i, t in enumerate(a): tensors[f"{prefix}in{i}"] = t.contiguous()
        for j, t in enumerate(outs): tensors[f"{prefix}out{j}"] = t.contiguous()
    save_file(tensors, os.path.join(OUT, f"{name}.io.safetensors"))
    for suffix, prog in (("", ep), (".core", ep.run_decompositions())):
        save(prog, os.path.join(OUT, f"{name}{suffix}.pt2"))
    print("ok", name)

class KVCache(nn.Module):
    def __init__(s):
        super().__init__(); s.register_buffer("cache", torch.zeros(2, 8, 4))
    def forward(s, x):
        s.cache[:, 0:2] = x
        return s.cache.sum(1)

class InplaceView(nn.Module):
    def forward(s, x):
        y = x.clone()
        y[:, 0] += 1
        y[1:].mul_(2)
        return y

class StaleView(nn.Module):
    def forward(s, x):
        y = x.clone()
        first = y[0]
        y.add_(1)
        inner = y[1:][:, 1:3]
        inner.mul_(10)
        return first * 1, y

class ReshapingViews(nn.Module):
    def forward(s, x):
        y = x.clone()
        rows = y[0]
        y.t()[1].mul_(3)
        y.view(-1)[2:5] = -1.0
        y.unsqueeze(0)[0, 2].add_(rows)
        y.permute(1, 0)[0].sub_(0.5)
        return y, rows * 1

r = torch.randn
go("kvcache", KVCache(), (r(2, 2, 4),), [("b_", (r(2, 2, 4),))], mutates=["cache"])
go("inplace_view", InplaceView(), (r(3, 4),), [("b_", (r(3, 4),))])
go("stale_view", StaleView(), (r(3, 4),), [("b_", (r(3, 4),))])
go("reshaping_views", ReshapingViews(), (r(3, 4),), [("b_", (r(3, 4),))])
