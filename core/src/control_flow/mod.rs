//! Control-flow operators: `cond!` expresses a branch on tensor data as one graph node
//! with both branches traced into subgraphs.

mod cond;
mod higher_order;
mod map;

pub use cond::{cond, BranchOutput, CondPred};
pub use higher_order::{higher_order_ops, lookup_higher_order, Cond, Map, COND, MAP};
pub use map::map;

/// `cond!(pred, |x| true_branch, |x| false_branch, [x])`: a data-dependent branch that
/// exports as one `cond` node (PyTorch's `torch.cond`).
///
/// - `pred` is a one-element tensor (`x.sum().gt(0.0)`), a `bool` computed from shapes
///   (which picks the branch at export time, as PyTorch specialises it), or a symbolic
///   comparison of sizes (`x.size(0).sym_gt(2)`), which keeps both branches;
/// - the operands `[x, y, …]` are tensors, passed to the branches in order;
/// - both branches return the same number of tensors with the same dtypes and shapes;
/// - branches may read tensors of the enclosing scope (parameters, other values): they
///   become extra operands of the node; they may not mutate their inputs;
/// - branch parameters are owned tensors (`|x| …`), or references when written with their
///   type (`|x: &Tensor| self.block.forward(x)`), so code written for `&Tensor` values
///   moves into a branch unchanged.
///
/// ```
/// use ferrex::prelude::*;
/// use ferrex::cond;
///
/// let x = Tensor::ones([3]);
/// let y = cond!(x.sum().item::<f32>()? > 0.0, |x| x.sin(), |x| x.cos(), [x]);
/// assert_eq!(y.shape(), [3]);
/// # Ok::<(), ferrex::TensorError>(())
/// ```
#[macro_export]
macro_rules! cond {
    ($pred:expr, |$($a:ident),* $(,)?| $t:expr, |$($b:ident),* $(,)?| $f:expr, [$($op:expr),* $(,)?] $(,)?) => {
        $crate::control_flow::cond(
            $pred,
            |__ferrex_ops: &[$crate::Tensor]| {
                let mut __ferrex_i = 0usize;
                $(
                    #[allow(unused_variables)]
                    let $a = $crate::control_flow::__operand(__ferrex_ops, &mut __ferrex_i);
                )*
                $t
            },
            |__ferrex_ops: &[$crate::Tensor]| {
                let mut __ferrex_i = 0usize;
                $(
                    #[allow(unused_variables)]
                    let $b = $crate::control_flow::__operand(__ferrex_ops, &mut __ferrex_i);
                )*
                $f
            },
            &[$($crate::Tensor::clone(&$op)),*],
        )
    };
    ($pred:expr, |$($a:ident : &$aty:ty),* $(,)?| $t:expr, |$($b:ident : &$bty:ty),* $(,)?| $f:expr, [$($op:expr),* $(,)?] $(,)?) => {
        $crate::control_flow::cond(
            $pred,
            |__ferrex_ops: &[$crate::Tensor]| {
                let mut __ferrex_i = 0usize;
                $(
                    let $a: $aty = $crate::control_flow::__operand(__ferrex_ops, &mut __ferrex_i);
                    #[allow(unused_variables)]
                    let $a: &$aty = &$a;
                )*
                $crate::control_flow::IntoBranchOutput::into_branch_output($t)
            },
            |__ferrex_ops: &[$crate::Tensor]| {
                let mut __ferrex_i = 0usize;
                $(
                    let $b: $bty = $crate::control_flow::__operand(__ferrex_ops, &mut __ferrex_i);
                    #[allow(unused_variables)]
                    let $b: &$bty = &$b;
                )*
                $crate::control_flow::IntoBranchOutput::into_branch_output($f)
            },
            &[$($crate::Tensor::clone(&$op)),*],
        )
    };
    ($pred:expr, || $t:expr, || $f:expr, [] $(,)?) => {
        $crate::control_flow::cond($pred, |_: &[$crate::Tensor]| $t, |_: &[$crate::Tensor]| $f, &[])
    };
    ($pred:expr, $t:expr, $f:expr, [$($op:expr),* $(,)?] $(,)?) => {
        $crate::control_flow::cond($pred, $t, $f, &[$($crate::Tensor::clone(&$op)),*])
    };
}

/// `map!(|x, y| body, xs, [y])`: applies the body to each slice of `xs` along dim 0
/// (`x` is one slice; the operands `[y, …]` are passed whole) and stacks the results;
/// exports as one `map_impl` node with the body as a subgraph (PyTorch's `map`).
/// Parameters are owned tensors, or references when written with their type
/// (`|x: &Tensor, w: &Tensor| self.block.forward(x) * w`), as in `cond!`.
///
/// ```
/// use ferrex::prelude::*;
/// use ferrex::map;
///
/// let xs = Tensor::ones([3, 2]);
/// let y = Tensor::from_slice(&[1.0f32, 2.0]);
/// let out = map!(|x, y| x + y, xs, [y]);
/// assert_eq!(out.to_vec::<f32>()?, [2.0, 3.0, 2.0, 3.0, 2.0, 3.0]);
/// # Ok::<(), ferrex::TensorError>(())
/// ```
#[macro_export]
macro_rules! map {
    (|$($a:ident),+ $(,)?| $body:expr, $xs:expr, [$($op:expr),* $(,)?] $(,)?) => {
        $crate::control_flow::map(
            |__ferrex_ops: &[$crate::Tensor]| {
                let mut __ferrex_i = 0usize;
                $(
                    #[allow(unused_variables)]
                    let $a = $crate::control_flow::__operand(__ferrex_ops, &mut __ferrex_i);
                )+
                $body
            },
            &$xs,
            &[$($crate::Tensor::clone(&$op)),*],
        )
    };
    (|$($a:ident : &$aty:ty),+ $(,)?| $body:expr, $xs:expr, [$($op:expr),* $(,)?] $(,)?) => {
        $crate::control_flow::map(
            |__ferrex_ops: &[$crate::Tensor]| {
                let mut __ferrex_i = 0usize;
                $(
                    let $a: $aty = $crate::control_flow::__operand(__ferrex_ops, &mut __ferrex_i);
                    #[allow(unused_variables)]
                    let $a: &$aty = &$a;
                )+
                $crate::control_flow::IntoBranchOutput::into_branch_output($body)
            },
            &$xs,
            &[$($crate::Tensor::clone(&$op)),*],
        )
    };
    (|$($a:ident),+ $(,)?| $body:expr, $xs:expr $(,)?) => {
        $crate::map!(|$($a),+| $body, $xs, [])
    };
    (|$($a:ident : &$aty:ty),+ $(,)?| $body:expr, $xs:expr $(,)?) => {
        $crate::map!(|$($a: &$aty),+| $body, $xs, [])
    };
}

/// What a branch written with `&Tensor` parameters returns, made owned before it leaves
/// the branch (`|x: &Tensor| x` returns the operand itself).
pub trait IntoBranchOutput {
    type Output: BranchOutput;
    fn into_branch_output(self) -> Self::Output;
}

impl<T: BranchOutput> IntoBranchOutput for T {
    type Output = T;
    fn into_branch_output(self) -> T {
        self
    }
}

impl IntoBranchOutput for &crate::Tensor {
    type Output = crate::Tensor;
    fn into_branch_output(self) -> crate::Tensor {
        self.clone()
    }
}

/// The next operand of a branch (for `cond!`'s expansion).
#[doc(hidden)]
pub fn __operand(ops: &[crate::Tensor], i: &mut usize) -> crate::Tensor {
    let t = ops.get(*i).cloned().unwrap_or_else(|| {
        crate::Tensor::failed(crate::TensorError::Construct {
            what: "cond!",
            message: format!(
                "the branch takes more parameters than the {} operands given",
                ops.len()
            ),
        })
    });
    *i += 1;
    t
}
