import torch, sys
from torch.export import export, save, Dim
class M(torch.nn.Module):
    def forward(self, x, n):
        return x[:n] * n
ep = export(M(), (torch.randn(8, 3), 4), dynamic_shapes=(None, Dim.DYNAMIC))
print(ep)
save(ep, "/tmp/symin/symin.pt2")
ep2 = export(M(), (torch.randn(8, 3), 4))
print(ep2)
save(ep2, "/tmp/symin/constin.pt2")
