//! Rule: reading (or writing) tensor data — `item`, `to_vec`, `as_slice`, `data`,
//! `data_mut`, indexing a tensor down to an element — the tutorial's `Bad2`. While
//! exporting, a tensor has no values to read.

use quote::ToTokens;

use super::{graph_break, non_strict_fix};

/// Methods that return the elements of a tensor.
pub(crate) const DATA_READS: &[&str] = &["item", "to_vec", "to_ndarray", "try_storage"];

/// Reads whose name is unmistakable even when the receiver is not known to be a tensor
/// (`self.w.item()`).
const UNMISTAKABLE: &[&str] = &["item", "to_ndarray", "try_storage"];

pub fn is_data_read(method: &str) -> bool {
    DATA_READS.contains(&method)
}

pub fn is_unmistakable_read(method: &str) -> bool {
    UNMISTAKABLE.contains(&method)
}

/// How the data is reached.
pub enum Access {
    /// `x.item()`, `x.to_vec()`: the method and the text of the receiver.
    Method(String, String),
    /// `x.data()`: PyTorch's `.data`, an alias outside the graph.
    DataAlias,
    /// `x[i]`.
    Index,
    /// `x[i] = v`.
    IndexWrite { index: String, value: String },
}

const WHY: &str = "while exporting, tensors have a dtype and a shape but no values: there is \
                   nothing to read, and what is computed from it cannot be recorded in the graph";

pub fn error<T: ToTokens>(node: T, access: Access, tensor: Option<&str>) -> syn::Error {
    let t = tensor.unwrap_or("x");
    let of = tensor.map_or("a tensor".to_string(), |t| format!("tensor `{t}`"));
    match access {
        Access::Method(m, receiver) => graph_break(
            node,
            &format!("`.{m}()` reads the data of {of}"),
            WHY,
            &[
                format!(
                    "keep `{receiver}` a tensor and compute with tensor ops (`+`, `.mul(..)`, \
                     `.gt(..)`): they are recorded in the graph"
                ),
                format!(
                    "for a size, use `{t}.size(d)` or `{t}.dim()`: sizes are known while exporting"
                ),
                "to branch on a value, use `cond!`".to_string(),
            ],
        ),
        Access::DataAlias => graph_break(
            node,
            &format!("`.data()` reaches the storage of {of} behind the graph's back"),
            "strict export cannot follow what is done through it",
            &[
                format!(
                    "write into `{t}` directly: `{t}.set_item_(&[0, 0], 3.0)` is recorded as an \
                     in-place op, and a mutated input is exported as a USER_INPUT_MUTATION output"
                ),
                non_strict_fix("records the writes made through `.data()` in the same way"),
            ],
        ),
        Access::Index => graph_break(
            node,
            &format!("indexing {of} reads one of its elements"),
            WHY,
            &[format!(
                "select with tensor ops instead (`{t}.slice(0, i, i + 1, 1)`): they are recorded \
                 in the graph"
            )],
        ),
        Access::IndexWrite { index, value } => {
            let index = index
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            graph_break(
                node,
                &format!("`{t}[…] = …` writes into the data of {of}"),
                "while exporting, tensors have no storage to write into",
                &[format!(
                    "write with `{t}.set_item_(&[{index}], {value})`: it is recorded as an in-place \
                     op, and a mutated input is exported as a USER_INPUT_MUTATION output"
                )],
            )
        }
    }
}
