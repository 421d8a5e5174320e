import torch, os, sys, traceback
import torch.nn as nn, torch.nn.functional as F
from torch.export import export, save, load, Dim
from safetensors.torch import save_file
OUT = sys.argv[1]
torch.manual_seed(0)

def go(name, m, args, dyn=None, extra=()):
    # `python gen_more.py OUT name...` writes only the programs named.
    if len(sys.argv) > 2 and name not in sys.argv[2:]:
        return
    m.eval()
    try:
        ep = export(m, args, dynamic_shapes=dyn)
        tensors = {}
        for prefix, a in [("", args)] + list(extra):
            with torch.no_grad():
                out = m(*[t.clone() for t in a])
            outs = out if isinstance(out, (tuple, list)) else (out,)
            for i, t in enumerate(a): tensors[f"{prefix}in{i}"] = t.contiguous()
            for j, t in enumerate(outs): tensors[f"{prefix}out{j}"] = t.contiguous()
        save_file(tensors, os.path.join(OUT, f"{name}.io.safetensors"))
        for suffix, prog in (("", ep), (".core", ep.run_decompositions())):
            save(prog, os.path.join(OUT, f"{name}{suffix}.pt2"))
        print("ok", name)
    except Exception as e:
        print("FAIL", name, type(e).__name__, str(e)[:200])

class ResBlock(nn.Module):
    def __init__(s):
        super().__init__(); s.c1 = nn.Conv2d(8, 8, 3, padding=1, bias=False); s.b1 = nn.BatchNorm2d(8); s.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False); s.b2 = nn.BatchNorm2d(8)
    def forward(s, x):
        return F.relu(x + s.b2(s.c2(F.relu(s.b1(s.c1(x))))))
class MobileBlock(nn.Module):
    def __init__(s):
        super().__init__(); s.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8); s.pw = nn.Conv2d(8, 16, 1); s.act = nn.Hardswish()
    def forward(s, x): return F.adaptive_avg_pool2d(s.act(s.pw(s.dw(x))), 1).flatten(1)
class Conv1dNet(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv1d(4, 6, 5, stride=2, padding=2); s.p = nn.AvgPool1d(2)
    def forward(s, x): return s.p(F.gelu(s.c(x)))
class Upsample(nn.Module):
    def forward(s, x): return F.interpolate(x, scale_factor=2, mode="nearest") + 1
class Bilinear(nn.Module):
    def forward(s, x): return F.interpolate(x, size=(6, 6), mode="bilinear", align_corners=False)
class PixelShuffle(nn.Module):
    def forward(s, x): return F.pixel_shuffle(x, 2)
class Einsum(nn.Module):
    def forward(s, a, b): return torch.einsum("bij,bjk->bik", a, b)
class MaskedAttn(nn.Module):
    def __init__(s):
        super().__init__(); s.q = nn.Linear(16, 16); s.k = nn.Linear(16, 16); s.v = nn.Linear(16, 16)
    def forward(s, x):
        q, k, v = s.q(x), s.k(x), s.v(x)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
class CausalDyn(nn.Module):
    def __init__(s):
        super().__init__(); s.qkv = nn.Linear(16, 48); s.out = nn.Linear(16, 16)
    def forward(s, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, 2, 8).transpose(1, 2) for z in s.qkv(x).chunk(3, dim=-1))
        return s.out(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d))
class Encoder(nn.Module):
    def __init__(s):
        super().__init__(); s.l = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
    def forward(s, x): return s.l(x)
class GRUNet(nn.Module):
    def __init__(s):
        super().__init__(); s.g = nn.GRU(4, 8, batch_first=True)
    def forward(s, x): return s.g(x)[0]
class LSTMNet(nn.Module):
    def __init__(s):
        super().__init__(); s.g = nn.LSTM(4, 8, batch_first=True)
    def forward(s, x): return s.g(x)[0]
class LSTMBi(nn.Module):
    def __init__(s):
        super().__init__(); s.g = nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)
    def forward(s, x):
        y, (h, c) = s.g(x)
        return y, h, c
class GRUBi(nn.Module):
    def __init__(s):
        super().__init__(); s.g = nn.GRU(6, 8, num_layers=2, bidirectional=True)
    def forward(s, x, h0): return s.g(x, h0)
class RNNs(nn.Module):
    def __init__(s, **kw):
        super().__init__(); s.g = nn.RNN(6, 8, **kw)
    def forward(s, x): return s.g(x)
class Cells(nn.Module):
    def __init__(s):
        super().__init__(); s.l = nn.LSTMCell(6, 8); s.g = nn.GRUCell(8, 8); s.t = nn.RNNCell(8, 8); s.r = nn.RNNCell(8, 5, nonlinearity="relu", bias=False)
    def forward(s, x):
        h, c = s.l(x[:, 0])
        for t in range(1, x.shape[1]):
            h, c = s.l(x[:, t], (h, c))
        g = s.g(c, s.g(h))
        return s.r(s.t(g)), c
class Inplace(nn.Module):
    # The default IR is not functionalized: `inplace=True` layers and `x.op_()` stay in-place ops.
    def __init__(s):
        super().__init__()
        s.acts = nn.ModuleList([nn.ReLU6(inplace=True), nn.Hardswish(inplace=True), nn.SiLU(inplace=True), nn.LeakyReLU(0.1, inplace=True), nn.ELU(inplace=True), nn.Hardsigmoid(inplace=True), nn.Dropout(0.1, inplace=True), nn.Hardtanh(-2, 2, inplace=True), nn.CELU(inplace=True), nn.SELU(inplace=True), nn.Mish(inplace=True), nn.Threshold(0.1, 20, inplace=True)])
    def forward(s, x):
        outs = []
        for a in s.acts:
            outs.append(a(x.clone()))
        y = x.clone(); y.clamp_(-1, 1); outs.append(y)
        y = x.clone(); y.mul_(2).div_(3).sub_(1).add_(x); outs.append(y)
        y = x.clone(); y.sigmoid_(); outs.append(y)
        y = x.clone(); y.tanh_().exp_().neg_(); outs.append(y)
        y = x.clone(); y.abs_().sqrt_(); outs.append(y)
        y = x.clone(); y.pow_(2); outs.append(y)
        y = x.clone(); y.fill_(3.0); outs.append(y)
        y = x.clone(); y.zero_(); outs.append(y)
        y = x.clone(); y.masked_fill_(x > 0, -1.0); outs.append(y)
        y = x.clone(); y.clamp_min_(0.2); outs.append(y)
        y = x.clone(); y.mul_(x).addcmul_(x, x, value=0.5); outs.append(y)
        y = x.clone(); y.floor_(); outs.append(y)
        y = x.clone(); y.unsqueeze_(0); outs.append(y)
        y = x.clone(); y.t_(); outs.append(y)
        y = x.clone(); y.reciprocal_(); outs.append(y)
        return tuple(outs)
class PaddedEncoder(nn.Module):
    # A BERT-style classifier: its key padding mask is `masked_fill_` in the default IR.
    def __init__(s):
        super().__init__(); s.tok = nn.Embedding(50, 16); s.typ = nn.Embedding(2, 16); s.pos = nn.Embedding(32, 16); s.ln = nn.LayerNorm(16)
        s.enc = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True, activation="gelu"); s.cls = nn.Linear(16, 3)
    def forward(s, ids, types, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        h = s.ln(s.tok(ids) + s.typ(types) + s.pos(pos))
        h = s.enc(h, src_key_padding_mask=mask == 0)
        return s.cls(torch.tanh(h[:, 0]))
class Losses(nn.Module):
    # The default IR keeps each loss whole (`cross_entropy_loss`, `nll_loss_nd`, …).
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(8, 5); s.register_buffer("w", torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0]))
    def forward(s, x, y, t, p, seq, seq_y):
        lo = s.fc(x)
        return (F.cross_entropy(lo, y), F.cross_entropy(lo, y, weight=s.w, ignore_index=2, label_smoothing=0.1),
                F.cross_entropy(lo, y, label_smoothing=0.2, reduction="sum"), F.cross_entropy(lo, p), F.cross_entropy(lo, p, weight=s.w, label_smoothing=0.1, reduction="none"),
                F.cross_entropy(seq, seq_y, reduction="none"), F.nll_loss(F.log_softmax(lo, 1), y, weight=s.w),
                F.mse_loss(lo, t), F.l1_loss(lo, t, reduction="sum"), F.smooth_l1_loss(lo, t, beta=0.5), F.huber_loss(lo, t, delta=0.7, reduction="none"),
                F.binary_cross_entropy(lo.sigmoid(), t.sigmoid()), F.binary_cross_entropy_with_logits(lo, t.sigmoid(), weight=s.w, pos_weight=s.w * 2),
                F.kl_div(F.log_softmax(lo, 1), p, reduction="batchmean"), F.kl_div(F.log_softmax(lo, 1), p.log(), reduction="sum", log_target=True))
class Patches(nn.Module):
    # `F.unfold` (`im2col`), `torch.cdist` (`_cdist_forward` in the core IR), `torch.linspace`.
    def forward(s, img, a, b):
        cols = F.unfold(img, 3, dilation=2, padding=1, stride=2) + F.unfold(img, (2, 3), stride=(2, 1))[..., :1].sum()
        w = torch.linspace(-1.0, 2.0, a.shape[-1])
        return cols, torch.cdist(a * w, b), torch.cdist(a, b, p=1.0), torch.linspace(0, 10, 7), F.unfold(img[0], 2)
class AdaptiveMax(nn.Module):
    # `adaptive_max_pool2d` (a core ATen op: both IRs keep it), its indices, a global max pool.
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(2, 4, 3, padding=1); s.g = nn.AdaptiveMaxPool2d(1); s.fc = nn.Linear(4, 3)
    def forward(s, x):
        v, i = F.adaptive_max_pool2d(x, (2, 3), return_indices=True)
        return v + F.adaptive_avg_pool2d(x, (2, 3)), i, s.fc(s.g(F.relu(s.c(x))).flatten(1)), F.adaptive_max_pool2d(x[0], (3, 5))
class Scans(nn.Module):
    # `cummax` / `cummin` (values and indices; ties in an integer input), `erfinv`, `diag_embed` (offsets, dims), `square`.
    def forward(s, x, k):
        v, i = torch.cummax(x, 1)
        w, j = torch.cummin(k, 0)
        d = torch.diag_embed(x[:, :3]) + torch.diag_embed(x[:, :2], offset=1, dim1=0, dim2=2)[:3, :, :3]
        return v, i, w, j, torch.cummax(k, -1)[1], torch.erfinv(x.tanh() * 0.99), d, torch.diag_embed(x[0], offset=-2), torch.square(k), x.square()
class Volumes(nn.Module):
    # 3-D convolution (stride, padding, dilation, groups, no bias), `max_pool3d` with indices and ceil mode, `avg_pool3d`, `AdaptiveAvgPool3d`, an unbatched input.
    def __init__(s):
        super().__init__(); s.c = nn.Conv3d(2, 4, 3, padding=1); s.g = nn.Conv3d(4, 4, (2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), dilation=(1, 2, 1), groups=2, bias=False); s.p = nn.AdaptiveAvgPool3d((1, 2, 2))
    def forward(s, x):
        y = F.relu(s.c(x))
        m, i = F.max_pool3d(y, 2, stride=(1, 2, 2), ceil_mode=True, return_indices=True)
        a = F.avg_pool3d(y, (1, 3, 3), stride=2, padding=(0, 1, 1), count_include_pad=False)
        return s.g(y), m, i, a, s.p(y).flatten(1), F.max_pool3d(x[0], 2), F.avg_pool3d(x, 2, divisor_override=3)
class Bags(nn.Module):
    # `nn.EmbeddingBag`: sum with per-sample weights, mean with a padding index, max, `include_last_offset`, a 2-D input (one bag per row).
    def __init__(s):
        super().__init__(); s.sum = nn.EmbeddingBag(12, 5, mode="sum"); s.mean = nn.EmbeddingBag(12, 5, mode="mean", padding_idx=3); s.max = nn.EmbeddingBag(12, 5, mode="max")
    def forward(s, ids, off, psw, rows):
        return (s.sum(ids, off, per_sample_weights=psw), s.mean(ids, off), s.max(ids, off),
                F.embedding_bag(ids, s.sum.weight, off, mode="sum", include_last_offset=True), s.mean(rows))
class Spatial(nn.Module):
    # `F.affine_grid` + `F.grid_sample` (every interpolation and padding mode, both corner rules), bicubic `F.interpolate`.
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(20, 6)
    def forward(s, x):
        th = s.fc(x.flatten(1)).view(-1, 2, 3) * 2.0
        outs = []
        for ac in (False, True):
            g = F.affine_grid(th, [x.shape[0], 1, 3, 5], align_corners=ac)
            for mode in ("bilinear", "nearest", "bicubic"):
                for pad in ("zeros", "border", "reflection"):
                    outs.append(F.grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=ac))
        up = F.interpolate(x, scale_factor=1.5, mode="bicubic") + F.interpolate(x, size=(6, 7), mode="bicubic", align_corners=True)
        return torch.cat(outs, 1), up
class Bytes(nn.Module):
    # uint8: an image normalised (`img.float() / 255`), wrapping arithmetic, a sum (i64), a comparison, a cast back, a max, `torch.eye` (a uint8 `arange` in the core IR).
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(3, 4, 3)
    def forward(s, img, pts):
        x = s.c(img.float() / 255.0)
        return (x, img + 200, img.sum((1, 2, 3)), img > 128, (x * 50 + 100).clamp(0, 255).to(torch.uint8),
                pts @ (torch.eye(3) * 2 + pts.mean(0)), img.amax((2, 3)), img.flip(-1) * 3)
class Extras(nn.Module):
    # Rotary frequencies (`number ** tensor`: `pow.Scalar`), `torch.max(a, b)` / `torch.min(a, b)` (`max.other`), `Tensor.unfold` windows, weight norm (`_weight_norm`, both dims), `logit`.
    def __init__(s):
        super().__init__(); s.c = nn.utils.parametrizations.weight_norm(nn.Conv1d(4, 4, 3, padding=1)); s.l = nn.utils.parametrizations.weight_norm(nn.Linear(4, 3), dim=None)
    def forward(s, x, y):
        inv = 1.0 / (10000 ** (torch.arange(0, 8, 2).float() / 8))
        f = torch.outer(torch.arange(x.shape[-1]).float(), inv)
        w = x.unfold(-1, 3, 2)
        return (f.cos(), torch.max(x, y), torch.min(x, y[0]), w.mean(-1), x.unfold(1, 2, 1).amax(-1),
                s.l(F.relu(s.c(x)).mean(-1)), torch.logit(x.sigmoid(), eps=1e-3), torch.logit(y.sigmoid()), 2 ** y)
class KVCache(nn.Module):
    def __init__(s):
        super().__init__(); s.register_buffer("cache", torch.zeros(2, 8, 4))
    def forward(s, x, pos):
        s.cache[:, 0:2] = x
        return s.cache.sum(1)
class InplaceView(nn.Module):
    def forward(s, x):
        y = x.clone()
        y[:, 0] += 1
        y[1:].mul_(2)
        return y
class IndexPut(nn.Module):
    def forward(s, x, idx):
        y = torch.zeros(5, 3)
        y[idx] = x
        return y
class Gather(nn.Module):
    def forward(s, x, idx): return torch.gather(x, 1, idx) + x.topk(2, dim=1).values.sum()
class Cumsum(nn.Module):
    def forward(s, x): return torch.cumsum(x, 1) * torch.where(x > 0, x, -x) + x.clamp(-0.5, 0.5)
class Norms(nn.Module):
    def __init__(s):
        super().__init__(); s.g = nn.GroupNorm(2, 8); s.i = nn.InstanceNorm2d(8); s.l = nn.LayerNorm([8, 4, 4])
    def forward(s, x): return s.g(x) + s.i(x) + s.l(x)
class EmbedBag(nn.Module):
    def __init__(s):
        super().__init__(); s.e = nn.Embedding(20, 8); s.fc = nn.Linear(8, 3)
    def forward(s, idx): return s.fc(s.e(idx).mean(1)).log_softmax(-1)
class DynMLP(nn.Module):
    def __init__(s):
        super().__init__(); s.a = nn.Linear(10, 20); s.b = nn.Linear(20, 5)
    def forward(s, x): return s.b(F.silu(s.a(x))).softmax(-1)
class Chunky(nn.Module):
    def forward(s, x):
        a, b = x.chunk(2, dim=-1)
        return torch.cat([a * torch.sigmoid(b), a.tanh()], dim=1).transpose(0, 1).contiguous().view(-1)
class Stack(nn.Module):
    def forward(s, x, y): return torch.stack([x, y], 0).amax(0) + torch.maximum(x, y).expand(2, 3, 4).sum(0)
class MaxPoolIdx(nn.Module):
    def forward(s, x): return F.max_pool2d(x, 3, stride=2, padding=1) + F.avg_pool2d(x, 2, ceil_mode=True)[..., :2, :2].mean()
class Pads(nn.Module):
    def forward(s, x):
        return (F.pad(x, (1, 2, 0, 3), value=0.5)[..., :5, :7] + F.pad(x, (2, 1, 3, 0), mode="reflect")[..., 1:6, :7]
                + F.pad(x, (2, 1, 3, 0), mode="replicate")[..., 2:7, :7] + F.pad(x, (2, 1, 3, 0), mode="circular")[..., :5, 2:9])
class StdVar(nn.Module):
    def forward(s, x): return x.std(1, keepdim=True) + x.var((0, 2)).sum() + x.std(2, unbiased=False).mean()
class ConvT(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    def forward(s, x): return s.c(x)

r = torch.randn
go("resblock", ResBlock(), (r(2, 8, 8, 8),))
go("mobile", MobileBlock(), (r(2, 8, 8, 8),))
go("conv1d", Conv1dNet(), (r(2, 4, 16),))
go("upsample", Upsample(), (r(1, 2, 3, 3),))
go("bilinear", Bilinear(), (r(1, 2, 3, 3),))
go("pixel_shuffle", PixelShuffle(), (r(1, 8, 3, 3),))
go("einsum", Einsum(), (r(2, 3, 4), r(2, 4, 5)))
go("masked_attn", MaskedAttn(), (r(2, 5, 16),))
go("encoder", Encoder(), (r(2, 5, 16),), dyn=({1: Dim("seq", min=2, max=32)},), extra=[("b_", (r(2, 9, 16),))])
go("gru", GRUNet(), (r(2, 5, 4),))
go("lstm", LSTMNet(), (r(2, 5, 4),))
go("kvcache", KVCache(), (r(2, 2, 4), torch.tensor(0)))
go("inplace_view", InplaceView(), (r(3, 4),))
go("index_put", IndexPut(), (r(2, 3), torch.tensor([1, 3])))
go("gather", Gather(), (r(3, 4), torch.tensor([[0, 1], [2, 3], [1, 1]])))
go("cumsum", Cumsum(), (r(3, 4),))
go("norms", Norms(), (r(2, 8, 4, 4),))
go("embed_bag", EmbedBag(), (torch.tensor([[1, 2, 3], [4, 5, 19]]),))
go("dyn_mlp", DynMLP(), (r(4, 10),), dyn=({0: Dim("batch")},), extra=[("b_", (r(1, 10),)), ("c_", (r(33, 10),))])
go("chunky", Chunky(), (r(3, 4),))
go("stack", Stack(), (r(3, 4), r(3, 4)))
go("maxpool", MaxPoolIdx(), (r(1, 2, 7, 7),))
go("convt", ConvT(), (r(1, 4, 5, 5),))
# Added later, last so that the programs above keep their weights.
torch.manual_seed(1)
go("causal_dyn", CausalDyn(), (r(2, 9, 16),), dyn=({1: Dim("t", min=2, max=256)},), extra=[("b_", (r(2, 33, 16),))])
torch.manual_seed(2)
go("pads", Pads(), (r(2, 3, 5, 6),), dyn=({2: Dim("h", min=4, max=64), 3: Dim("w", min=6, max=64)},), extra=[("b_", (r(2, 3, 9, 8),))])
go("std_var", StdVar(), (r(2, 3, 7),))
torch.manual_seed(3)
go("lstm_bi", LSTMBi(), (r(3, 5, 6),), dyn=({0: Dim("batch", min=1, max=64)},), extra=[("b_", (r(1, 5, 6),)), ("c_", (r(6, 5, 6),))])
go("gru_bi", GRUBi(), (r(5, 3, 6), r(4, 3, 8)))
go("rnn_tanh", RNNs(num_layers=2, batch_first=True), (r(3, 5, 6),))
go("rnn_relu", RNNs(nonlinearity="relu", bidirectional=True), (r(5, 3, 6),))
torch.manual_seed(4)
go("cells", Cells(), (r(3, 4, 6),), dyn=({0: Dim("batch", min=1, max=64)},), extra=[("b_", (r(1, 4, 6),)), ("c_", (r(9, 4, 6),))])
torch.manual_seed(5)
go("inplace", Inplace(), (r(3, 4),))
go("padded_encoder", PaddedEncoder(), (torch.randint(0, 50, (2, 6)), torch.randint(0, 2, (2, 6)), torch.tensor([[1] * 6, [1] * 4 + [0] * 2])))
torch.manual_seed(6)
go("losses", Losses(), (r(6, 8), torch.tensor([0, 2, 4, 1, 2, 3]), r(6, 5), r(6, 5).softmax(1), r(2, 5, 3), torch.tensor([[0, 1, 4], [3, 3, 2]])))
torch.manual_seed(7)
go("patches", Patches(), (r(2, 3, 7, 8), r(2, 4, 5), r(2, 6, 5)))
torch.manual_seed(8)
go("adaptive_max", AdaptiveMax(), (r(2, 2, 5, 7),))
torch.manual_seed(9)
go("scans", Scans(), (r(3, 6), torch.randint(0, 3, (4, 6))))
go("volumes", Volumes(), (r(2, 2, 4, 6, 6),))
go("bags", Bags(), (torch.tensor([1, 2, 4, 5, 4, 3, 3, 9, 11, 0]), torch.tensor([0, 4, 4, 7]), r(10), torch.tensor([[1, 3, 5], [3, 3, 3]])))
go("spatial", Spatial(), (r(2, 1, 4, 5),))
torch.manual_seed(10)
go("bytes", Bytes(), (torch.randint(0, 256, (2, 3, 6, 6), dtype=torch.uint8), r(5, 3)))
torch.manual_seed(11)
go("extras", Extras(), (r(2, 4, 7), r(2, 4, 7)))

class Special(nn.Module):
    # Special functions and aliases: erfc, lgamma, digamma, i0, sinc, xlogy, copysign, signbit, frac, heaviside, expit, clip, true_divide, eval rrelu, all/any, nansum/nanmean, renorm, logcumsumexp.
    def forward(s, x, y):
        z = torch.where(x > 1, float("nan"), x)
        return (torch.erfc(x * 3), torch.lgamma(x.abs() + 0.1), torch.digamma(x * 2), torch.i0(x * 4), torch.sinc(x), torch.xlogy(x.abs(), y.abs()),
                torch.xlogy(torch.zeros(3, 4), y), torch.copysign(x, y), torch.signbit(x), torch.frac(x * 3), torch.heaviside(x.round(), torch.tensor(0.5)),
                torch.special.expit(x), x.clip(-0.5, 0.5), torch.true_divide(x, y), F.rrelu(x, training=False), (x > -2).all(), (x > 2).any(),
                z.nansum(), z.nansum(1), z.nanmean(0), torch.renorm(x, 2, 0, 1.0), torch.renorm(x, 1, 1, 0.5), torch.logcumsumexp(x * 30, 1))
class Ordering(nn.Module):
    # Selections and bucketing: kthvalue, median(), mode, quantile (every interpolation), bucketize / searchsorted (1-D and per-row boundaries, left and right), histc, rot90, dstack, tril/triu_indices.
    def forward(s, x, ints, edges, rows):
        return (x.kthvalue(2, 1)[0], x.kthvalue(3, 0, keepdim=True)[1], x.median(), ints.mode(1)[0], ints.mode(1)[1], torch.quantile(x, 0.3, dim=1),
                torch.quantile(x, 0.5), torch.quantile(x, 0.75, dim=0, keepdim=True, interpolation="lower"), torch.quantile(x, 0.4, dim=1, interpolation="higher"),
                torch.quantile(x, 0.25, dim=1, interpolation="midpoint"), torch.quantile(x, 0.6, dim=1, interpolation="nearest"),
                torch.bucketize(x, edges), torch.bucketize(x, edges, right=True), torch.searchsorted(edges, x), torch.searchsorted(rows, x[:, :4], side="right"),
                torch.searchsorted(edges, x, out_int32=True), torch.histc(x, 5, -1, 1), torch.histc(x, 4), torch.rot90(x), torch.rot90(x, 2), torch.rot90(x, -1, (1, 0)),
                torch.dstack([x, x * 2]), torch.dstack([edges, edges]), torch.tril_indices(3, 4), torch.tril_indices(4, 3, -1), torch.triu_indices(3, 5, 1))
class SamePad(nn.Module):
    # padding="same" / "valid" in 1-D, 2-D (odd total padding: an even kernel) and 3-D; nn.Fold (col2im); `x[:, idx] = v` and `x[i, :, k] += v` (index_put with None).
    def __init__(s):
        super().__init__(); s.a = nn.Conv1d(2, 3, 4, padding="same"); s.b = nn.Conv2d(2, 3, (2, 3), padding="same", dilation=(1, 2)); s.c = nn.Conv2d(2, 3, 3, padding="valid")
        s.d = nn.Conv3d(2, 2, 3, padding="same"); s.fold = nn.Fold((5, 6), (2, 3), padding=1, stride=(1, 2))
    def forward(s, x, cols):
        y = x.clone(); y[:, :, torch.tensor([0, 3])] = -1.0
        w = x.clone(); w[torch.tensor([1, 0]), :, torch.tensor([2, 2])] += x[0, :, 1]
        return s.a(x[:, :, 0]), s.b(x), s.c(x), s.d(x.unsqueeze(2).expand(-1, -1, 3, -1, -1)), s.fold(cols), y, w

torch.manual_seed(12)
go("special", Special(), (r(3, 4), r(3, 4)))
torch.manual_seed(13)
go("ordering", Ordering(), (r(3, 7), torch.randint(0, 3, (4, 7)).float(), torch.tensor([-1.0, -0.2, 0.0, 0.5, 1.5]), torch.sort(r(3, 5), 1)[0]))
torch.manual_seed(14)
go("same_pad", SamePad(), (r(2, 2, 5, 6), r(2, 12, 18)))
class Losses2(nn.Module):
    def forward(s, x, y, t, p):
        sgn = y.sign()
        return (F.cosine_embedding_loss(x, y, torch.tensor([1, -1, 1]), margin=0.2), F.cosine_embedding_loss(x[0], y[1], torch.tensor(-1), reduction="none"),
                F.hinge_embedding_loss(x, sgn, margin=0.5, reduction="sum"), F.hinge_embedding_loss(x, sgn, reduction="none"),
                F.margin_ranking_loss(x[:, 0], y[:, 0], torch.tensor([1., -1, 1]), margin=0.1, reduction="none"), F.margin_ranking_loss(x[:, 1], y[:, 1], torch.tensor([1., -1, -1])),
                F.multi_margin_loss(x, t), F.multi_margin_loss(x, t, p=2, margin=0.5, weight=torch.tensor([1., 2, 0.5, 1]), reduction="none"), F.multi_margin_loss(x, t, reduction="sum"),
                F.poisson_nll_loss(x, y.abs()), F.poisson_nll_loss(p, y.abs() * 3, log_input=False, full=True, reduction="sum"),
                F.soft_margin_loss(x, sgn), F.soft_margin_loss(x, sgn, reduction="none"),
                F.triplet_margin_loss(x, y, x.flip(0)), F.triplet_margin_loss(x, y, p, margin=0.5, p=1, swap=True, reduction="none"))
class LinAlg2(nn.Module):
    def __init__(s):
        super().__init__(); s.bl = nn.Bilinear(4, 3, 2)
    def forward(s, a, b, m, v):
        return (torch.addbmm(m[0], m, m, beta=0.5, alpha=2), torch.addbmm(m[0], m, m), torch.addmv(a[0, :3], m[0], a[1, :3], beta=2, alpha=0.5),
                torch.dot(a[0], a[1]), torch.trace(m[1]), torch.tensordot(a, b.t(), 1), torch.tensordot(m, m, dims=([1, 2], [2, 1])),
                torch.kron(m[0], a), torch.kron(a[0], m), torch.block_diag(m[0], a, a[0, :2]), torch.cartesian_prod(a[0], a[1][:2], v),
                torch.cross(a[:, :3], b[:3, :3], dim=1), torch.linalg.cross(m, m.flip(0)), s.bl(a, m[0]), s.bl(a[:2].view(1, 2, 4), m[0, :2].view(1, 2, 3)))
torch.manual_seed(12)
go("losses2", Losses2(), (r(3, 4), r(3, 4), torch.tensor([0, 1, 3]), torch.rand(3, 4)))
torch.manual_seed(13)
go("linalg2", LinAlg2(), (r(3, 4), r(5, 4), r(2, 3, 3), r(2)))
class Resample(nn.Module):
    # nearest-exact in 1-3 D, trilinear (to a size, by a factor, align_corners), MaxUnpool2d, AdaptiveMaxPool1d with indices, ChannelShuffle, `x.mT` / `x.mH`, bitwise ops with a number.
    def __init__(s):
        super().__init__(); s.mp = nn.MaxPool2d(2, return_indices=True); s.un = nn.MaxUnpool2d(2); s.cs = nn.ChannelShuffle(2)
    def forward(s, x, v, i):
        p, ix = s.mp(x[..., :6]); m, mi = F.adaptive_max_pool1d(x.flatten(2), 5, return_indices=True)
        return (F.interpolate(x, size=(5, 9), mode="nearest-exact"), F.interpolate(x, scale_factor=1.5, mode="nearest-exact"), F.interpolate(x.flatten(2), size=11, mode="nearest-exact"),
                F.interpolate(v, size=(3, 5, 4), mode="nearest-exact"), F.interpolate(v, size=(3, 4, 7), mode="trilinear"), F.interpolate(v, scale_factor=2, mode="trilinear", align_corners=True),
                s.un(p, ix), s.un(p, ix, output_size=(7, 7)), m, mi, s.cs(x), x.mT, x.mH @ x, i & 6, i | 1, i ^ 3, 5 & i)
torch.manual_seed(15)
go("resample", Resample(), (r(2, 4, 6, 7), r(1, 2, 2, 3, 4), torch.tensor([[-7, -3, 0, 5], [2, 9, -1, 4]])))
class Windows(nn.Module):
    # Swin-style shifted window attention: `torch.roll` (index_select by per-size indices in the core IR), window partition by view/permute, a relative position bias table indexed by a constant index buffer.
    def __init__(s, d=16, heads=2, ws=2):
        super().__init__()
        s.ws, s.h = ws, heads
        s.qkv = nn.Linear(d, 3 * d); s.proj = nn.Linear(d, d); s.norm = nn.LayerNorm(d)
        s.table = nn.Parameter(torch.randn((2 * ws - 1) ** 2, heads) * 0.5)
        c = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        r = (c[:, :, None] - c[:, None, :]).permute(1, 2, 0) + (ws - 1)
        s.register_buffer("index", r[:, :, 0] * (2 * ws - 1) + r[:, :, 1])
    def forward(s, x):
        B, H, W, C = x.shape; ws = s.ws
        y = torch.roll(s.norm(x), shifts=(-1, -1), dims=(1, 2))
        w = y.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, C)
        q, k, v = s.qkv(w).reshape(w.shape[0], ws * ws, 3, s.h, C // s.h).permute(2, 0, 3, 1, 4)
        att = (q * (C // s.h) ** -0.5) @ k.transpose(-2, -1)
        bias = s.table[s.index.view(-1)].view(ws * ws, ws * ws, -1).permute(2, 0, 1)
        o = s.proj(((att + bias.unsqueeze(0)).softmax(-1) @ v).transpose(1, 2).reshape(w.shape[0], ws * ws, C))
        o = o.view(B, H // ws, W // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
        return x + torch.roll(o, shifts=(1, 1), dims=(1, 2))
class Stylize(nn.Module):
    # Style-transfer block: reflection padding (index_select / index.Tensor by per-size indices), instance norm (`_native_batch_norm_legit.no_stats` on a [1, N*C, H, W] view in the core IR), replicate padding, group norm, nearest upsampling.
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"); s.n1 = nn.InstanceNorm2d(8, affine=True)
        s.c2 = nn.Conv2d(8, 8, 3); s.n2 = nn.InstanceNorm2d(8); s.c3 = nn.Conv2d(8, 3, 1)
    def forward(s, x):
        y = F.relu(s.n1(s.c1(x)))
        y = F.relu(s.n2(s.c2(F.pad(y, (1, 1, 1, 1), mode="replicate"))))
        y = F.interpolate(F.avg_pool2d(y, 2), scale_factor=2, mode="nearest")
        return torch.tanh(s.c3(y)) + x
class Retrieval(nn.Module):
    # Masked mean pooling of embeddings, `F.normalize`, `e @ e.T` (`numpy_T`), a classifier head's `argmax`, `topk` values and indices, `cumsum`, `sort`.
    def __init__(s):
        super().__init__(); s.emb = nn.Embedding(50, 8); s.proj = nn.Linear(8, 8); s.head = nn.Linear(8, 5)
    def forward(s, ids, mask):
        h = s.proj(s.emb(ids))
        m = mask.unsqueeze(-1).to(h.dtype)
        mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        e = F.normalize(mean, dim=-1)
        logits = s.head(h)
        top = torch.topk(logits, 2, dim=-1)
        return e @ e.T, logits.argmax(-1), top.values, top.indices, torch.cumsum(h, 1), torch.sort(logits, dim=-1, descending=True).values
torch.manual_seed(16)
go("windows", Windows(), (r(2, 4, 4, 16),))
torch.manual_seed(17)
go("stylize", Stylize(), (r(2, 3, 8, 8),))
torch.manual_seed(18)
go("retrieval", Retrieval(), (torch.randint(0, 50, (4, 6)), torch.rand(4, 6) > 0.3))
class LSTMProj(nn.Module):
    def __init__(s):
        super().__init__(); s.a = nn.LSTM(6, 16, num_layers=2, bidirectional=True, batch_first=True, proj_size=8); s.b = nn.LSTM(16, 12, proj_size=8, bias=False)
    def forward(s, x, h0, c0):
        y, (h, c) = s.a(x)
        z, (h2, c2) = s.b(y.transpose(0, 1), (h0, c0))
        return y, h, c, z, h2, c2
# Static: with a dynamic batch PyTorch writes the projected LSTM's steps out in the default IR.
go("lstm_proj", LSTMProj(), (r(3, 5, 6), r(1, 3, 8), r(1, 3, 12)))
class FakeQuant(nn.Module):
    def __init__(s):
        super().__init__(); s.l = nn.Linear(8, 8)
    def forward(s, x, sc, zp):
        a = torch.fake_quantize_per_tensor_affine(x, 0.05, 3, -128, 127)
        b = torch.fake_quantize_per_tensor_affine(s.l(a), sc, zp, 0, 255)
        w = torch.fake_quantize_per_channel_affine(s.l.weight, torch.full((8,), 0.02), torch.arange(8, dtype=torch.int32) - 4, 0, -128, 127)
        return b, x @ w.T
torch.manual_seed(19)
go("fake_quant", FakeQuant(), (r(4, 8) * 4, torch.tensor(0.04), torch.tensor(100, dtype=torch.int32)))
class TakeAddr(nn.Module):
    def forward(s, x, i, v):
        return torch.take_along_dim(x, i, 1), torch.take_along_dim(x, i.abs()), torch.addr(x[:, :3], v, v[:3], beta=0.5, alpha=2.0)
go("take_addr", TakeAddr(), (r(3, 4), torch.tensor([[3, -1], [0, -4], [2, 1]]), r(3)))
class ResizeAA(nn.Module):
    def forward(s, x):
        return (F.interpolate(x, size=(4, 5), mode="bilinear", antialias=True),
                F.interpolate(x, size=(3, 9), mode="bicubic", antialias=True),
                F.interpolate(x, scale_factor=0.6, mode="bilinear", antialias=True, align_corners=True),
                F.interpolate(x, size=(11, 14), mode="bicubic", antialias=True, align_corners=True))
go("resize_aa", ResizeAA(), (r(2, 3, 9, 13),))
class IndexCopy(nn.Module):
    def forward(s, cache, x, pos):
        c = cache * 2.0
        c.index_copy_(1, pos, x)
        return c, x.sum(1).index_copy(1, pos[:2], x[:, 0, :2])
go("index_copy", IndexCopy(), (r(2, 6, 4), r(2, 3, 4), torch.tensor([3, 0, 5])))
class Lerp(nn.Module):
    def forward(s, x, y, w):
        z = x.clone(); z.lerp_(y, w)
        return torch.lerp(x, y, w), torch.lerp(x, y, 0.3), z
go("lerp", Lerp(), (r(3, 4), r(3, 4), torch.rand(4) * 1.5 - 0.25))
class TriSolve(nn.Module):
    def forward(s, a, b, c):
        low, up = a.tril() + 3 * torch.eye(4), a.triu() + 3 * torch.eye(4)
        return (torch.linalg.solve_triangular(low, b, upper=False),
                torch.linalg.solve_triangular(up, b, upper=True, unitriangular=True),
                torch.linalg.solve_triangular(up, c, upper=True, left=False),
                torch.einsum("...ij,...jk->...ik", a, b), torch.einsum("b...,b...->...", c, c))
go("tri_solve", TriSolve(), (r(2, 4, 4), r(2, 4, 3), r(2, 5, 4)))
