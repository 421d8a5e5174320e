import torch
from torch.export import Dim
class SymCond(torch.nn.Module):
    def forward(self, x, y):
        def t(x, y): return x + y
        def f(x, y): return x - y
        return torch.cond(x.shape[0] > 2, t, f, (x, y))
class SymView(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0] + 1, 3) + x.reshape(x.shape[0] * 2, -1).sum()
d = Dim("d", min=1, max=64)
ep = torch.export.export(SymCond(), (torch.randn(4, 2), torch.randn(2)), dynamic_shapes={"x": {0: d}, "y": None})
print(ep)
torch.export.save(ep, "symcond.pt2")
ep2 = torch.export.export(SymView(), (torch.randn(4, 2),), dynamic_shapes={"x": {0: d}})
print(ep2)
torch.export.save(ep2, "symarith.pt2")
