//! Dynamic sizes. A program with symbolic input dims gets a `Dims` struct: the call's
//! symbols, bound from the input sizes with the interpreter's checks in its order and
//! with its words (`ExportedProgram::check_inputs`: static sizes, the first `a*s + b`
//! dim binds `s`, the other dims once every symbol is bound, range constraints, guards),
//! and every non-literal size the steps use, each an expression of those symbols
//! evaluated once per call with checked arithmetic (`Expr::eval`'s order).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write;

use ferrex::symbolic::{Atom, Expr, Symbol};
use ferrex::SymInt;

use super::Gen;

const RT: &str = "::ferrex_aot::rt";

/// The sizes a generated module computes per call.
#[derive(Default)]
pub(super) struct DimTable {
    /// Symbols bound by the inputs, in binding order (index in `Bound::s`).
    syms: Vec<Symbol>,
    /// The lines of each input's binder (`bind_input{k}`), by user input.
    binders: Vec<Vec<String>>,
    /// Deferred dim checks: `(input name, dim, expected size)`, in order (`Bound::g`).
    deferred: Vec<(String, usize, Expr)>,
    /// Non-literal sizes the steps read (`d.z{k}`), interned.
    exprs: RefCell<(Vec<Expr>, BTreeMap<Expr, usize>)>,
    /// The first size a step asked for that generated code cannot compute.
    error: RefCell<Option<String>>,
    /// Symbols read from data (`u0`: an `item`, a `nonzero` length), in the order the
    /// steps defining them run: `ws.u[j]`, bound when that step has run.
    pub(super) unbacked: Vec<Symbol>,
    /// Whether a `cond` / `map` subgraph is being generated (which has no `ws.u`).
    pub(super) in_sub: bool,
}

impl DimTable {
    /// Whether the program has symbolic input dims (and so a `Dims` struct).
    pub(super) fn dynamic(&self) -> bool {
        !self.syms.is_empty() || !self.deferred.is_empty()
    }

    pub(super) fn take_error(&self) -> Option<String> {
        self.error.borrow_mut().take()
    }

    fn index(&self, s: Symbol) -> Option<usize> {
        self.syms.iter().position(|x| *x == s)
    }

    /// `e` as a Rust expression of type `Option<i64>` over the bound symbols `s[i]`:
    /// `Expr::eval` written out (checked products left to right, then checked sums).
    fn eval(&self, e: &Expr) -> Option<String> {
        let mut total: Option<String> = None;
        for (mono, c) in e.terms() {
            let mut prod = match (c, mono.is_empty()) {
                (1, false) => None,
                _ => Some(format!("Some({c}i64)")),
            };
            for atom in mono {
                let v = self.atom(atom)?;
                prod = Some(match prod {
                    None => v,
                    Some(p) => format!("{RT}::e_mul({p}, {v})"),
                });
            }
            let prod = prod.unwrap_or_else(|| "Some(1i64)".into());
            total = Some(match total {
                None => prod,
                Some(t) => format!("{RT}::e_add({t}, {prod})"),
            });
        }
        Some(total.unwrap_or_else(|| "Some(0i64)".into()))
    }

    fn atom(&self, a: &Atom) -> Option<String> {
        Some(match a {
            Atom::Sym(s) if s.is_unbacked() => {
                let j = self.unbacked.iter().position(|x| x == s)?;
                format!("ws.u[{j}]")
            }
            Atom::Sym(s) => format!("Some(s[{}])", self.index(*s)?),
            Atom::FloorDiv(e, d) => format!("{RT}::e_fdiv({}, {d})", self.eval(e)?),
            Atom::Mod(e, d) => format!("{RT}::e_mod({}, {d})", self.eval(e)?),
            Atom::Min(a, b) => format!("{RT}::e_min({}, {})", self.eval(a)?, self.eval(b)?),
            Atom::Max(a, b) => format!("{RT}::e_max({}, {})", self.eval(a)?, self.eval(b)?),
        })
    }

    /// Whether every symbol of `e` is bound by the inputs.
    fn bound(&self, e: &Expr) -> bool {
        e.symbols().iter().all(|s| self.index(*s).is_some())
    }
}

impl Gen<'_> {
    /// A size as generated code reads it: a literal, or `d.z{k}` (computed per call).
    /// A size generated code cannot compute (a symbol no input binds, a negative
    /// literal) is recorded, and generation fails after the step.
    pub(super) fn dim(&self, s: &SymInt) -> String {
        let t = &self.dims;
        match s {
            SymInt::Int(v) if *v >= 0 => v.to_string(),
            SymInt::Int(v) => {
                t.error.borrow_mut().get_or_insert(format!("a size of {v}"));
                "0".into()
            }
            SymInt::Sym { expr, .. } if s.is_unbacked() => match self.unbacked_value(expr) {
                Some(v) => format!("({RT}::size({v}, {:?})?)", expr.to_string()),
                None => "0".into(),
            },
            SymInt::Sym { expr, .. } => {
                if !t.bound(expr) {
                    t.error.borrow_mut().get_or_insert(format!(
                        "the size `{expr}` depends on a value no input size binds (a value \
                         read from data); data-dependent sizes are not generated"
                    ));
                    return "0".into();
                }
                let mut table = t.exprs.borrow_mut();
                let (list, index) = &mut *table;
                let k = *index.entry((**expr).clone()).or_insert_with(|| {
                    list.push((**expr).clone());
                    list.len() - 1
                });
                format!("d.z{k}")
            }
        }
    }

    /// An expression of symbols read from data (`ws.u[j]`, bound by the steps that
    /// ran), as an `Option<i64>` expression; `None` (an error recorded) when a symbol is
    /// not bound by a step before, is bound by an input too, or is read in a subgraph.
    fn unbacked_value(&self, expr: &Expr) -> Option<String> {
        let t = &self.dims;
        let why = if t.in_sub {
            Some("a size read from data inside a `cond` / `map` subgraph is not generated")
        } else if expr.symbols().iter().any(|s| !s.is_unbacked()) {
            Some("a size mixing input sizes and values read from data is not generated")
        } else {
            None
        };
        let value = match why {
            None => t.eval(expr),
            Some(_) => None,
        };
        if value.is_none() {
            t.error.borrow_mut().get_or_insert(format!(
                "the size `{expr}`: {}",
                why.unwrap_or("it is read before the step defining it")
            ));
        }
        value
    }

    /// A size as an `i64` expression, as the plan's runner passes it to an eager kernel
    /// or a `SymBool` (`Bindings::value`): a value read from data is passed as it is
    /// (an `_assert_scalar` reports a negative one in its own words; an overflow is
    /// `i64::MAX`, which every allocation refuses).
    pub(super) fn int_value(&self, s: &SymInt) -> String {
        match s {
            SymInt::Int(v) => v.to_string(),
            SymInt::Sym { expr, .. } if s.is_unbacked() => match self.unbacked_value(expr) {
                Some(v) => format!("{RT}::sym_i64({v})"),
                None => "0".into(),
            },
            s => format!("{} as i64", self.dim(s)),
        }
    }

    /// `[a, b, …]` of sizes, each a literal or a per-call size.
    pub(super) fn shape(&self, sizes: &[SymInt]) -> String {
        let items: Vec<String> = sizes.iter().map(|s| self.dim(s)).collect();
        format!("[{}]", items.join(", "))
    }

    /// Walks the user inputs' sizes as `check_input` does, writing each input's binder.
    pub(super) fn bind_symbols(&mut self, sizes: &[(String, Vec<SymInt>)]) {
        let env = self.ep.shape_env();
        let mut t = DimTable::default();
        for (name, dims) in sizes {
            let mut lines = Vec::new();
            for (dim, want) in dims.iter().enumerate() {
                match want {
                    SymInt::Int(v) => lines.push(format!(
                        "{RT}::check_size({name:?}, {dim}, {v}, shape[{dim}])?;"
                    )),
                    SymInt::Sym { expr, .. } => match expr.as_linear() {
                        Some((sym, a, b)) if t.index(sym).is_none() => {
                            t.syms.push(sym);
                            let guard = format!("{name}.size()[{dim}] == {}", env.render(expr));
                            lines.push(format!(
                                "b.s[{}] = {RT}::bind_linear({guard:?}, {a}, {b}, shape[{dim}])?;",
                                t.syms.len() - 1
                            ));
                        }
                        _ => {
                            lines.push(format!("b.g[{}] = shape[{dim}] as i64;", t.deferred.len()));
                            t.deferred.push((name.clone(), dim, (**expr).clone()));
                        }
                    },
                }
            }
            t.binders.push(lines);
        }
        self.dims = t;
    }

    /// `struct Dims` and the binders; empty for a program with static sizes.
    pub(super) fn dims_items(&self, input_ranks: &[(String, usize)]) -> String {
        let t = &self.dims;
        if !t.dynamic() {
            return String::new();
        }
        let exprs = t.exprs.borrow().0.clone();
        let mut code = String::new();
        let fields: String = (0..exprs.len())
            .map(|k| format!("    z{k}: usize,\n"))
            .collect();
        let _ = write!(
            code,
            "/// The sizes of one call: the program's symbols bound from the input sizes, and\n\
             /// every size the steps use ({} of them), computed once.\n\
             #[derive(Clone, Copy, Debug)]\npub struct Dims {{\n{fields}}}\n\n\
             /// Symbol values (`s`) and the sizes checked once every symbol is bound (`g`).\n\
             struct Bound {{\n    s: [i64; {}],\n    g: [i64; {}],\n}}\n\n\
             impl Dims {{\n",
            exprs.len(),
            t.syms.len(),
            t.deferred.len()
        );
        for (k, ((_, rank), lines)) in input_ranks.iter().zip(&t.binders).enumerate() {
            let _ = write!(
                code,
                "    /// The sizes of user input {k}, checked (binding the symbols they define).\n    \
                 fn bind_input{k}(b: &mut Bound, shape: &[usize; {rank}]) -> Result<(), {RT}::RunError> {{\n"
            );
            for l in lines {
                let _ = writeln!(code, "        {l}");
            }
            code.push_str("        Ok(())\n    }\n\n");
        }
        code.push_str(&self.finish_fn(&exprs));
        code
    }

    /// `Dims::finish`: the checks that need every symbol, then the sizes of the call.
    fn finish_fn(&self, exprs: &[Expr]) -> String {
        let t = &self.dims;
        let env = self.ep.shape_env();
        let mut code = format!(
            "    /// The checks that need every symbol, then the sizes of the call.\n    \
             fn finish(b: &Bound) -> Result<Dims, {RT}::RunError> {{\n        let s = &b.s;\n"
        );
        for (j, (name, dim, want)) in t.deferred.iter().enumerate() {
            if let Some(v) = t.eval(want) {
                let guard = format!("{name}.size()[{dim}] == {}", env.render(want));
                let _ = writeln!(
                    code,
                    "        {RT}::check_deferred({guard:?}, {v}, b.g[{j}])?;"
                );
            }
        }
        for (expr, range) in &self.ep.range_constraints().entries {
            if let Some(v) = t.eval(expr) {
                let _ = writeln!(
                    code,
                    "        {RT}::check_range({:?}, {v}, {}, {:?})?;",
                    env.render(expr),
                    range.lower,
                    range.upper
                );
            }
        }
        for g in self.ep.guards() {
            if let (Some(l), Some(r)) = (t.eval(&g.lhs), t.eval(&g.rhs)) {
                let _ = writeln!(
                    code,
                    "        {RT}::check_guard({:?}, {l}, {r}, {RT}::CmpOp::{:?})?;",
                    format!(
                        "{} {} {}",
                        env.render(&g.lhs),
                        g.op.symbol(),
                        env.render(&g.rhs)
                    ),
                    g.op
                );
            }
        }
        code.push_str("        Ok(Dims {\n");
        for (k, e) in exprs.iter().enumerate() {
            let v = t.eval(e).unwrap_or_else(|| "None".into());
            let _ = writeln!(
                code,
                "            z{k}: {RT}::size({v}, {:?})?,",
                e.to_string()
            );
        }
        code.push_str("        })\n    }\n}\n\n");
        code
    }

    /// `let mut b = Bound { … };`: the binders' state, zeroed.
    pub(super) fn bound_init(&self) -> String {
        format!(
            "let mut b = Bound {{ s: [0; {}], g: [0; {}] }};",
            self.dims.syms.len(),
            self.dims.deferred.len()
        )
    }

    /// The value of each bound symbol when it is at its upper bound, if every symbol has
    /// one (range constraints on the symbol itself).
    pub(super) fn upper_bounds(&self) -> Option<BTreeMap<Symbol, i64>> {
        let mut out = BTreeMap::new();
        for &s in &self.dims.syms {
            let upper = (self.ep.range_constraints().entries.iter())
                .find(|(e, _)| e.as_linear() == Some((s, 1, 0)))
                .and_then(|(_, r)| r.upper)?;
            out.insert(s, upper);
        }
        Some(out)
    }
}
