//! Models and printed-graph helpers several test files use, defined once.
//! (`tests/tests/common/` is a module, not a test target.)
#![allow(dead_code)]

use ferrex::prelude::*;

pub mod pt2_corpus;
pub mod pt2_io;
pub mod values;

/// The bits of an f32 tensor's elements, in order: for tests that two runners agree
/// exactly (NaN included).
pub fn f32_bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// The tutorial's MyModule.
#[export_module]
pub struct MyModule {
    pub lin: nn::Linear,
}

#[export_module]
impl MyModule {
    pub fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

/// A residual block with a buffer.
#[export_module]
pub struct Block {
    pub lin: nn::Linear,
    #[buffer]
    pub scale: Tensor,
}

#[export_module]
impl Block {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.lin.forward(x).relu();
        x + h * &self.scale
    }
}

/// A model that counts its calls in a buffer and scales its input by the count.
#[export_module]
pub struct Counter {
    #[buffer]
    pub count: Tensor,
}

#[export_module]
impl Counter {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.count.add_(1);
        x * &self.count
    }
}

/// The lines of a printed graph without comments and blank lines.
pub fn body(code: &str) -> Vec<String> {
    code.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .map(String::from)
        .collect()
}

/// `lines` one to a line, each ending in a newline: [`body`] (or a slice of it) as the text
/// an `expect!` snapshot holds.
pub fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `text` with every source line number, `file.rs:123`, written `file.rs:LINE`, and no
/// other character changed: a printed program compared whole against an `expect!`
/// snapshot does not break when a line of a source file moves, while names, shapes, op
/// targets, the signature, range constraints, file paths and code excerpts still count.
pub fn normalize_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(".rs:") {
        let (head, tail) = rest.split_at(at + ".rs:".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("LINE");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// ExportDB's `cond_operands`: `x + y` when `x` has more than 2 rows, else `x - y`.
#[export_module]
pub struct SizePredicate {}

#[export_module]
impl SizePredicate {
    pub fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        ferrex::cond!(x.size(0).sym_gt(2), |x, y| x + y, |x, y| x - y, [x, y])
    }
}

/// [`SizePredicate`] exported with a dynamic row count: the predicate stays symbolic.
pub fn size_predicate_program() -> ferrex::ExportedProgram {
    use ferrex::{Dim, DynamicShapes, Exporter};
    let x = Tensor::randn([3, 2]);
    Exporter::new(&SizePredicate {}, (x, Tensor::randn([2])))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("n"))]))
        .run()
        .expect("SizePredicate exports with a dynamic row count")
}
