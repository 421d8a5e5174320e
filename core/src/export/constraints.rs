//! Checking the guards a trace recorded against the dynamic shapes the user declared.
//! A guard that narrows a declared range, fixes a dynamic size to a constant, or ties
//! two sizes together is a constraint violation, reported with a suggested fix in `Dim`
//! syntax. What remains becomes the program's range constraints and run-time guards.

use std::collections::BTreeMap;

use crate::program::{RangeConstraints, ValueRange};
use crate::symbolic::linear::{allowed, Allowed};
use crate::symbolic::{CmpOp, Expr, Guard, ShapeEnv, Symbol, SymbolInfo};

/// The outcome of checking the guards.
pub(crate) struct ConstraintReport {
    /// The `Dim`s the violations are about, sorted.
    pub dims: Vec<String>,
    pub violations: Vec<String>,
    pub fixes: Vec<String>,
    pub ranges: RangeConstraints,
    /// Guards not implied by the ranges, checked when the program runs.
    pub runtime_guards: Vec<Guard>,
}

/// What the guards require of one symbol.
#[derive(Clone, Copy)]
struct Required {
    lo: i64,
    hi: Option<i64>,
}

fn range_text(lo: i64, hi: Option<i64>) -> String {
    match hi {
        Some(h) => format!("[{lo}, {h}]"),
        None => format!("[{lo}, int_oo]"),
    }
}

fn dim_fix(name: &str, lo: i64, hi: Option<i64>) -> String {
    let mut s = format!("let {name} = Dim::new(\"{name}\")");
    if lo > 0 {
        s.push_str(&format!(".min({lo})"));
    }
    if let Some(h) = hi {
        s.push_str(&format!(".max({h})"));
    }
    s.push(';');
    s
}

fn affine_text(name: &str, a: i64, b: i64) -> String {
    let mut s = if a == 1 {
        name.to_string()
    } else {
        format!("&{name} * {a}")
    };
    if b > 0 {
        s.push_str(&format!(" + {b}"));
    } else if b < 0 {
        s.push_str(&format!(" - {}", -b));
    }
    if a == 1 && b == 0 {
        s.push_str(".clone()");
    }
    s
}

/// One way the guards contradict the declared dynamic shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// Two dims must always be equal: `second == first`.
    Equal { second: String, first: String },
    /// A dim must be an affine function of another (`d2 == 2*d1 + 1`).
    Derived {
        second: String,
        relation: String,
        guard: String,
    },
    /// A relation between two dims that no derived `Dim` can express.
    Unexpressible { guard: String },
    /// A dim was marked dynamic, but the guards fix it to one value.
    Specialized {
        dim: String,
        value: i64,
        guards: Vec<String>,
    },
    /// The guards narrow the declared range of a dim (or exclude a value of it).
    Narrowed {
        dim: String,
        range: String,
        guards: Vec<String>,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Equal { second, first } => {
                write!(f, "The values of {second} and {first} must always be equal.")
            }
            Violation::Derived {
                second,
                relation,
                guard,
            } => write!(
                f,
                "The values of {second} must always equal {relation} (from the guard {guard})."
            ),
            Violation::Unexpressible { guard } => {
                write!(f, "The sizes must satisfy the generated guard {guard}.")
            }
            Violation::Specialized { dim, value, guards } => write!(
                f,
                "{dim} was marked dynamic, but the program specialised it to the constant {value} (guard {}).",
                guards.join(" and ")
            ),
            Violation::Narrowed { dim, range, guards } => write!(
                f,
                "Not all values of {dim} in the specified range {range} satisfy the generated guard {}.",
                guards.join(" and ")
            ),
        }
    }
}

/// The guards sorted by what they say: ranges and excluded values per symbol, violations
/// between two symbols, and what can only be checked at run time.
#[derive(Default)]
struct Classified {
    required: BTreeMap<Symbol, Required>,
    excluded: Vec<(Symbol, i64, String)>,
    /// `(symbol, guard text, lower, upper)` of each guard that bounds one symbol.
    narrowing: Vec<(Symbol, String, i64, Option<i64>)>,
    /// Violations between two symbols, each with its fix and the dim it is about.
    relations: Vec<(Violation, Option<String>, String)>,
    runtime_guards: Vec<Guard>,
}

fn guard_text(env: &ShapeEnv, g: &Guard) -> String {
    format!(
        "{} {} {}",
        env.render(&g.lhs),
        g.op.symbol(),
        env.render(&g.rhs)
    )
}

/// Sorts each guard by the symbols it is linear in.
fn classify(env: &ShapeEnv, guards: &[Guard]) -> Classified {
    let mut c = Classified::default();
    for g in guards {
        let text = guard_text(env, g);
        let Some((terms, k)) = g.lhs.sub(&g.rhs).linear_terms() else {
            c.runtime_guards.push(g.clone());
            continue;
        };
        match terms.as_slice() {
            [] => {}
            [(s, a)] => c.bound_one(*s, *a, k, g, text),
            [(s1, a1), (s2, a2)] if g.op == CmpOp::Eq => {
                c.relate_two(env, (*s1, *a1), (*s2, *a2), k, g, text)
            }
            _ => c.runtime_guards.push(g.clone()),
        }
    }
    c
}

impl Classified {
    /// A guard `a*s + k op 0` on one symbol.
    fn bound_one(&mut self, s: Symbol, a: i64, k: i64, g: &Guard, text: String) {
        let r = self.required.entry(s).or_insert(Required {
            lo: i64::MIN,
            hi: None,
        });
        match allowed(a, k, g.op) {
            Allowed::Range(lo, hi) => {
                r.lo = r.lo.max(lo);
                r.hi = match (r.hi, hi) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
                self.narrowing.push((s, text, lo, hi));
            }
            Allowed::Not(v) => self.excluded.push((s, v, text)),
            Allowed::Nothing => self.runtime_guards.push(g.clone()),
        }
    }

    /// `a1*s1 + a2*s2 + k == 0`: the later symbol expressed through the earlier.
    fn relate_two(
        &mut self,
        env: &ShapeEnv,
        (s1, a1): (Symbol, i64),
        (s2, a2): (Symbol, i64),
        k: i64,
        g: &Guard,
        guard: String,
    ) {
        let (first, a_first, second, a_second) = if s1 < s2 {
            (s1, a1, s2, a2)
        } else {
            (s2, a2, s1, a1)
        };
        let name = |s: Symbol| env.info(s).map(|i| i.dim_name.clone()).unwrap_or_default();
        let (n1, n2) = (name(first), name(second));
        // s2 = (-a_first*s1 - k) / a_second
        if (-a_first) % a_second != 0 || (-k) % a_second != 0 {
            self.relations
                .push((Violation::Unexpressible { guard }, None, n2));
            self.runtime_guards.push(g.clone());
            return;
        }
        let (scale, offset) = (-a_first / a_second, -k / a_second);
        let violation = if scale == 1 && offset == 0 {
            Violation::Equal {
                second: env.describe(second),
                first: env.describe(first),
            }
        } else {
            Violation::Derived {
                second: env.describe(second),
                relation: affine_text(&n1, scale, offset)
                    .trim_end_matches(".clone()")
                    .to_string(),
                guard,
            }
        };
        let fix = format!("let {n2} = {};", affine_text(&n1, scale, offset));
        self.relations.push((violation, Some(fix), n2));
    }
}

/// The texts of the guards that narrow `info`'s declared range (all of its guards when
/// none narrows it by itself).
fn narrowing_guards(c: &Classified, info: &SymbolInfo) -> Vec<String> {
    let (dmin, dmax) = (info.min, info.max);
    let narrows = |lo: i64, hi: Option<i64>| {
        lo > dmin
            || match (hi, dmax) {
                (Some(h), Some(m)) => h < m,
                (Some(_), None) => true,
                (None, _) => false,
            }
    };
    let mine: Vec<&(Symbol, String, i64, Option<i64>)> = c
        .narrowing
        .iter()
        .filter(|(s, ..)| *s == info.symbol)
        .collect();
    let narrowing: Vec<String> = mine
        .iter()
        .filter(|(_, _, lo, hi)| narrows(*lo, *hi))
        .map(|(_, t, ..)| t.clone())
        .collect();
    if narrowing.is_empty() {
        mine.iter().map(|(_, t, ..)| t.clone()).collect()
    } else {
        narrowing
    }
}

/// The violation (with its fix) of a symbol whose guards narrow its declared range.
fn range_violation(
    env: &ShapeEnv,
    c: &Classified,
    info: &SymbolInfo,
) -> Option<(Violation, String)> {
    let req = c.required.get(&info.symbol)?;
    let (dmin, dmax) = (info.min, info.max);
    let hi_ok = match (req.hi, dmax) {
        (None, _) => true,
        (Some(h), Some(m)) => m <= h,
        (Some(_), None) => false,
    };
    if req.lo <= dmin && hi_ok {
        return None;
    }
    let new_lo = dmin.max(req.lo);
    let new_hi = match (req.hi, dmax) {
        (Some(h), Some(m)) => Some(h.min(m)),
        (h, m) => h.or(m),
    };
    if new_hi == Some(new_lo) {
        let guards = narrowing_guards(c, info);
        let fix = format!(
            "// {}: drop it from dynamic_shapes; the program needs it to be {new_lo}",
            info.dim_name
        );
        let dim = env.describe(info.symbol);
        return Some((
            Violation::Specialized {
                dim,
                value: new_lo,
                guards,
            },
            fix,
        ));
    }
    let violation = Violation::Narrowed {
        dim: env.describe(info.symbol),
        range: range_text(dmin, dmax),
        guards: vec![narrowed_range_text(env, info, new_lo, new_hi)],
    };
    Some((violation, dim_fix(&info.dim_name, new_lo, new_hi)))
}

/// The range the guards leave a symbol, in PyTorch's words: `2 <= x.size()[0] and
/// x.size()[0] <= 16` when both ends are narrower than declared, one comparison when only
/// one end is.
fn narrowed_range_text(env: &ShapeEnv, info: &SymbolInfo, lo: i64, hi: Option<i64>) -> String {
    let size = env.render(&Expr::symbol(info.symbol));
    let lower = (lo > info.min).then(|| format!("{lo} <= {size}"));
    let upper = match (hi, info.max) {
        (Some(h), Some(m)) if h >= m => None,
        (Some(h), _) => Some(format!("{size} <= {h}")),
        (None, _) => None,
    };
    match (lower, upper) {
        (Some(l), Some(u)) => format!("{l} and {u}"),
        (Some(one), None) | (None, Some(one)) => one,
        // Not reached: a range that is not narrower is no violation.
        (None, None) => range_text(lo, hi),
    }
}

/// The violation (and fix, where one value at an end of the range is excluded) of a
/// guard `s != v` with `v` inside the declared range.
fn excluded_violation(
    env: &ShapeEnv,
    (s, v, text): &(Symbol, i64, String),
) -> Option<(Violation, Option<String>, String)> {
    let info = env.info(*s)?;
    let in_range = *v >= info.min && info.max.is_none_or(|m| *v <= m);
    if !in_range {
        return None;
    }
    let violation = Violation::Narrowed {
        dim: env.describe(*s),
        range: range_text(info.min, info.max),
        guards: vec![text.clone()],
    };
    let fix = if *v == info.min {
        Some(dim_fix(&info.dim_name, v + 1, info.max))
    } else if info.max == Some(*v) {
        Some(dim_fix(&info.dim_name, info.min, Some(v - 1)))
    } else {
        None
    };
    Some((violation, fix, info.dim_name.clone()))
}

/// Range constraints: the input sizes in input order, then the root symbols.
fn range_constraints(env: &ShapeEnv, input_sizes: &[Expr]) -> RangeConstraints {
    let range_of = |e: &Expr| -> Option<ValueRange> {
        let (terms, c) = e.linear_terms()?;
        let [(s, a)] = terms.as_slice() else {
            return None;
        };
        let info = env.info(*s)?;
        let at = |v: i64| a.saturating_mul(v).saturating_add(c);
        let (lo, hi) = if *a > 0 {
            (at(info.min), info.max.map(at))
        } else {
            (info.max.map(at).unwrap_or(i64::MIN), Some(at(info.min)))
        };
        Some(ValueRange {
            lower: lo,
            upper: hi,
        })
    };
    let mut ranges = RangeConstraints::default();
    let all = input_sizes
        .iter()
        .cloned()
        .chain(env.symbols.iter().map(|i| Expr::symbol(i.symbol)));
    for e in all {
        if ranges.entries.iter().any(|(x, _)| *x == e) {
            continue;
        }
        if let Some(r) = range_of(&e) {
            ranges.entries.push((e, r));
        }
    }
    ranges
}

/// Checks the guards against the declared dims: classify, then turn each contradiction
/// into a typed [`Violation`] with its fix, then the range constraints.
pub(crate) fn check(env: &ShapeEnv, guards: &[Guard], input_sizes: &[Expr]) -> ConstraintReport {
    let c = classify(env, guards);
    let mut found: Vec<(Violation, Option<String>, String)> = c.relations.clone();
    for info in &env.symbols {
        if let Some((v, fix)) = range_violation(env, &c, info) {
            found.push((v, Some(fix), info.dim_name.clone()));
        }
    }
    found.extend(c.excluded.iter().filter_map(|e| excluded_violation(env, e)));
    let mut fixes: Vec<String> = found.iter().filter_map(|(_, f, _)| f.clone()).collect();
    fixes.dedup();
    let mut dims: Vec<String> = found.iter().map(|(_, _, d)| d.clone()).collect();
    dims.sort();
    dims.dedup();
    ConstraintReport {
        dims,
        violations: found.iter().map(|(v, ..)| v.to_string()).collect(),
        fixes,
        ranges: range_constraints(env, input_sizes),
        runtime_guards: c.runtime_guards,
    }
}
