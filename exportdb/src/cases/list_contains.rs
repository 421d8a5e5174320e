//! Membership tests on sizes inside `assert!`: `[6, 2].contains(..)` on the last size,
//! "not one of `[4, 5, 6]`" on the first, and one on strings. Comparisons of sizes are
//! answered while exporting (a comparison of a dynamic size would be recorded as a
//! guard); the asserts pass and leave nothing in the graph but `x + x`.

use ferrex::prelude::*;

#[export_module]
pub struct ListContains {}

#[export_module]
impl ListContains {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!([6, 2].map(SymInt::from).contains(&x.size(-1)));
        assert!(![4, 5, 6].iter().any(|&n| x.size(0) == n));
        assert!(!["cow", "pig"].contains(&"monkey"));
        x + x
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&ListContains {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "list_contains",
        tags: &["python.assert", "python.data-structure", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("list_contains.rs"),
        code: include_str!("list_contains.rs"),
        run,
    }
}
