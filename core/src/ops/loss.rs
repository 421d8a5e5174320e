//! Losses as PyTorch's programs record them (`F.cross_entropy`, `F.mse_loss`, …: the
//! default IR keeps `cross_entropy_loss`, `nll_loss_nd`, `mse_loss`, …; the core IR has
//! their decompositions). Composites written as PyTorch's decompositions compute them
//! (`_refs.nn.functional`, `_decomp`), with `reduction` ATen's integer: 0 none, 1 mean,
//! 2 sum.

use super::op_def;
use super::util::{meta_of, shapes_match};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Tensor, TensorMeta};

/// `loss` reduced as `reduction` says.
fn reduced(loss: Tensor, reduction: i64) -> Result<Tensor, OpError> {
    match reduction {
        0 => Ok(loss),
        1 => Ok(loss.mean()),
        2 => Ok(loss.sum()),
        r => op_bail!("{r} is not a valid value for reduction"),
    }
}

/// The result meta of a loss of `dtype` whose unreduced value has `sizes`.
fn reduced_meta(
    dtype: crate::tensor::DType,
    sizes: Vec<SymInt>,
    reduction: i64,
) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![match reduction {
        0 => TensorMeta::new(dtype, sizes),
        1 | 2 => TensorMeta::new(dtype, vec![]),
        r => op_bail!("{r} is not a valid value for reduction"),
    }])
}

/// The result meta of an elementwise loss of `x` and `target` (broadcast) under
/// `reduction`: the broadcast shape, or a scalar.
fn elementwise_meta(
    x: &Tensor,
    target: &Tensor,
    reduction: i64,
) -> Result<Vec<TensorMeta>, OpError> {
    let (x, t) = (meta_of(x)?, meta_of(target)?);
    if !x.dtype.is_float() {
        op_bail!(
            "a loss of {} values: expected a floating-point input",
            x.dtype
        );
    }
    let sizes = crate::tensor::sizes::broadcast_shapes(&x.sizes, &t.sizes)?;
    reduced_meta(x.dtype, sizes, reduction)
}

/// The class dim of an input of `rank` dims: 1, or 0 for one sample `[C]`.
fn class_dim(rank: usize) -> i64 {
    i64::from(rank >= 2)
}

/// `nll_loss_nd`'s checks and result meta: `input` `[C]`, `[N, C]` or `[N, C, d…]`,
/// `target` the input's shape without the class dim.
fn nll_meta(input: &Tensor, target: &Tensor, reduction: i64) -> Result<Vec<TensorMeta>, OpError> {
    let (x, t) = (meta_of(input)?, meta_of(target)?);
    if x.rank() == 0 {
        op_bail!("nll_loss: Expected input dimension to be either [1, 2, 3] but received 0.");
    }
    if t.dtype.is_float() || t.dtype == crate::tensor::DType::Bool {
        op_bail!(
            "nll_loss: expected class indices of an integer dtype, got {}",
            t.dtype
        );
    }
    let mut want = x.sizes.clone();
    want.remove(class_dim(x.rank()) as usize);
    if !shapes_match(&want, &t.sizes) {
        op_bail!(
            "nll_loss: Expected a target of size {} for an input of size {}, got {}",
            format_sizes(&want),
            format_sizes(&x.sizes),
            format_sizes(&t.sizes)
        );
    }
    reduced_meta(x.dtype, want, reduction)
}

/// `ignore_index`, which a program gives as a number.
fn constant_index(i: &SymInt) -> Result<i64, OpError> {
    i.as_int()
        .ok_or_else(|| OpError(format!("ignore_index must be a constant, got {i}")))
}

/// The target classes of a class-index loss, read as PyTorch's `_nll_loss_nd` reads
/// them.
struct TargetClasses {
    /// `-input[…, target, …]` times the target's class weight: the unreduced loss.
    loss: Tensor,
    /// Each target's class weight (1 without weights), 0 where it is `ignore_index`:
    /// what a mean divides by.
    weights: Tensor,
    /// Where the target is `ignore_index`.
    ignored: Tensor,
}

fn target_classes(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: &SymInt,
) -> Result<TargetClasses, OpError> {
    let ignore_index = constant_index(ignore_index)?;
    let cd = class_dim(input.dim());
    let ignored = target.eq(ignore_index);
    // An ignored target reads class 0 (any class: its weight is 0).
    let safe = Tensor::where_(&ignored, &target.full_like(0), target);
    let picked = input.gather(cd, &safe.unsqueeze(cd)).squeeze_dim(cd);
    let zero = Tensor::scalar_tensor(0.0, input.dtype());
    let class_weight = match weight {
        Some(w) => w
            .index_select(0, &safe.flatten(0, -1))
            .reshape(target.sizes()),
        None => Tensor::scalar_tensor(1.0, input.dtype()),
    };
    let weights = Tensor::where_(&ignored, &zero, &class_weight);
    Ok(TargetClasses {
        loss: picked.neg() * &weights,
        weights,
        ignored,
    })
}

/// `loss` reduced as `reduction` says, a mean divided by the summed target `weights`
/// (`nll_loss`'s weighted mean, and ATen's for the smoothed term of `cross_entropy`).
fn weighted_reduction(loss: Tensor, weights: &Tensor, reduction: i64) -> Result<Tensor, OpError> {
    match reduction {
        1 => Ok(loss.sum() / weights.sum()),
        r => reduced(loss, r),
    }
}

/// The negative log likelihood of the target classes, as PyTorch's `_nll_loss_nd`.
fn nll(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: i64,
    ignore_index: &SymInt,
) -> Result<Tensor, OpError> {
    let classes = target_classes(input, target, weight, ignore_index)?;
    weighted_reduction(classes.loss, &classes.weights, reduction)
}

/// `weight` `[C]` shaped to broadcast along the class dim of a `rank`-dim input.
fn along_classes(weight: &Tensor, rank: usize) -> Tensor {
    let mut shape = vec![SymInt::Int(1); rank];
    if let Some(c) = shape.get_mut(class_dim(rank) as usize) {
        *c = weight.size(0);
    }
    weight.reshape(shape)
}

/// ATen's `cross_entropy_loss`: `log_softmax` over the class dim, then for class-index
/// targets `nll_loss_nd` (plus, with label smoothing, the smoothed term over every
/// class), for class-probability targets (float, the input's shape) the weighted sum of
/// `-target · log p` over the classes.
fn cross_entropy(a: &CrossEntropyLoss) -> Result<Vec<Tensor>, OpError> {
    let (x, target, ls) = (&a.self_, &a.target, a.label_smoothing);
    let rank = x.dim();
    let cd = class_dim(rank);
    let classes = x.size(cd).hint() as f64;
    let logp = x.log_softmax(cd);
    let weight = a.weight.as_ref().map(|w| along_classes(w, rank));
    let weighted = |t: &Tensor| weight.as_ref().map_or_else(|| t.clone(), |w| t * w);
    if meta_of(target)?.dtype.is_float() {
        let target = if ls > 0.0 {
            target.mul(1.0 - ls).add(ls / classes)
        } else {
            target.clone()
        };
        let loss = weighted(&(&logp * &target)).sum_dim(&[cd], false).neg();
        return Ok(vec![reduced(loss, a.reduction)?]);
    }
    let picked = target_classes(&logp, target, a.weight.as_ref(), &a.ignore_index)?;
    let nll_loss = weighted_reduction(picked.loss, &picked.weights, a.reduction)?;
    if ls <= 0.0 {
        return Ok(vec![nll_loss]);
    }
    let zero = Tensor::scalar_tensor(0.0, x.dtype());
    let every_class = weighted(&logp).sum_dim(&[cd], false).neg();
    let smooth = Tensor::where_(&picked.ignored, &zero, &every_class);
    let smooth = weighted_reduction(smooth, &picked.weights, a.reduction)?;
    Ok(vec![nll_loss.mul(1.0 - ls) + smooth.mul(ls / classes)])
}

fn cross_entropy_meta(a: &CrossEntropyLoss) -> Result<Vec<TensorMeta>, OpError> {
    let (x, t) = (meta_of(&a.self_)?, meta_of(&a.target)?);
    if t.dtype.is_float() {
        if !shapes_match(&x.sizes, &t.sizes) {
            op_bail!(
                "cross_entropy: class-probability targets must have the input's size {}, got {}",
                format_sizes(&x.sizes),
                format_sizes(&t.sizes)
            );
        }
        let mut sizes = x.sizes.clone();
        sizes.remove(class_dim(x.rank()) as usize);
        return reduced_meta(x.dtype, sizes, a.reduction);
    }
    nll_meta(&a.self_, &a.target, a.reduction)
}

/// `input - target` and its absolute value.
fn difference(x: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
    let d = x - target;
    let abs = d.abs();
    (d, abs)
}

fn smooth_l1(a: &SmoothL1Loss) -> Result<Vec<Tensor>, OpError> {
    let (d, abs) = difference(&a.self_, &a.target);
    if a.beta == 0.0 {
        return Ok(vec![reduced(abs, a.reduction)?]);
    }
    let quadratic = d.pow(2.0).mul(0.5).div(a.beta);
    let linear = abs.sub(0.5 * a.beta);
    let loss = Tensor::where_(&abs.lt(a.beta), &quadratic, &linear);
    Ok(vec![reduced(loss, a.reduction)?])
}

fn huber(a: &HuberLoss) -> Result<Vec<Tensor>, OpError> {
    let (d, abs) = difference(&a.self_, &a.target);
    let quadratic = d.pow(2.0).mul(0.5);
    let linear = abs.sub(0.5 * a.delta).mul(a.delta);
    let loss = Tensor::where_(&abs.lt(a.delta), &quadratic, &linear);
    Ok(vec![reduced(loss, a.reduction)?])
}

/// `(target - 1) · max(log(1 - x), -100) - target · max(log x, -100)`, as PyTorch's
/// decomposition (its clamp keeps a saturated probability's loss finite).
fn binary_cross_entropy(a: &BinaryCrossEntropy) -> Result<Vec<Tensor>, OpError> {
    let (x, t) = (&a.self_, &a.target);
    let floor = Tensor::scalar_tensor(-100.0, x.dtype());
    let log_1mx = x.neg().log1p().maximum(&floor);
    let log_x = x.log().maximum(&floor);
    let loss = &(&t.sub(1.0) * &log_1mx) - &(t * &log_x);
    let loss = a.weight.as_ref().map_or(loss.clone(), |w| &loss * w);
    Ok(vec![reduced(loss, a.reduction)?])
}

/// `(1 - target) · x - w · log σ(x)`, `w = (pos_weight - 1) · target + 1` when given.
fn binary_cross_entropy_with_logits(
    a: &BinaryCrossEntropyWithLogits,
) -> Result<Vec<Tensor>, OpError> {
    let (x, t) = (&a.self_, &a.target);
    let log_sigmoid = x.log_sigmoid();
    let log_sigmoid = match &a.pos_weight {
        Some(p) => &(&p.sub(1.0) * t).add(1.0) * &log_sigmoid,
        None => log_sigmoid,
    };
    let loss = &(&t.neg().add(1.0) * x) - &log_sigmoid;
    let loss = a.weight.as_ref().map_or(loss.clone(), |w| &loss * w);
    Ok(vec![reduced(loss, a.reduction)?])
}

/// `target · (log target - input)` (0 where the target is 0), or with `log_target`
/// `exp(target) · (target - input)`.
fn kl_div(a: &KlDiv) -> Result<Vec<Tensor>, OpError> {
    let (x, t) = (&a.self_, &a.target);
    let loss = if a.log_target {
        &t.exp() * &(t - x)
    } else {
        let zero = Tensor::scalar_tensor(0.0, x.dtype());
        let xlogy = Tensor::where_(&t.eq(0.0), &zero, &(t * &t.log()));
        &xlogy - &(t * x)
    };
    Ok(vec![reduced(loss, a.reduction)?])
}

fn nll_loss_meta(a: &NllLoss) -> Result<Vec<TensorMeta>, OpError> {
    nll_meta(&a.self_, &a.target, a.reduction)
}

fn nll_loss(a: &NllLoss) -> Result<Vec<Tensor>, OpError> {
    let loss = nll(
        &a.self_,
        &a.target,
        a.weight.as_ref(),
        a.reduction,
        &a.ignore_index,
    )?;
    Ok(vec![loss])
}

op_def! {
    pub static CROSS_ENTROPY_LOSS: struct CrossEntropyLoss =
        "aten::cross_entropy_loss(Tensor self, Tensor target, Tensor? weight=None, int reduction=1, SymInt ignore_index=-100, float label_smoothing=0.) -> Tensor" {
        meta: cross_entropy_meta,
        composite: cross_entropy,
    }
    pub static NLL_LOSS_ND: struct NllLoss =
        "aten::nll_loss_nd(Tensor self, Tensor target, Tensor? weight=None, int reduction=1, SymInt ignore_index=-100) -> Tensor" {
        meta: nll_loss_meta,
        composite: nll_loss,
    }
    pub static NLL_LOSS: NllLoss =
        "aten::nll_loss(Tensor self, Tensor target, Tensor? weight=None, int reduction=1, SymInt ignore_index=-100) -> Tensor" {
        meta: nll_loss_meta,
        composite: nll_loss,
    }
    pub static MSE_LOSS: struct PairLoss =
        "aten::mse_loss(Tensor self, Tensor target, int reduction=1) -> Tensor" {
        meta: |a: &PairLoss| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: |a: &PairLoss| Ok(vec![reduced((&a.self_ - &a.target).pow(2.0), a.reduction)?]),
    }
    pub static L1_LOSS: PairLoss =
        "aten::l1_loss(Tensor self, Tensor target, int reduction=1) -> Tensor" {
        meta: |a: &PairLoss| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: |a: &PairLoss| Ok(vec![reduced((&a.self_ - &a.target).abs(), a.reduction)?]),
    }
    pub static SMOOTH_L1_LOSS: struct SmoothL1Loss =
        "aten::smooth_l1_loss(Tensor self, Tensor target, int reduction=1, float beta=1.) -> Tensor" {
        meta: |a: &SmoothL1Loss| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: smooth_l1,
    }
    pub static HUBER_LOSS: struct HuberLoss =
        "aten::huber_loss(Tensor self, Tensor target, int reduction=1, float delta=1.) -> Tensor" {
        meta: |a: &HuberLoss| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: huber,
    }
    pub static BINARY_CROSS_ENTROPY: struct BinaryCrossEntropy =
        "aten::binary_cross_entropy(Tensor self, Tensor target, Tensor? weight=None, int reduction=1) -> Tensor" {
        meta: |a: &BinaryCrossEntropy| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: binary_cross_entropy,
    }
    pub static BINARY_CROSS_ENTROPY_WITH_LOGITS: struct BinaryCrossEntropyWithLogits =
        "aten::binary_cross_entropy_with_logits(Tensor self, Tensor target, Tensor? weight=None, Tensor? pos_weight=None, int reduction=1) -> Tensor" {
        meta: |a: &BinaryCrossEntropyWithLogits| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: binary_cross_entropy_with_logits,
    }
    pub static KL_DIV: struct KlDiv =
        "aten::kl_div(Tensor self, Tensor target, int reduction=1, *, bool log_target=False) -> Tensor" {
        meta: |a: &KlDiv| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: kl_div,
    }
}
