//! Printing an [`ExportedProgram`]: the same information as PyTorch's print — every node
//! with its dtype and shape, the source comment, the signature, the range constraints —
//! in Rust-flavoured syntax.

use std::fmt::{self, Write};

use super::ExportedProgram;
use crate::graph::{is_size_node, Arg, Graph, Node, NodeKind, SymIntArg};
use crate::ops::schema::default_value;
use crate::ops::sym::{sym_op, SymOp};
use crate::ops::Value;
use crate::symbolic::format_sizes;

/// A float as Python prints it (`1.0`, `0.5`, `1e-05`, `inf`).
pub(crate) fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e16 {
        return format!("{v:.1}");
    }
    let abs = v.abs();
    if !(1e-4..1e16).contains(&abs) {
        let s = format!("{v:e}");
        if let Some((mantissa, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("+", exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{v}")
}

fn arg_text(graph: &Graph, a: &Arg) -> String {
    let name = |id: &crate::graph::NodeId| graph.node(*id).name.clone();
    match a {
        Arg::Tensor(n) => name(n),
        Arg::TensorList(ns) => format!("[{}]", ns.iter().map(name).collect::<Vec<_>>().join(", ")),
        Arg::OptTensorList(ns) => format!(
            "[{}]",
            ns.iter()
                .map(|n| n.as_ref().map(name).unwrap_or_else(|| "None".into()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Arg::None => "None".into(),
        Arg::Bool(b) => if *b { "True" } else { "False" }.into(),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => python_float(*f),
        Arg::Str(s) => format!("{s:?}"),
        Arg::DType(d) => d.to_string(),
        Arg::IntList(l) => format_sizes(l),
        Arg::FloatList(l) => format!(
            "[{}]",
            l.iter()
                .map(|f| python_float(*f))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Arg::SymBool(b) => b.to_string(),
        Arg::Sym(n) => name(n),
        Arg::SymInts(l) => format!(
            "[{}]",
            l.iter()
                .map(|e| match e {
                    SymIntArg::Int(v) => v.to_string(),
                    SymIntArg::Sym(n) => name(n),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A SymInt / SymBool operation as PyTorch prints it: `sym_size_int + 1`,
/// `sym_size_int > 2`.
fn sym_op_text(graph: &Graph, op: SymOp, args: &[Arg]) -> Option<String> {
    let symbol = match op {
        SymOp::Arith(a) => a.symbol(),
        SymOp::Compare(c) => c.symbol(),
        SymOp::Size => return None,
    };
    match args {
        [a, b] => Some(format!(
            "{} {symbol} {}",
            arg_text(graph, a),
            arg_text(graph, b)
        )),
        _ => None,
    }
}

/// Whether a recorded argument equals a schema default.
fn is_default(a: &Arg, d: &Value) -> bool {
    match (a, d) {
        (Arg::None, Value::None) => true,
        (Arg::Bool(x), Value::Bool(y)) => x == y,
        (Arg::Int(x), Value::Int(y)) => x.same_as(y),
        (Arg::Float(x), Value::Float(y)) => x == y,
        (Arg::Float(x), Value::Int(y)) => y.as_int().is_some_and(|y| *x == y as f64),
        (Arg::Int(x), Value::Float(y)) => x.as_int().is_some_and(|x| x as f64 == *y),
        (Arg::Str(x), Value::Str(y)) => x == y,
        (Arg::IntList(x), Value::IntList(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.same_as(b))
        }
        _ => false,
    }
}

/// `aten::addmm.default(p_lin_bias, add, t)`; keyword-only arguments as `name=value`,
/// trailing arguments left at their defaults omitted.
pub(crate) fn call_text(graph: &Graph, node: &Node) -> String {
    match &node.kind {
        NodeKind::Call { op, args } => {
            if let Some(text) = sym_op(op).and_then(|s| sym_op_text(graph, s, args)) {
                return text;
            }
            let schema = op.parsed().ok();
            // Trailing arguments left at their schema defaults are not printed.
            let mut shown = args.len();
            while shown > 0 {
                let default = schema
                    .and_then(|s| s.args.get(shown - 1))
                    .and_then(|d| d.default.as_ref());
                match default {
                    Some(d) if is_default(&args[shown - 1], &default_value(d)) => shown -= 1,
                    _ => break,
                }
            }
            let mut parts = Vec::new();
            for (i, a) in args.iter().take(shown).enumerate() {
                let decl = schema.and_then(|s| s.args.get(i));
                let text = arg_text(graph, a);
                match decl {
                    Some(d) if d.kwarg_only => parts.push(format!("{}={text}", d.name)),
                    _ => parts.push(text),
                }
            }
            format!("{}({})", op.name(), parts.join(", "))
        }
        NodeKind::GetItem { source, index } => format!("{}[{index}]", graph.node(*source).name),
        NodeKind::HigherOrder {
            op,
            args,
            subgraphs,
        } => {
            let names: Vec<String> = subgraphs
                .iter()
                .map(|i| {
                    graph
                        .subgraphs
                        .get(*i)
                        .map(|s| s.name.clone())
                        .unwrap_or_default()
                })
                .collect();
            op.display(&|a| arg_text(graph, a), args, &names)
        }
        _ => String::new(),
    }
}

fn meta_text(node: &Node) -> String {
    match node.meta.len() {
        1 => node.meta[0].to_string(),
        _ => format!(
            "({})",
            node.meta
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl ExportedProgram {
    /// The graph as code, indented by `indent` spaces.
    pub fn graph_code(&self, indent: usize) -> String {
        let mut out = String::new();
        self.write_graph(&mut out, &self.graph, "forward", indent);
        out
    }

    /// One graph as `fn name(...) { ... }`, then its subgraphs.
    fn write_graph(&self, out: &mut String, g: &Graph, fn_name: &str, indent: usize) {
        let pad = " ".repeat(indent);
        let params: Vec<String> = g
            .placeholders()
            .map(|(_, n)| format!("{}: {}", n.name, meta_text(n)))
            .collect();
        let _ = writeln!(out, "{pad}fn {fn_name}({}) {{", params.join(", "));
        // The source line of the group being printed: `Some(None)` for SymInt nodes
        // without one (PyTorch's "No stacktrace found" group).
        let mut group: Option<Option<(&str, u32)>> = None;
        for node in &g.nodes {
            match &node.kind {
                NodeKind::Placeholder => {}
                NodeKind::Output { args } => {
                    let names: Vec<String> = args.iter().map(|a| arg_text(g, a)).collect();
                    let tuple = if names.len() == 1 {
                        format!("({},)", names[0])
                    } else {
                        format!("({})", names.join(", "))
                    };
                    let _ = writeln!(out, "{pad}    return {tuple};");
                }
                _ => {
                    let key = node.source.map(|at| (at.file, at.line));
                    let opens = key.is_some() || is_size_node(node);
                    if opens && group != Some(key) {
                        if group.is_some() {
                            let _ = writeln!(out);
                        }
                        group = Some(key);
                        let _ = writeln!(out, "{pad}    // {}", self.group_comment(key));
                    }
                    if matches!(node.kind, NodeKind::HigherOrder { .. }) {
                        let _ =
                            writeln!(out, "{pad}    let {} = {};", node.name, call_text(g, node));
                    } else {
                        let _ = writeln!(
                            out,
                            "{pad}    let {}: {} = {};",
                            node.name,
                            meta_text(node),
                            call_text(g, node)
                        );
                    }
                }
            }
        }
        let _ = writeln!(out, "{pad}}}");
        for sub in &g.subgraphs {
            let _ = writeln!(out);
            self.write_graph(out, &sub.graph, &sub.name, indent);
        }
    }
}

impl ExportedProgram {
    /// The comment opening a group of nodes: where they come from.
    fn group_comment(&self, key: Option<(&str, u32)>) -> String {
        match key {
            None => "No stacktrace found for following nodes".into(),
            Some((file, line)) => match self.source_line(file, line) {
                Some(l) => format!("File: {file}:{line} in {}, code: {}", l.function, l.code),
                None => format!("File: {file}:{line}"),
            },
        }
    }
}

impl fmt::Display for ExportedProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ExportedProgram:")?;
        write!(f, "{}", self.graph_code(4))?;
        writeln!(f)?;
        writeln!(f, "Graph signature:")?;
        for line in self.signature.to_string().lines() {
            if line.is_empty() {
                writeln!(f)?;
            } else {
                writeln!(f, "    {line}")?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Range constraints: {}", self.range_constraints)?;
        // Only programs that used the escape hatch carry this section.
        if !self.assumed_constants().is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "Assumed constants (computed at export from the example inputs):"
            )?;
            for c in self.assumed_constants() {
                writeln!(f, "    {c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::python_float;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(0.5), "0.5");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(-2.5), "-2.5");
        assert_eq!(python_float(f64::INFINITY), "inf");
    }
}
