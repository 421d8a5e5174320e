//! Rule: `panic!` / `assert!` / `unreachable!` whose outcome depends on tensor data —
//! part of the tutorial's `Bad4` (raising). Asserts on sizes are allowed: a size is
//! known while exporting, and the comparison becomes a guard of the program.

use quote::ToTokens;

use super::graph_break;

pub fn error<T: ToTokens>(node: T, mac: &str, tensors: &[String]) -> syn::Error {
    let of = match tensors.first() {
        Some(t) => format!("the values of `{t}`"),
        None => "tensor data".to_string(),
    };
    let t = tensors.first().map_or("x", String::as_str);
    graph_break(
        node,
        &format!("`{mac}!` depends on tensor data"),
        &format!(
            "whether it panics depends on {of}, which has no values while exporting; a graph \
             has one path from inputs to outputs and cannot raise"
        ),
        &[
            format!(
                "assert on sizes instead (`assert!({t}.size(0) > 1)`, `assert_eq!({t}.dim(), 2)`): \
                 size conditions become guards, checked on the inputs of every run"
            ),
            "or check the values on the outputs of the exported program, after it runs".to_string(),
        ],
    )
}
