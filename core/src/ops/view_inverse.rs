//! How a write into a view reaches the tensor it was taken from: for each view op that
//! writes through, the call computing the tensor's new contents from the view's —
//! `slice_scatter` / `select_scatter` into the tensor, or the view op's inverse
//! (`transpose`, the inverse `permute`, `squeeze`, `view` back to the tensor's sizes).
//! One rule for the tensor API's views (`tensor_api/views.rs`) and the `.pt2` reader's
//! functionalization of in-place ops (`serialize/pt2/convert/views.rs`); both record
//! these calls as PyTorch's functionalization does.

use super::scatter::{SELECT_SCATTER, SLICE_SCATTER};
use super::shape::{
    EXPAND, PERMUTE, SELECT_INT, SLICE, SQUEEZE_DIM, SQUEEZE_DIMS, T, TRANSPOSE, UNSQUEEZE, VIEW,
};
use super::{OpDef, Value};
use crate::symbolic::SymInt;

/// An argument of a write-back call.
#[derive(Clone, Debug)]
pub enum WriteArg {
    /// The viewed tensor's current contents.
    Base,
    /// The view's new contents.
    Value,
    /// A number or a list of numbers.
    Arg(Value),
}

/// PyTorch's error for a write into an `expand` that repeats elements.
pub const OVERLAPPING_WRITE: &str = "unsupported operation: more than one element of the \
    written-to tensor refers to a single memory location. Please clone() the tensor before \
    performing the operation.";

fn is(op: &'static OpDef, which: &'static OpDef) -> bool {
    std::ptr::eq(op, which)
}

/// For the view `op(base, args…)` of a tensor of `base_sizes`, with `view_sizes`: the
/// call writing a new value of the view back into the tensor. `None` when `op` is not a
/// view that writes through; `Err` (PyTorch's message) when the write cannot be done.
pub fn write_back(
    op: &'static OpDef,
    args: &[Value],
    base_sizes: &[SymInt],
    view_sizes: &[SymInt],
) -> Option<Result<(&'static OpDef, Vec<WriteArg>), String>> {
    let with = |first: Vec<WriteArg>| {
        let mut all = first;
        all.extend(args.iter().cloned().map(WriteArg::Arg));
        all
    };
    let back_to_sizes = || {
        let sizes = WriteArg::Arg(Value::IntList(base_sizes.to_vec()));
        (&VIEW, vec![WriteArg::Value, sizes])
    };
    let call = if is(op, &SLICE) {
        (&SLICE_SCATTER, with(vec![WriteArg::Base, WriteArg::Value]))
    } else if is(op, &SELECT_INT) {
        (&SELECT_SCATTER, with(vec![WriteArg::Base, WriteArg::Value]))
    } else if is(op, &T) {
        (&T, vec![WriteArg::Value])
    } else if is(op, &TRANSPOSE) {
        (&TRANSPOSE, with(vec![WriteArg::Value]))
    } else if is(op, &PERMUTE) {
        let inverse = WriteArg::Arg(inverse_permutation(args.first()?));
        (&PERMUTE, vec![WriteArg::Value, inverse])
    } else if is(op, &UNSQUEEZE) {
        (&SQUEEZE_DIM, with(vec![WriteArg::Value]))
    } else if is(op, &EXPAND) {
        if repeats(base_sizes, view_sizes) {
            return Some(Err(OVERLAPPING_WRITE.to_string()));
        }
        back_to_sizes()
    } else if is(op, &VIEW) || is(op, &SQUEEZE_DIM) || is(op, &SQUEEZE_DIMS) {
        back_to_sizes()
    } else {
        return None;
    };
    Some(Ok(call))
}

/// Whether an `expand` from `base` to `view` sizes repeats an element (a dim of size 1,
/// or a new leading dim, grown past 1).
fn repeats(base: &[SymInt], view: &[SymInt]) -> bool {
    let lead = view.len().saturating_sub(base.len());
    view.iter().enumerate().any(|(i, s)| {
        s.hint() > 1 && (i < lead || base.get(i - lead).is_some_and(|b| b.hint() == 1))
    })
}

/// `permute`'s inverse dims: `inverse[dims[i]] = i` (dims counted from the end wrap).
fn inverse_permutation(dims: &Value) -> Value {
    let dims: Vec<i64> = match dims {
        Value::IntList(d) => d.iter().map(SymInt::hint).collect(),
        _ => Vec::new(),
    };
    let rank = dims.len() as i64;
    let mut inverse = vec![SymInt::Int(0); dims.len()];
    for (i, &d) in dims.iter().enumerate() {
        let d = if d < 0 { d + rank } else { d };
        if let Some(slot) = usize::try_from(d).ok().and_then(|d| inverse.get_mut(d)) {
            *slot = SymInt::Int(i as i64);
        }
    }
    Value::IntList(inverse)
}
