//! Control-flow operators: `cond!` expresses a branch on tensor data as one graph node
//! with both branches traced into subgraphs.

mod cond;

pub use cond::{cond, BranchOutput, CondPred};

/// `cond!(pred, |x| true_branch, |x| false_branch, [x])`: a data-dependent branch that
/// exports as one `cond` node (PyTorch's `torch.cond`).
///
/// - `pred` is a one-element tensor (`x.sum().gt(0.0)`) or a `bool` computed from
///   shapes (a `bool` picks the branch at export time, as PyTorch specialises it);
/// - the operands `[x, y, …]` are tensors, passed to the branches in order;
/// - both branches return the same number of tensors with the same dtypes and shapes;
/// - branches may read tensors of the enclosing scope (parameters, other values): they
///   become extra operands of the node; they may not mutate their inputs.
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
    ($pred:expr, $t:expr, $f:expr, [$($op:expr),* $(,)?] $(,)?) => {
        $crate::control_flow::cond($pred, $t, $f, &[$($crate::Tensor::clone(&$op)),*])
    };
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
