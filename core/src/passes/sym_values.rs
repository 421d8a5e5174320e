//! SymInt and SymBool values as graph nodes, as PyTorch records them. Tracing records
//! symbolic sizes inline in arguments (`view(x, [2*s0, -1])`, a `cond` predicate
//! `s0 > 2`); this pass gives each distinct expression one node computing it from the
//! graph's inputs — `sym_size_int = aten::sym_size.int(x, 0)`, then `_operator` arithmetic
//! (`mul = sym_size_int * 2`) and comparisons (`gt = sym_size_int > 2`) — and makes the
//! argument name that node (`Argument::Sym`, `Argument::SymInts`). Sizes in tensor metas
//! stay expressions. A symbol only scaled in the inputs (`x` has `2*s0 + 1` rows) is
//! `(sym_size_int - 1) // 2`; a value read from tensor data (`u0`) is its `item` node.
//! An expression the inputs cannot give (a `min` / `max` of sizes) stays inline, which
//! every runner still evaluates.
//!
//! The new nodes get PyTorch's names (`sym_size_int`, `mul`, `gt`) unique among the
//! graph's, so the pass also serves a graph that is already named (the writer runs it
//! on graphs whose sizes are still inline); `export` names everything again after it.

use std::collections::{HashMap, HashSet};

use super::naming::{call_base_name, fresh_name};

use crate::graph::{is_size_node, Arg, Graph, Node, NodeId, NodeKind, SymIntArg};
use crate::ops::sym::{arith_op, compare_op, Arith, SYM_SIZE};
use crate::ops::OpDef;
use crate::symbolic::{Atom, Expr, SymBool, SymInt, SymScalar, Symbol};
use crate::tensor::{DType, TensorMeta};
use crate::SourceLocation;

pub fn name_sym_values(graph: &mut Graph) {
    for sub in &mut graph.subgraphs {
        name_sym_values(&mut sub.graph);
    }
    let old = std::mem::take(&mut graph.nodes);
    let mut b = Builder {
        nodes: Vec::with_capacity(old.len()),
        new_id: vec![NodeId(usize::MAX); old.len()],
        dims: Vec::new(),
        by_expr: HashMap::new(),
        hints: symbol_hints(&old),
    };
    for (i, node) in old.iter().enumerate() {
        let mut node = node.clone();
        node.remap_inputs(&|id| b.new_id.get(id.0).copied().unwrap_or(id));
        if !is_size_node(&node) {
            let at = node.source;
            if let NodeKind::Call { args, .. }
            | NodeKind::HigherOrder { args, .. }
            | NodeKind::Output { args } = &mut node.kind
            {
                for a in args.iter_mut() {
                    *a = b.arg(a, at);
                }
            }
        }
        let id = b.push(node);
        b.new_id[i] = id;
        b.learn(id);
    }
    graph.nodes = b.nodes;
    name_new_nodes(graph);
    // As PyTorch places them: the input dims right after the placeholders (they read
    // only placeholders), the arithmetic where it is first needed.
    let (mut order, rest): (Vec<NodeId>, Vec<NodeId>) = (0..graph.nodes.len())
        .map(NodeId)
        .partition(|id| reads_only_placeholders(graph, &graph.nodes[id.0]));
    order.extend(rest);
    graph.reorder(&order);
}

/// Gives the SymInt / SymBool nodes of `graph` the names the same values had in
/// `before`, as PyTorch's `run_decompositions` keeps `sym_size_int_1`: a retrace
/// computes them afresh and naming would number them anew. A name another node took
/// stays with that node; the size node then keeps a fresh name.
pub fn keep_sym_names(graph: &mut Graph, before: &Graph) {
    let key = |n: &Node| {
        n.meta
            .first()
            .and_then(|m| m.sym.as_ref())
            .map(|v| v.to_string())
    };
    let old: HashMap<String, String> = before
        .nodes
        .iter()
        .filter(|n| is_size_node(n))
        .filter_map(|n| Some((key(n)?, n.name.clone())))
        .collect();
    let mut used: HashSet<String> = graph
        .nodes
        .iter()
        .filter(|n| !is_size_node(n))
        .map(|n| n.name.clone())
        .collect();
    let mut unnamed = Vec::new();
    for (i, node) in graph.nodes.iter_mut().enumerate() {
        if !is_size_node(node) {
            continue;
        }
        match key(node).and_then(|k| old.get(&k)) {
            Some(name) if used.insert(name.clone()) => node.name = name.clone(),
            _ => unnamed.push(i),
        }
    }
    for i in unnamed {
        let node = &mut graph.nodes[i];
        if !used.insert(node.name.clone()) {
            let base = node.op().map(call_base_name).unwrap_or_default();
            node.name = fresh_name(&base, &mut used);
        }
    }
}

/// Names the nodes this pass added (those without a name).
fn name_new_nodes(graph: &mut Graph) {
    let mut used: HashSet<String> = graph.nodes.iter().map(|n| n.name.clone()).collect();
    for node in &mut graph.nodes {
        if let (true, Some(op)) = (node.name.is_empty(), node.op()) {
            node.name = fresh_name(&call_base_name(op), &mut used);
        }
    }
}

/// Whether an argument of the graph (or of a subgraph) still holds a symbolic size
/// inline, which this pass would make a node.
pub fn has_inline_sizes(graph: &Graph) -> bool {
    let inline = |a: &Arg| match a {
        Arg::Int(v) => v.is_symbolic(),
        Arg::IntList(l) => l.iter().any(SymInt::is_symbolic),
        Arg::SymInts(l) => l
            .iter()
            .any(|e| matches!(e, SymIntArg::Int(v) if v.is_symbolic())),
        Arg::SymBool(b) => b.is_symbolic(),
        _ => false,
    };
    graph.nodes.iter().any(|n| match &n.kind {
        NodeKind::Call { args, .. }
        | NodeKind::HigherOrder { args, .. }
        | NodeKind::Output { args } => args.iter().any(inline),
        _ => false,
    }) || graph.subgraphs.iter().any(|s| has_inline_sizes(&s.graph))
}

/// A placeholder, or the `sym_size.int` of one.
fn reads_only_placeholders(graph: &Graph, node: &Node) -> bool {
    match &node.kind {
        NodeKind::Placeholder => true,
        NodeKind::Call { op, args } if std::ptr::eq(*op, &SYM_SIZE) => {
            matches!(args.first(), Some(Arg::Tensor(x)) if graph.nodes.get(x.0).is_some_and(Node::is_placeholder))
        }
        _ => false,
    }
}

/// The example value of every symbol a size of the graph shows alone or scaled
/// (`s0`, `2*s0 + 1`), and of every value read from data (`Sym(u0)`).
fn symbol_hints(nodes: &[Node]) -> HashMap<Symbol, i64> {
    let mut hints = HashMap::new();
    let mut learn = |v: &SymInt| {
        if let (Some((sym, a, b)), SymInt::Sym { hint, .. }) = (v.expr().as_linear(), v) {
            if a != 0 && (hint - b) % a == 0 {
                hints.entry(sym).or_insert((hint - b) / a);
            }
        }
    };
    for m in nodes.iter().flat_map(|n| &n.meta) {
        m.sizes.iter().for_each(&mut learn);
        if let Some(SymScalar::Int(v)) = &m.sym {
            learn(v);
        }
    }
    hints
}

struct Builder {
    nodes: Vec<Node>,
    /// The new index of each node of the graph being rewritten.
    new_id: Vec<NodeId>,
    /// `(placeholder, dim, size)` for every symbolic placeholder dim seen so far.
    dims: Vec<(NodeId, usize, Expr)>,
    /// The node computing each expression (one per expression).
    by_expr: HashMap<Expr, NodeId>,
    hints: HashMap<Symbol, i64>,
}

impl Builder {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        NodeId(self.nodes.len() - 1)
    }

    /// What node `id` offers later sizes: its symbolic dims (a placeholder), or itself
    /// (a node whose value is a SymInt).
    fn learn(&mut self, id: NodeId) {
        let node = &self.nodes[id.0];
        if node.is_placeholder() {
            for (d, size) in node.meta.iter().flat_map(|m| m.sizes.iter()).enumerate() {
                if size.is_symbolic() {
                    self.dims.push((id, d, size.expr()));
                }
            }
        }
        if let Some(SymScalar::Int(v)) = node.meta.first().and_then(|m| m.sym.as_ref()) {
            if v.is_symbolic() {
                self.by_expr.entry(v.expr()).or_insert(id);
            }
        }
    }

    /// `a` with its symbolic sizes as SymInt / SymBool values, where they can be computed.
    fn arg(&mut self, a: &Arg, at: Option<SourceLocation>) -> Arg {
        match a {
            Arg::Int(v) if v.is_symbolic() => match self.value(&v.expr(), at) {
                Some(id) => Arg::Sym(id),
                None => a.clone(),
            },
            Arg::IntList(l) if l.iter().any(SymInt::is_symbolic) => Arg::SymInts(
                l.iter()
                    .map(|v| match v.is_symbolic() {
                        true => match self.value(&v.expr(), at) {
                            Some(id) => SymIntArg::Sym(id),
                            None => SymIntArg::Int(v.clone()),
                        },
                        false => SymIntArg::Int(v.clone()),
                    })
                    .collect(),
            ),
            Arg::SymBool(b) if b.is_symbolic() => match self.comparison(b, at) {
                Some(id) => Arg::Sym(id),
                None => a.clone(),
            },
            other => other.clone(),
        }
    }

    /// `lhs op rhs` as an `_operator` comparison node.
    fn comparison(&mut self, b: &SymBool, at: Option<SourceLocation>) -> Option<NodeId> {
        let lhs = self.operand(&b.lhs.expr(), at)?;
        let rhs = self.operand(&b.rhs.expr(), at)?;
        let meta = TensorMeta::symbolic_scalar(DType::Bool, SymScalar::Bool(b.clone()));
        Some(self.push(Node {
            name: String::new(),
            kind: NodeKind::Call {
                op: compare_op(b.op),
                args: vec![lhs, rhs],
            },
            meta: vec![meta],
            source: at,
        }))
    }

    /// An operand of `_operator`: a constant, or the value computing `e`.
    fn operand(&mut self, e: &Expr, at: Option<SourceLocation>) -> Option<Arg> {
        match e.as_constant() {
            Some(c) => Some(Arg::Int(SymInt::Int(c))),
            None => self.value(e, at).map(Arg::Sym),
        }
    }

    /// The node computing `e`, emitting the nodes it needs.
    fn value(&mut self, e: &Expr, at: Option<SourceLocation>) -> Option<NodeId> {
        if let Some(id) = self.by_expr.get(e) {
            return Some(*id);
        }
        let dim = self.dims.iter().find(|(_, _, size)| size == e).cloned();
        if let Some((input, d, _)) = dim {
            let args = vec![Arg::Tensor(input), Arg::Int(SymInt::Int(d as i64))];
            // PyTorch records no stack trace for `sym_size.int`.
            return self.emit(&SYM_SIZE, args, e, None);
        }
        if let Some((sym, 1, 0)) = e.as_linear() {
            return self.symbol_from_scaled_dim(sym, at);
        }
        self.compound(e, at)
    }

    /// A symbol that only appears scaled in the inputs (`x` has `2*s0 + 1` rows):
    /// `(x.size(0) - 1) // 2`.
    fn symbol_from_scaled_dim(
        &mut self,
        sym: Symbol,
        at: Option<SourceLocation>,
    ) -> Option<NodeId> {
        let (size, a, b) = self
            .dims
            .iter()
            .find_map(|(_, _, size)| match size.as_linear() {
                Some((s2, a, b)) if s2 == sym && a > 0 => Some((size.clone(), a, b)),
                _ => None,
            })?;
        let mut value = self.value(&size, at)?;
        let mut current = size;
        if b != 0 {
            current = current.sub(&Expr::constant(b));
            value = self.binary(
                Arith::Sub,
                Arg::Sym(value),
                Arg::Int(SymInt::Int(b)),
                &current,
                at,
            )?;
        }
        if a != 1 {
            current = current.floor_div(a);
            value = self.binary(
                Arith::FloorDiv,
                Arg::Sym(value),
                Arg::Int(SymInt::Int(a)),
                &current,
                at,
            )?;
        }
        Some(value)
    }

    /// A sum of products, built with `_operator.mul` / `add` / `sub`.
    fn compound(&mut self, e: &Expr, at: Option<SourceLocation>) -> Option<NodeId> {
        let mut terms: Vec<(Vec<Atom>, i64)> = e.terms().map(|(m, c)| (m.clone(), c)).collect();
        // Positive terms first, the constant last, so the sum starts from a size.
        terms.sort_by_key(|(m, c)| (m.is_empty(), *c < 0));
        let mut acc: Option<(Arg, Expr)> = None;
        for (mono, c) in terms {
            let magnitude = c.checked_abs()?;
            let (term, term_expr) = if mono.is_empty() {
                (Arg::Int(SymInt::Int(magnitude)), Expr::constant(magnitude))
            } else {
                self.product(&mono, magnitude, at)?
            };
            acc = Some(match acc {
                None if c < 0 => {
                    let neg = term_expr.neg();
                    let v = self.binary(Arith::Mul, term, Arg::Int(SymInt::Int(-1)), &neg, at)?;
                    (Arg::Sym(v), neg)
                }
                None => (term, term_expr),
                Some((a, a_expr)) => {
                    let (op, sum) = if c < 0 {
                        (Arith::Sub, a_expr.sub(&term_expr))
                    } else {
                        (Arith::Add, a_expr.add(&term_expr))
                    };
                    (Arg::Sym(self.binary(op, a, term, &sum, at)?), sum)
                }
            });
        }
        match acc {
            Some((Arg::Sym(id), _)) => Some(id),
            _ => None,
        }
    }

    /// `c * a0 * a1 * …` for the atoms of one monomial.
    fn product(
        &mut self,
        mono: &[Atom],
        coefficient: i64,
        at: Option<SourceLocation>,
    ) -> Option<(Arg, Expr)> {
        let mut acc: Option<(Arg, Expr)> = None;
        for atom in mono {
            let (v, e) = self.atom(atom, at)?;
            acc = Some(match acc {
                None => (v, e),
                Some((a, a_expr)) => {
                    let p = a_expr.mul(&e);
                    (Arg::Sym(self.binary(Arith::Mul, a, v, &p, at)?), p)
                }
            });
        }
        let (v, e) = acc?;
        if coefficient == 1 {
            return Some((v, e));
        }
        let scaled = e.scale(coefficient);
        let k = Arg::Int(SymInt::Int(coefficient));
        Some((
            Arg::Sym(self.binary(Arith::Mul, v, k, &scaled, at)?),
            scaled,
        ))
    }

    fn atom(&mut self, atom: &Atom, at: Option<SourceLocation>) -> Option<(Arg, Expr)> {
        let (op, inner, d) = match atom {
            Atom::Sym(sym) => {
                let e = Expr::symbol(*sym);
                return Some((Arg::Sym(self.value(&e, at)?), e));
            }
            Atom::FloorDiv(inner, d) => (Arith::FloorDiv, inner, *d),
            Atom::Mod(inner, d) => (Arith::Mod, inner, *d),
            Atom::Min(..) | Atom::Max(..) => return None,
        };
        let whole = match op {
            Arith::Mod => inner.modulo(d),
            _ => inner.floor_div(d),
        };
        let inner_value = Arg::Sym(self.value(inner, at)?);
        let v = self.binary(op, inner_value, Arg::Int(SymInt::Int(d)), &whole, at)?;
        Some((Arg::Sym(v), whole))
    }

    /// `_operator.{op}(a, b)`, computing `e`.
    fn binary(
        &mut self,
        op: Arith,
        a: Arg,
        b: Arg,
        e: &Expr,
        at: Option<SourceLocation>,
    ) -> Option<NodeId> {
        if let Some(id) = self.by_expr.get(e) {
            return Some(*id);
        }
        self.emit(arith_op(op), vec![a, b], e, at)
    }

    fn emit(
        &mut self,
        op: &'static OpDef,
        args: Vec<Arg>,
        e: &Expr,
        at: Option<SourceLocation>,
    ) -> Option<NodeId> {
        let hint = e.eval(&|s| self.hints.get(&s).copied())?;
        let value = SymInt::from_expr(e.clone(), hint);
        let id = self.push(Node {
            name: String::new(),
            kind: NodeKind::Call { op, args },
            meta: vec![TensorMeta::symbolic_scalar(
                DType::I64,
                SymScalar::Int(value),
            )],
            source: at,
        });
        self.by_expr.insert(e.clone(), id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::constructors::ZEROS;
    use crate::program::display::call_text;

    fn node(name: &str, kind: NodeKind, meta: Vec<TensorMeta>) -> Node {
        Node {
            name: name.into(),
            kind,
            meta,
            source: None,
        }
    }

    fn s0() -> Expr {
        Expr::symbol(Symbol(0))
    }

    /// A named graph `x: f32[2*s0 + 1]` (so `s0` = 3), `zeros([size, 4])`, after the
    /// pass: `name: meta = call` per node.
    fn with_sym_nodes(size: SymInt) -> Vec<String> {
        let rows = SymInt::from_expr(s0().scale(2).add(&Expr::constant(1)), 7);
        let mut g = Graph::default();
        g.push(node(
            "x",
            NodeKind::Placeholder,
            vec![TensorMeta::new(DType::F32, vec![rows])],
        ));
        let out_meta = TensorMeta::new(DType::F32, vec![size.clone(), SymInt::Int(4)]);
        let zeros = g.push(node(
            "zeros",
            NodeKind::Call {
                op: &ZEROS,
                args: vec![Arg::IntList(vec![size, SymInt::Int(4)])],
            },
            vec![out_meta],
        ));
        g.push(node(
            "output",
            NodeKind::Output {
                args: vec![Arg::Tensor(zeros)],
            },
            Vec::new(),
        ));
        name_sym_values(&mut g);
        crate::passes::verify(&g).unwrap();
        g.nodes
            .iter()
            .filter(|n| !n.is_placeholder())
            .map(|n| match n.meta.first() {
                Some(m) => format!("{}: {m} = {}", n.name, call_text(&g, n)),
                None => n.name.clone(),
            })
            .collect()
    }

    #[test]
    fn a_symbol_only_scaled_in_the_inputs_is_solved_from_its_dim() {
        let size = SymInt::from_expr(s0().add(&Expr::constant(2)), 5);
        assert_eq!(
            with_sym_nodes(size),
            [
                "sym_size_int: Sym(2*s0 + 1) = aten::sym_size.int(x, 0)",
                "sub: Sym(2*s0) = sym_size_int - 1",
                "floordiv: Sym(s0) = sub // 2",
                "add: Sym(s0 + 2) = floordiv + 2",
                "zeros: f32[s0 + 2, 4] = aten::zeros.default([add, 4])",
                "output",
            ]
        );
    }

    #[test]
    fn products_and_negative_terms_are_built_from_the_dims() {
        // 3*s0*s0 - 2*s0, hint 3*9 - 6 = 21.
        let e = s0().mul(&s0()).scale(3).sub(&s0().scale(2));
        let lines = with_sym_nodes(SymInt::from_expr(e, 21));
        assert_eq!(
            lines,
            [
                "sym_size_int: Sym(2*s0 + 1) = aten::sym_size.int(x, 0)",
                "sub: Sym(2*s0) = sym_size_int - 1",
                "floordiv: Sym(s0) = sub // 2",
                "mul: Sym(s0*s0) = floordiv * floordiv",
                "mul_1: Sym(3*s0*s0) = mul * 3",
                // `2*s0` is already a value: `sub`.
                "sub_1: Sym(3*s0*s0 - 2*s0) = mul_1 - sub",
                "zeros: f32[3*s0*s0 - 2*s0, 4] = aten::zeros.default([sub_1, 4])",
                "output",
            ]
        );
    }

    #[test]
    fn a_size_the_inputs_cannot_give_stays_inline() {
        let other = Expr::symbol(Symbol(1));
        let lines = with_sym_nodes(SymInt::from_expr(other, 2));
        assert_eq!(
            lines,
            ["zeros: f32[s1, 4] = aten::zeros.default([s1, 4])", "output"]
        );
    }
}
