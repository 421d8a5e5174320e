//! Losses as PyTorch's programs record them (`F.cross_entropy`, `F.mse_loss`, …: the
//! default IR keeps `cross_entropy_loss`, `nll_loss_nd`, `mse_loss`, …; the core IR has
//! their decompositions). Composites written as PyTorch's decompositions compute them
//! (`_refs.nn.functional`, `_decomp`), with `reduction` ATen's integer: 0 none, 1 mean,
//! 2 sum.

use super::util::{first_result, meta_of, shapes_match};
use super::{op_def, Value};
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
    broadcast_meta(&[x, target], reduction)
}

/// The result meta of a loss whose unreduced value is elementwise in `operands`
/// (broadcast; the first one a floating-point input).
fn broadcast_meta(operands: &[&Tensor], reduction: i64) -> Result<Vec<TensorMeta>, OpError> {
    let metas: Vec<TensorMeta> = operands
        .iter()
        .map(|t| meta_of(t))
        .collect::<Result<_, _>>()?;
    let Some(x) = metas.first() else {
        op_bail!("a loss of no operands");
    };
    if !x.dtype.is_float() {
        op_bail!(
            "a loss of {} values: expected a floating-point input",
            x.dtype
        );
    }
    let mut sizes = x.sizes.clone();
    for m in &metas[1..] {
        sizes = crate::tensor::sizes::broadcast_shapes(&sizes, &m.sizes)?;
    }
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

// ---------------------------------------------------------------------------------------
// Margin and embedding losses, soft margin, Poisson NLL: ATen's composites

/// `max(x, 0)`.
fn clamp_min0(x: &Tensor) -> Tensor {
    x.clamp(Some(0.0), None)
}

/// The dims of `cosine_embedding_loss`'s operands: a 1-D target wants 2-D inputs (one
/// pair per row), a 0-D target 1-D inputs. The dim the cosine is taken over.
fn cosine_embedding_dim(a: &CosineEmbeddingLoss) -> Result<i64, OpError> {
    let (x1, x2, t) = (
        meta_of(&a.input1)?,
        meta_of(&a.input2)?,
        meta_of(&a.target)?,
    );
    let want = match t.rank() {
        0 => 1,
        1 => 2,
        _ => op_bail!("0D or 1D target tensor expected, multi-target not supported"),
    };
    if x1.rank() != want || x2.rank() != want {
        op_bail!(
            "{}D target tensor expects {want}D input tensors, but found inputs with sizes {} and {}.",
            t.rank(),
            format_sizes(&x1.sizes),
            format_sizes(&x2.sizes)
        );
    }
    Ok(t.rank() as i64)
}

fn cosine_embedding_meta(a: &CosineEmbeddingLoss) -> Result<Vec<TensorMeta>, OpError> {
    let d = cosine_embedding_dim(a)?;
    let (x1, x2, t) = (
        meta_of(&a.input1)?,
        meta_of(&a.input2)?,
        meta_of(&a.target)?,
    );
    if !x1.dtype.is_float() {
        op_bail!(
            "cosine_embedding_loss of {} values: expected a floating-point input",
            x1.dtype
        );
    }
    let mut sizes = crate::tensor::sizes::broadcast_shapes(&x1.sizes, &x2.sizes)?;
    sizes.remove(d as usize);
    let sizes = crate::tensor::sizes::broadcast_shapes(&sizes, &t.sizes)?;
    reduced_meta(x1.dtype, sizes, a.reduction)
}

/// `1 - cos(x1, x2)` where the target is 1, `max(cos - margin, 0)` where it is -1, 0
/// elsewhere; the cosine's squared norms each plus 1e-12 (ATen's `EPSILON`).
fn cosine_embedding(a: &CosineEmbeddingLoss) -> Result<Vec<Tensor>, OpError> {
    const EPSILON: f64 = 1e-12;
    let d = [cosine_embedding_dim(a)?];
    let (x1, x2) = (&a.input1, &a.input2);
    let prod = x1.mul(x2).sum_dim(&d, false);
    let mag1 = x1.mul(x1).sum_dim(&d, false).add(EPSILON);
    let mag2 = x2.mul(x2).sum_dim(&d, false).add(EPSILON);
    let cos = prod.div(mag1.mul(&mag2).sqrt());
    let zeros = cos.full_like(0.0);
    let pos = cos.neg().add(1.0);
    let neg = clamp_min0(&cos.sub(a.margin));
    let loss = Tensor::where_(&a.target.eq(1), &pos, &zeros)
        + Tensor::where_(&a.target.eq(-1), &neg, &zeros);
    Ok(vec![reduced(loss, a.reduction)?])
}

/// `x` where the target is 1, `max(margin - x, 0)` where it is -1 (both for other
/// values, as ATen).
fn hinge_embedding(a: &HingeEmbeddingLoss) -> Result<Vec<Tensor>, OpError> {
    let (x, t) = (&a.self_, &a.target);
    let zeros = x.full_like(0.0);
    let margin_clamp = clamp_min0(&x.neg().add(a.margin));
    let loss =
        Tensor::where_(&t.ne(1), &margin_clamp, &zeros) + Tensor::where_(&t.ne(-1), x, &zeros);
    Ok(vec![reduced(loss, a.reduction)?])
}

fn margin_ranking_meta(a: &MarginRankingLoss) -> Result<Vec<TensorMeta>, OpError> {
    let ms = [
        meta_of(&a.input1)?,
        meta_of(&a.input2)?,
        meta_of(&a.target)?,
    ];
    if ms[0].rank() != ms[1].rank() || ms[0].rank() != ms[2].rank() {
        op_bail!(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: {}, input2: {}, target: {} ",
            format_sizes(&ms[0].sizes),
            format_sizes(&ms[1].sizes),
            format_sizes(&ms[2].sizes)
        );
    }
    broadcast_meta(&[&a.input1, &a.input2, &a.target], a.reduction)
}

/// `max(-target · (x1 - x2) + margin, 0)`.
fn margin_ranking(a: &MarginRankingLoss) -> Result<Vec<Tensor>, OpError> {
    let loss = a.target.neg().mul(a.input1.sub(&a.input2)).add(a.margin);
    Ok(vec![reduced(clamp_min0(&loss), a.reduction)?])
}

/// `multi_margin_loss`'s frames and classes: the input `[N, C]` or `[C]` (one frame),
/// the target one class index per frame.
fn multi_margin_plan(a: &MultiMarginLoss) -> Result<(SymInt, SymInt, TensorMeta), OpError> {
    let (x, t) = (meta_of(&a.self_)?, meta_of(&a.target)?);
    let (frames, classes) = match x.sizes.as_slice() {
        [n, c] if c.hint() != 0 => (n.clone(), c.clone()),
        [c] if c.hint() != 0 => (SymInt::Int(1), c.clone()),
        s => op_bail!(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: {}",
            format_sizes(s)
        ),
    };
    if !x.dtype.is_float() {
        op_bail!(
            "multi_margin_loss of {} values: expected a floating-point input",
            x.dtype
        );
    }
    if t.dtype.is_float() || t.dtype == crate::tensor::DType::Bool {
        op_bail!(
            "multi_margin_loss: expected class indices of an integer dtype, got {}",
            t.dtype
        );
    }
    if t.rank() > 1 || !t.numel().sym_eq(&frames) {
        op_bail!("inconsistent target size, got: {}", format_sizes(&t.sizes));
    }
    let p = a.p.to::<f64>();
    if p != 1.0 && p != 2.0 {
        op_bail!("only p == 1 and p == 2 supported");
    }
    if let Some(w) = &a.weight {
        let w = meta_of(w)?;
        if w.rank() != 1 || !w.sizes[0].sym_eq(&classes) {
            op_bail!(
                "inconsistent weight size, expected {classes} but got {}",
                format_sizes(&w.sizes)
            );
        }
    }
    let unreduced = if t.rank() == 0 {
        vec![]
    } else {
        vec![frames.clone()]
    };
    let out = reduced_meta(x.dtype, unreduced, a.reduction)?.swap_remove(0);
    Ok((frames, classes, out))
}

/// PyTorch's decomposition: per frame, `max(margin - x[y] + x[i], 0)^p` (times
/// `weight[y]`) over the classes `i ≠ y`, divided by the number of classes.
fn multi_margin(a: &MultiMarginLoss) -> Result<Vec<Tensor>, OpError> {
    let (frames, classes, out) = multi_margin_plan(a)?;
    let x = a.self_.reshape(vec![frames.clone(), classes.clone()]);
    let target = a.target.reshape(vec![frames]).unsqueeze(1);
    let picked = x.gather(1, &target);
    let mut z = clamp_min0(&x.sub(&picked).add(a.margin.to::<f64>()));
    if a.p.to::<f64>() == 2.0 {
        z = z.mul(&z);
    }
    if let Some(w) = &a.weight {
        z = z.mul(w.index_select(0, &target.squeeze_dim(1)).unsqueeze(1));
    }
    let zero = Tensor::scalar_tensor(0.0, x.dtype());
    let z = Tensor::where_(&Tensor::arange(classes).ne(&target), &z, &zero);
    Ok(vec![match a.reduction {
        0 => z.mean_dim(&[1], false).reshape(out.sizes),
        1 => z.mean(),
        2 => z.sum().div(z.size(1)),
        r => op_bail!("{r} is not a valid value for reduction"),
    }])
}

/// `exp(x) - target · x` for log inputs, else `x - target · log(x + eps)`; with `full`,
/// plus Stirling's `target · log target - target + ½ log(2π target)` where target > 1.
fn poisson_nll(a: &PoissonNllLoss) -> Result<Vec<Tensor>, OpError> {
    let (x, t) = (&a.input, &a.target);
    let mut loss = if a.log_input {
        x.exp() - t.mul(x)
    } else {
        x - &t.mul(x.add(a.eps).log())
    };
    if a.full {
        let stirling = t
            .mul(t.log())
            .sub(t)
            .add(t.mul(2.0 * std::f64::consts::PI).log().mul(0.5));
        let zero = Tensor::scalar_tensor(0.0, meta_of(x)?.dtype);
        loss = loss + Tensor::where_(&t.le(1.0), &zero, &stirling);
    }
    Ok(vec![reduced(loss, a.reduction)?])
}

fn triplet_margin_meta(a: &TripletMarginLoss) -> Result<Vec<TensorMeta>, OpError> {
    let (x, p, n) = (
        meta_of(&a.anchor)?,
        meta_of(&a.positive)?,
        meta_of(&a.negative)?,
    );
    if x.rank() != p.rank() || p.rank() != n.rank() {
        op_bail!(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: anchor {}D, positive {}D, and negative {}D inputs",
            x.rank(),
            p.rank(),
            n.rank()
        );
    }
    if x.rank() == 0 {
        op_bail!("triplet_margin_loss: expected inputs of at least 1 dim");
    }
    let mut m = broadcast_meta(&[&a.anchor, &a.positive, &a.negative], 0)?.swap_remove(0);
    m.sizes.pop();
    reduced_meta(m.dtype, m.sizes, a.reduction)
}

/// `max(margin + d(anchor, positive) - d(anchor, negative), 0)`, `d` the
/// `pairwise_distance` of norm `p` (with `swap`, the negative distance the smaller of
/// the anchor's and the positive's).
fn triplet_margin(a: &TripletMarginLoss) -> Result<Vec<Tensor>, OpError> {
    let distance = |x: &Tensor, y: &Tensor| -> Result<Tensor, OpError> {
        let args = vec![
            Value::Tensor(x.clone()),
            Value::Tensor(y.clone()),
            Value::Float(a.p),
            Value::Float(a.eps),
            Value::Bool(false),
        ];
        let d = super::reduction::PAIRWISE_DISTANCE.call_with(args);
        first_result(d, "pairwise_distance")
    };
    let positive = distance(&a.anchor, &a.positive)?;
    let mut negative = distance(&a.anchor, &a.negative)?;
    if a.swap {
        negative = negative.minimum(&distance(&a.positive, &a.negative)?);
    }
    let loss = clamp_min0(&positive.add(a.margin).sub(&negative));
    Ok(vec![reduced(loss, a.reduction)?])
}

op_def! {
    pub static COSINE_EMBEDDING_LOSS: struct CosineEmbeddingLoss =
        "aten::cosine_embedding_loss(Tensor input1, Tensor input2, Tensor target, float margin=0., int reduction=1) -> Tensor" {
        meta: cosine_embedding_meta,
        composite: cosine_embedding,
    }
    pub static HINGE_EMBEDDING_LOSS: struct HingeEmbeddingLoss =
        "aten::hinge_embedding_loss(Tensor self, Tensor target, float margin=1., int reduction=1) -> Tensor" {
        meta: |a: &HingeEmbeddingLoss| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: hinge_embedding,
    }
    pub static MARGIN_RANKING_LOSS: struct MarginRankingLoss =
        "aten::margin_ranking_loss(Tensor input1, Tensor input2, Tensor target, float margin=0., int reduction=1) -> Tensor" {
        meta: margin_ranking_meta,
        composite: margin_ranking,
    }
    pub static MULTI_MARGIN_LOSS: struct MultiMarginLoss =
        "aten::multi_margin_loss(Tensor self, Tensor target, Scalar p=1, Scalar margin=1, Tensor? weight=None, int reduction=1) -> Tensor" {
        meta: |a: &MultiMarginLoss| Ok(vec![multi_margin_plan(a)?.2]),
        composite: multi_margin,
    }
    pub static POISSON_NLL_LOSS: struct PoissonNllLoss =
        "aten::poisson_nll_loss(Tensor input, Tensor target, bool log_input, bool full, float eps, int reduction) -> Tensor" {
        meta: |a: &PoissonNllLoss| elementwise_meta(&a.input, &a.target, a.reduction),
        composite: poisson_nll,
    }
    /// `log(1 + exp(-target · x))`.
    pub static SOFT_MARGIN_LOSS: PairLoss =
        "aten::soft_margin_loss(Tensor self, Tensor target, int reduction=1) -> Tensor" {
        meta: |a: &PairLoss| elementwise_meta(&a.self_, &a.target, a.reduction),
        composite: |a: &PairLoss| {
            let loss = a.self_.neg().mul(&a.target).exp().log1p();
            Ok(vec![reduced(loss, a.reduction)?])
        },
    }
    pub static TRIPLET_MARGIN_LOSS: struct TripletMarginLoss =
        "aten::triplet_margin_loss(Tensor anchor, Tensor positive, Tensor negative, float margin=1., float p=2., float eps=1e-06, bool swap=False, int reduction=1) -> Tensor" {
        meta: triplet_margin_meta,
        composite: triplet_margin,
    }
}
