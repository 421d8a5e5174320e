//! `nn::Conv3d`, the 3-D poolings, `nn::EmbeddingBag`, `F::affine_grid`,
//! `F::grid_sample` and bicubic upsampling against PyTorch 2.15: the Rust models of
//! `tests/data/pt2_more/`'s `volumes`, `bags` and `spatial` programs (`gen_more.py`),
//! given the weights of PyTorch's archive, export to PyTorch's ops and parameter names
//! and give PyTorch's values, eagerly and exported.

mod common;

use common::pt2_corpus::check_rust_model;
use ferrex::nn::functional as F;
use ferrex::prelude::*;

/// `gen_more.py`'s `Volumes`.
#[export_module]
struct Volumes {
    c: nn::Conv3d,
    g: nn::Conv3d,
    p: nn::AdaptiveAvgPool3d,
}

type Seven = (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor);

#[export_module]
impl Volumes {
    fn forward(&self, x: &Tensor) -> Seven {
        let y = self.c.forward(x).relu();
        let (m, i) = y.max_pool3d_with_indices(&[2], &[1, 2, 2], &[0], &[1], true);
        let a = F::avg_pool3d(&y, &[1, 3, 3], Some(&[2]), &[0, 1, 1], false, false, None);
        let pooled = self.p.forward(&y).flatten(1, -1);
        let unbatched = F::max_pool3d(&x.select(0, 0), &[2], None, &[0], &[1], false);
        let divided = F::avg_pool3d(x, &[2], None, &[0], false, true, Some(3));
        (self.g.forward(&y), m, i, a, pooled, unbatched, divided)
    }
}

/// `Bags`: sum with per-sample weights, mean with padding row 3, max, the functional
/// form with `include_last_offset`, and a 2-D input.
#[export_module]
struct Bags {
    sum: nn::EmbeddingBag,
    mean: nn::EmbeddingBag,
    max: nn::EmbeddingBag,
}

type Five = (Tensor, Tensor, Tensor, Tensor, Tensor);

#[export_module]
impl Bags {
    fn forward(&self, ids: &Tensor, off: &Tensor, psw: &Tensor, rows: &Tensor) -> Five {
        let last = Tensor::embedding_bag(&self.sum.weight, ids, off, "sum", None, true, None);
        (
            self.sum.forward_bags(ids, off, Some(psw)),
            self.mean.forward_bags(ids, off, None),
            self.max.forward_bags(ids, off, None),
            last,
            self.mean.forward(rows),
        )
    }
}

/// `Spatial`: an affine grid from a linear layer, sampled in every mode, padding and
/// corner rule; bicubic upsampling by a factor and to a size.
#[export_module]
struct Spatial {
    fc: nn::Linear,
}

#[export_module]
impl Spatial {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let th = self.fc.forward(&x.flatten(1, -1)).view([-1, 2, 3]).mul(2.0);
        let mut outs = Vec::new();
        for align in [false, true] {
            let grid = F::affine_grid(&th, &[2, 1, 3, 5], align);
            for mode in ["bilinear", "nearest", "bicubic"] {
                for pad in ["zeros", "border", "reflection"] {
                    outs.push(F::grid_sample(x, &grid, mode, pad, align));
                }
            }
        }
        let by_factor = F::interpolate(x, None, Some(&[1.5]), "bicubic");
        let to_size = x.upsample_bicubic2d(Some(&[6, 7]), true, None);
        (Tensor::cat(&outs, 1), by_factor.add(&to_size))
    }
}

/// `check_rust_model` on pt2_more's program `name` (static shapes).
fn check<M: Forward + ModuleExt>(
    name: &str,
    model: &M,
    eager: impl Fn(&M, &[Tensor]) -> Vec<Tensor>,
    args: impl Fn(&[Tensor]) -> M::Args,
) {
    check_rust_model("pt2_more", name, model, None, eager, args);
}

#[test]
fn volumes_model_gives_pytorchs_program_and_values() {
    let model = Volumes {
        c: nn::Conv3d::new(2, 4, 3).padding(1),
        g: Volumes::grouped(),
        p: nn::AdaptiveAvgPool3d::new([1, 2, 2]),
    };
    let eager = |m: &Volumes, x: &[Tensor]| {
        let (a, b, c, d, e, f, g) = m.forward(&x[0]);
        vec![a, b, c, d, e, f, g]
    };
    check("volumes", &model, eager, |x| (x[0].copy(),));
}

impl Volumes {
    /// `nn.Conv3d(4, 4, (2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1),
    /// dilation=(1, 2, 1), groups=2, bias=False)`.
    fn grouped() -> nn::Conv3d {
        let mut g = nn::Conv3d::with_kernel(4, 4, [2, 3, 3], 2, false);
        g.stride = [1, 2, 2];
        g.padding = [0, 1, 1];
        g.dilation = [1, 2, 1];
        g
    }
}

#[test]
fn embedding_bag_model_gives_pytorchs_program_and_values() {
    let model = Bags {
        sum: nn::EmbeddingBag::new(12, 5, "sum"),
        mean: nn::EmbeddingBag::new(12, 5, "mean").padding_idx(3),
        max: nn::EmbeddingBag::new(12, 5, "max"),
    };
    let eager = |m: &Bags, x: &[Tensor]| {
        let (a, b, c, d, e) = m.forward(&x[0], &x[1], &x[2], &x[3]);
        vec![a, b, c, d, e]
    };
    let args = |x: &[Tensor]| (x[0].copy(), x[1].copy(), x[2].copy(), x[3].copy());
    check("bags", &model, eager, args);
}

#[test]
fn spatial_transformer_model_gives_pytorchs_program_and_values() {
    let model = Spatial {
        fc: nn::Linear::new(20, 6),
    };
    let eager = |m: &Spatial, x: &[Tensor]| {
        let (a, b) = m.forward(&x[0]);
        vec![a, b]
    };
    check("spatial", &model, eager, |x| (x[0].copy(),));
}
