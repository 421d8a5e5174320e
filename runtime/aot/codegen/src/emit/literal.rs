//! Values of the plan written as Rust expressions, exactly (floats by their bits when
//! their shortest form is not a literal).

use ferrex::SourceLocation;
use ferrex_runtime::fused::{FusedProgram, Instr, Src, UnOp};

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "ws", "try", "box", "yield",
];

/// The names generated code gives its own locals and parameters, which an input's
/// name must not shadow.
const LOCALS: &[&str] = &[
    "args", "b", "d", "fail", "inputs", "leaves", "metas", "post", "run", "s", "shape",
];

/// A `forward` argument named after input `name` (the `index`-th), or `input{index}`
/// when the name is not a plain Rust identifier nor a name of generated code's own.
pub(super) fn ident(name: &str, index: usize) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name != "_"
        && !name.starts_with("out")
        && !KEYWORDS.contains(&name)
        && !LOCALS.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("input{index}")
    }
}

pub(super) fn f64_lit(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}f64")
    } else {
        format!("f64::from_bits({:#x})", x.to_bits())
    }
}

pub(super) fn f32_lit(x: f32) -> String {
    if x.is_finite() {
        format!("{x:?}f32")
    } else {
        format!("f32::from_bits({:#x})", x.to_bits())
    }
}

/// `[8, 64]`.
pub(super) fn shape(s: &[usize]) -> String {
    let items: Vec<String> = s.iter().map(usize::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// A node's source location, as an `Option<SourceLocation>` expression.
pub(super) fn location(at: Option<SourceLocation>) -> String {
    match at {
        Some(l) => format!(
            "Some(::ferrex_aot::rt::SourceLocation {{ file: {:?}, line: {}, column: {} }})",
            l.file, l.line, l.column
        ),
        None => "None".to_string(),
    }
}

/// `Some(<f64 literal>)` or `None`.
pub(super) fn opt_f64(x: Option<f64>) -> String {
    x.map_or("None".to_string(), |v| format!("Some({})", f64_lit(v)))
}

fn unary(op: UnOp) -> String {
    match op {
        UnOp::LeakyRelu(s) => format!("LeakyRelu({})", f64_lit(s)),
        UnOp::Clamp(lo, hi) => format!("Clamp({}, {})", opt_f64(lo), opt_f64(hi)),
        UnOp::PowScalar(e) => format!("PowScalar({})", f64_lit(e)),
        UnOp::Elu {
            alpha,
            scale,
            input_scale,
        } => format!(
            "Elu {{ alpha: {}, scale: {}, input_scale: {} }}",
            f64_lit(alpha),
            f64_lit(scale),
            f64_lit(input_scale)
        ),
        UnOp::Softplus { beta, threshold } => format!(
            "Softplus {{ beta: {}, threshold: {} }}",
            f64_lit(beta),
            f64_lit(threshold)
        ),
        // The rest carry no numbers: their names are their literals.
        other => format!("{other:?}"),
    }
}

fn src(s: Src) -> String {
    match s {
        Src::Reg(r) => format!("Src::Reg({r})"),
        Src::Const(c) => format!("Src::Const({})", f32_lit(c)),
    }
}

/// A fused program as the expression that builds it (`FusedProgram { … }`).
pub(super) fn fused_program(p: &FusedProgram) -> String {
    const RT: &str = "::ferrex_aot::rt::";
    let instrs: Vec<String> = p
        .instrs
        .iter()
        .map(|i| match i {
            Instr::Load { dst, input } => {
                format!("{RT}Instr::Load {{ dst: {dst}, input: {input} }}")
            }
            Instr::LoadOut { dst } => format!("{RT}Instr::LoadOut {{ dst: {dst} }}"),
            Instr::Unary { dst, op, a } => {
                format!(
                    "{RT}Instr::Unary {{ dst: {dst}, op: {RT}UnOp::{}, a: {a} }}",
                    unary(*op)
                )
            }
            Instr::Binary { dst, op, a, b } => format!(
                "{RT}Instr::Binary {{ dst: {dst}, op: {RT}BinOp::{op:?}, a: {RT}{}, b: {RT}{} }}",
                src(*a),
                src(*b)
            ),
            Instr::Select { dst, cond, a, b } => format!(
                "{RT}Instr::Select {{ dst: {dst}, cond: {cond}, a: {RT}{}, b: {RT}{} }}",
                src(*a),
                src(*b)
            ),
        })
        .map(|s| format!("                    {s},\n"))
        .collect();
    format!(
        "{RT}FusedProgram {{\n                instrs: vec![\n{}                ],\n                n_regs: {},\n                out: {},\n                label: String::from({:?}),\n            }}",
        instrs.concat(),
        p.n_regs,
        p.out,
        p.label
    )
}
