"""PyTorch's side of the rows `examples/bench_rows.rs` measures beyond
`../shared/tools/bench_torch.py`'s: the zoo's transformer block and GroupNorm/Embedding
residual block, a ResNet basic block and a MobileNetV2 inverted residual, each defined as
in bench_rows.rs / src/zoo. The timing harness (warm-up, rounds, clean rounds, report
format, eager / ep.module() / --compile runners) is bench_torch.py's own, loaded from it.

usage: python tools/bench_torch_rows.py THREADS [--compile] [transformer residual resblock invres]
PyTorch comes from ../shared/tools/setup_torch.sh: a development tool, never a project
dependency, and no part of the tests or CI.
"""
import os
import sys

import torch

HARNESS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools", "bench_torch.py")
ROWS = ["transformer", "residual", "resblock", "invres"]
modes = [a for a in sys.argv[2:] if not a.startswith("--")] or ROWS
# bench_torch.py parses argv and runs its modes at the end: run everything before that loop.
argv = sys.argv
sys.argv = [argv[0], argv[1]] + [a for a in argv[2:] if a.startswith("--")]
with open(HARNESS) as fh:
    src = fh.read()
exec(compile(src[: src.index("\nfor mode in MODES:")], HARNESS, "exec"))
sys.argv = argv


class GroupNormResidual(torch.nn.Module):
    """As src/zoo/residual.rs."""

    def __init__(self, vocab, d, groups):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        self.norm = torch.nn.GroupNorm(groups, d)
        self.proj = torch.nn.Linear(d, d)

    def forward(self, ids):
        h = self.emb(ids).transpose(1, 2)
        r = torch.relu(self.norm(h)).transpose(1, 2)
        return (self.proj(r) + self.emb(ids)).mean(1)


class ResBlock(torch.nn.Module):
    """As bench_rows.rs: 3x3 convolutions without bias, batch norms, a skip."""

    def __init__(self, c):
        super().__init__()
        conv = lambda: torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv1, self.bn1 = conv(), torch.nn.BatchNorm2d(c)
        self.conv2, self.bn2 = conv(), torch.nn.BatchNorm2d(c)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + x)


class InvertedResidual(torch.nn.Module):
    """As bench_rows.rs: 1x1 expand, 3x3 depthwise, 1x1 project, batch norms, a skip."""

    def __init__(self, c, e):
        super().__init__()
        self.expand, self.bn1 = torch.nn.Conv2d(c, e, 1, bias=False), torch.nn.BatchNorm2d(e)
        self.depthwise = torch.nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(e)
        self.project, self.bn3 = torch.nn.Conv2d(e, c, 1, bias=False), torch.nn.BatchNorm2d(c)

    def forward(self, x):
        h = torch.relu(self.bn1(self.expand(x)))
        h = torch.relu(self.bn2(self.depthwise(h)))
        return self.bn3(self.project(h)) + x


for mode in modes:
    if mode == "transformer":
        # src/zoo/transformer.rs is nn.TransformerEncoderLayer (post-norm, GELU).
        block = torch.nn.TransformerEncoderLayer(64, 4, 128, activation="gelu", batch_first=True)
        bench_model("transformer_d64_b4x32", block, (torch.randn(4, 32, 64),))
    elif mode == "residual":
        ids = torch.tensor([(i * 37) % 1000 for i in range(8 * 32)]).reshape(8, 32)
        bench_model("residual_b8x32", GroupNormResidual(1000, 64, 8), (ids,))
    elif mode == "resblock":
        c, hw, b = 32, 16, 8
        flops = 2.0 * 2 * b * c * c * 9 * hw * hw
        bench_model("resblock_c32_16x16_b8", ResBlock(c), (torch.randn(b, c, hw, hw),), flops)
    elif mode == "invres":
        bench_model("invres_c32e64_16x16_b8", InvertedResidual(32, 64), (torch.randn(8, 32, 16, 16),))
    else:
        raise SystemExit(f"unknown mode {mode}; rows: {' '.join(ROWS)}")
