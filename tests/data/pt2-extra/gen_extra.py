# Written by PyTorch 2.15 (a development tool, never a dependency): python gen_extra.py in a
# PyTorch venv writes tied.* and strided.* (dynfill needs ops ferrex lacks: new_zeros,
# copy_ into a slice, slice_scatter). Inputs in0.., outputs out0.. per program.
import torch, torch.nn as nn
from torch.export import export, save, Dim
from safetensors.torch import save_file

class Tied(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(10, 4); s.head = nn.Linear(4, 10, bias=False); s.head.weight = s.emb.weight
        s.register_buffer("scale", torch.tensor([2.0]), persistent=False)
        s.c = torch.arange(4.0)
    def forward(s, idx):
        h = s.emb(idx) * s.scale + s.c
        h = torch.nn.functional.dropout(h, 0.1, training=False)
        return s.head(h).to(torch.float64), idx.sum()

class Dyn(nn.Module):
    def forward(s, x):
        n = x.shape[0]
        y = x.new_zeros(n * 2, 3)
        y[:n] = x
        return y.reshape(-1).softmax(0), torch.ones(n // 2)

class Strided(nn.Module):
    def __init__(s):
        super().__init__()
        base = torch.randn(6, 4)
        s.w = nn.Parameter(base.t())     # non-contiguous param
        s.register_buffer("b", base[1])  # shares storage with w? (buffer view)
    def forward(s, x):
        return x @ s.w + s.b[:1]

def go(name, m, args, ds=None):
    m.eval()
    ep = export(m, args, dynamic_shapes=ds)
    save(ep, f"{name}.pt2")
    save(ep.run_decompositions(), f"{name}.core.pt2")
    with torch.no_grad():
        out = m(*[a.clone() for a in args])
    out = out if isinstance(out, tuple) else (out,)
    t = {f"in{i}": a.contiguous() for i, a in enumerate(args)}
    t.update({f"out{j}": o.contiguous().clone() for j, o in enumerate(out)})
    save_file(t, f"{name}.io.safetensors")
    print(name, ep.graph_signature.input_specs)
    print(ep.graph)

go("tied", Tied(), (torch.tensor([[1, 2, 3], [4, 5, 9]]),))
go("dynfill", Dyn(), (torch.randn(6, 3),), ({0: Dim("n", min=4, max=64)},))
go("strided", Strided(), (torch.randn(3, 4),))
