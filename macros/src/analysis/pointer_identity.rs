//! Rule: addresses of tensors — `x.id()` (Python's `id(x)`), pointer casts,
//! `std::ptr::eq`, `{:p}` — part of the tutorial's `Bad3`. An address is a value of one
//! run of the program, not something a graph can compute.

use quote::ToTokens;

use super::{graph_break, non_strict_fix};

pub enum What {
    Method(String),
    Function(String),
    Cast,
    RawAddr,
    Format,
}

pub(crate) const POINTER_METHODS: &[&str] = &["id"];

pub fn is_pointer_method(name: &str) -> bool {
    POINTER_METHODS.contains(&name)
}

/// `std::ptr::eq`, `ptr::addr_of`, `Arc::as_ptr`, …
pub fn is_pointer_fn(segs: &[String]) -> bool {
    let last = segs.last().map(String::as_str).unwrap_or_default();
    let in_ptr = segs.len() >= 2 && segs[segs.len() - 2] == "ptr";
    (in_ptr
        && matches!(
            last,
            "eq" | "addr_eq" | "from_ref" | "from_mut" | "addr_of" | "hash"
        ))
        || matches!(last, "as_ptr" | "into_raw")
}

pub fn error<T: ToTokens>(node: T, what: What) -> syn::Error {
    let headline = match what {
        What::Method(m) => format!("`.{m}()` takes the address of a tensor"),
        What::Function(f) => format!("`{f}` works on the address of a tensor"),
        What::Cast => "casting to a raw pointer takes the address of a tensor".to_string(),
        What::RawAddr => "`&raw` takes the address of a tensor".to_string(),
        What::Format => "`{:p}` formats the address of a tensor".to_string(),
    };
    graph_break(
        node,
        &headline,
        "an address belongs to one run of the program: it is not a tensor op, and the graph \
         cannot compute it",
        &[
            "compute the value with tensor ops, or use a constant".to_string(),
            non_strict_fix(
                "specialises the address as a constant in the graph (as PyTorch does for `id(x)`)",
            ),
        ],
    )
}

/// `x.is_traced()`: true while exporting, false when the model runs, so a branch on it
/// makes the program differ from the model by construction.
pub fn is_traced<T: quote::ToTokens>(call: T, what: &str) -> syn::Error {
    let written = super::text(&call);
    graph_break(
        call,
        &format!("`{what}` asks whether forward is being exported"),
        "the answer is true while exporting and false when the model runs: the exported \
         program would differ from the model by construction",
        &[format!(
            "compute what the model computes when it runs: replace `{}` with `false` (for a \
             debugging aid, print sizes with `x.sizes()`)",
            written
        )],
    )
}
