import torch, os, sys
from torch.export import export, save, load
from safetensors.torch import save_file
OUT = sys.argv[1]  # usage: python gen_unbacked.py OUTDIR

class ConstrainAsSize(torch.nn.Module):
    def forward(self, x):
        a = x.item()
        torch._check_is_size(a)
        torch._check(a <= 5)
        return torch.zeros((a, 5))

class ConstrainAsValue(torch.nn.Module):
    def forward(self, x, y):
        a = x.item()
        torch._check(a >= 0)
        torch._check(a <= 5)
        if a < 6:
            return y.sin()
        return y.cos()

class Nonzero(torch.nn.Module):
    def forward(self, x):
        idx = torch.nonzero(x)
        return idx.float().sum(0) + idx.shape[0]

class ItemArith(torch.nn.Module):
    def forward(self, x, y):
        n = x.item()
        torch._check_is_size(n)
        torch._check(n <= 8)
        return y.new_ones(n * 2 + 1).sum() + y[:n].sum()

def go(name, m, args, extra):
    ep = export(m, args)
    print(ep)
    tensors = {}
    for prefix, a in [("", args)] + extra:
        out = m(*a)
        outs = out if isinstance(out, tuple) else (out,)
        for i, t in enumerate(a): tensors[f"{prefix}in{i}"] = t.contiguous()
        for j, t in enumerate(outs): tensors[f"{prefix}out{j}"] = t.contiguous()
    save_file(tensors, os.path.join(OUT, f"{name}.io.safetensors"))
    for suffix, prog in (("", ep), (".core", ep.run_decompositions())):
        p = os.path.join(OUT, f"{name}{suffix}.pt2")
        save(prog, p)
        back = load(p)
        for prefix, a in [("", args)] + extra:
            got = back.module()(*a)
            got = got if isinstance(got, tuple) else (got,)
            for j, t in enumerate(got):
                assert torch.allclose(t, tensors[f"{prefix}out{j}"])
    print("ok", name)

go("constrain_as_size", ConstrainAsSize(), (torch.tensor(4),), [("b_", (torch.tensor(0),)), ("c_", (torch.tensor(5),))])
go("constrain_as_value", ConstrainAsValue(), (torch.tensor(4), torch.randn(5, 5)), [("b_", (torch.tensor(1), torch.randn(5, 5)))])
go("nonzero", Nonzero(), (torch.tensor([[1., 0.], [0., 3.]]),), [("b_", (torch.tensor([[0., 0.], [2., 3.]]),))])
go("item_arith", ItemArith(), (torch.tensor(3), torch.randn(8)), [("b_", (torch.tensor(8), torch.randn(8)))])
