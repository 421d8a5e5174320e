//! Checking the guards a trace recorded against the dynamic shapes the user declared.
//! A guard that narrows a declared range, fixes a dynamic size to a constant, or ties
//! two sizes together is a constraint violation, reported with a suggested fix in `Dim`
//! syntax. What remains becomes the program's range constraints and run-time guards.

use std::collections::BTreeMap;

use crate::program::{RangeConstraints, ValueRange};
use crate::symbolic::{CmpOp, Expr, Guard, ShapeEnv, Symbol};

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

fn floor_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -floor_div(-a, b)
}

/// The values of `s` with `a*s + c op 0`, as a range (or a single excluded value).
pub(crate) enum Allowed {
    Range(i64, Option<i64>),
    Not(i64),
    Nothing,
}

pub(crate) fn allowed(a: i64, c: i64, op: CmpOp) -> Allowed {
    // Normalise to a > 0.
    let (a, c, op) = if a < 0 {
        let flipped = match op {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        };
        (-a, -c, flipped)
    } else {
        (a, c, op)
    };
    // a*s op -c  ⇔  s op -c/a
    let t = -c;
    match op {
        CmpOp::Eq if t % a == 0 => Allowed::Range(t / a, Some(t / a)),
        CmpOp::Eq => Allowed::Nothing,
        CmpOp::Ne if t % a == 0 => Allowed::Not(t / a),
        CmpOp::Ne => Allowed::Range(i64::MIN, None),
        CmpOp::Lt => Allowed::Range(i64::MIN, Some(ceil_div(t, a) - 1)),
        CmpOp::Le => Allowed::Range(i64::MIN, Some(floor_div(t, a))),
        CmpOp::Gt => Allowed::Range(floor_div(t, a) + 1, None),
        CmpOp::Ge => Allowed::Range(ceil_div(t, a), None),
    }
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

pub(crate) fn check(env: &ShapeEnv, guards: &[Guard], input_sizes: &[Expr]) -> ConstraintReport {
    let mut violations = Vec::new();
    let mut dims: Vec<String> = Vec::new();
    let mut fixes: Vec<String> = Vec::new();
    let mut runtime_guards = Vec::new();
    let mut required: BTreeMap<Symbol, Required> = BTreeMap::new();
    let mut excluded: Vec<(Symbol, i64, String)> = Vec::new();
    let mut narrowing: Vec<(Symbol, String, i64, Option<i64>)> = Vec::new();

    for g in guards {
        let e = g.lhs.sub(&g.rhs);
        let guard_text = format!(
            "{} {} {}",
            env.render(&g.lhs),
            g.op.symbol(),
            env.render(&g.rhs)
        );
        let Some((terms, c)) = e.linear_terms() else {
            runtime_guards.push(g.clone());
            continue;
        };
        match terms.as_slice() {
            [] => {}
            [(s, a)] => {
                let r = required.entry(*s).or_insert(Required {
                    lo: i64::MIN,
                    hi: None,
                });
                match allowed(*a, c, g.op) {
                    Allowed::Range(lo, hi) => {
                        r.lo = r.lo.max(lo);
                        r.hi = match (r.hi, hi) {
                            (Some(x), Some(y)) => Some(x.min(y)),
                            (x, y) => x.or(y),
                        };
                        narrowing.push((*s, guard_text, lo, hi));
                    }
                    Allowed::Not(v) => excluded.push((*s, v, guard_text)),
                    Allowed::Nothing => runtime_guards.push(g.clone()),
                }
            }
            [(s1, a1), (s2, a2)] if g.op == CmpOp::Eq => {
                // a1*s1 + a2*s2 + c == 0: express the later symbol through the earlier.
                let (first, a_first, second, a_second) = if s1 < s2 {
                    (*s1, *a1, *s2, *a2)
                } else {
                    (*s2, *a2, *s1, *a1)
                };
                let (n1, n2) = (
                    env.info(first)
                        .map(|i| i.dim_name.clone())
                        .unwrap_or_default(),
                    env.info(second)
                        .map(|i| i.dim_name.clone())
                        .unwrap_or_default(),
                );
                // s2 = (-a_first*s1 - c) / a_second
                if (-a_first) % a_second == 0 && (-c) % a_second == 0 {
                    let (scale, offset) = (-a_first / a_second, -c / a_second);
                    if scale == 1 && offset == 0 {
                        violations.push(format!(
                            "The values of {} and {} must always be equal.",
                            env.describe(second),
                            env.describe(first)
                        ));
                    } else {
                        violations.push(format!(
                            "The values of {} must always equal {} (from the guard {guard_text}).",
                            env.describe(second),
                            affine_text(&n1, scale, offset).trim_end_matches(".clone()")
                        ));
                    }
                    fixes.push(format!("let {n2} = {};", affine_text(&n1, scale, offset)));
                    dims.push(n2);
                } else {
                    violations.push(format!(
                        "The sizes must satisfy the generated guard {guard_text}."
                    ));
                    runtime_guards.push(g.clone());
                }
            }
            _ => runtime_guards.push(g.clone()),
        }
    }

    for info in &env.symbols {
        let Some(req) = required.get(&info.symbol) else {
            continue;
        };
        let (dmin, dmax) = (info.min, info.max);
        let lo_ok = req.lo <= dmin;
        let hi_ok = match (req.hi, dmax) {
            (None, _) => true,
            (Some(h), Some(m)) => m <= h,
            (Some(_), None) => false,
        };
        if lo_ok && hi_ok {
            continue;
        }
        let new_lo = dmin.max(req.lo);
        let new_hi = match (req.hi, dmax) {
            (Some(h), Some(m)) => Some(h.min(m)),
            (h, m) => h.or(m),
        };
        // The guards that narrow the declared range (not those it already implies).
        let narrows = |lo: i64, hi: Option<i64>| {
            lo > dmin
                || match (hi, dmax) {
                    (Some(h), Some(m)) => h < m,
                    (Some(_), None) => true,
                    (None, _) => false,
                }
        };
        let mine: Vec<&(Symbol, String, i64, Option<i64>)> = narrowing
            .iter()
            .filter(|(s, ..)| *s == info.symbol)
            .collect();
        let narrowing_ones: Vec<&String> = mine
            .iter()
            .filter(|(_, _, lo, hi)| narrows(*lo, *hi))
            .map(|(_, t, ..)| t)
            .collect();
        let texts: Vec<&String> = if narrowing_ones.is_empty() {
            mine.iter().map(|(_, t, ..)| t).collect()
        } else {
            narrowing_ones
        };
        if new_hi == Some(new_lo) {
            violations.push(format!(
                "{} was marked dynamic, but the program specialised it to the constant {new_lo} (guard {}).",
                env.describe(info.symbol),
                texts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" and ")
            ));
            fixes.push(format!(
                "// {}: drop it from dynamic_shapes; the program needs it to be {new_lo}",
                info.dim_name
            ));
            dims.push(info.dim_name.clone());
            continue;
        }
        violations.push(format!(
            "Not all values of {} in the specified range {} satisfy the generated guard {}.",
            env.describe(info.symbol),
            range_text(dmin, dmax),
            texts
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
        fixes.push(dim_fix(&info.dim_name, new_lo, new_hi));
        dims.push(info.dim_name.clone());
    }
    for (s, v, text) in &excluded {
        let Some(info) = env.info(*s) else { continue };
        let in_range = *v >= info.min && info.max.is_none_or(|m| *v <= m);
        if !in_range {
            continue;
        }
        violations.push(format!(
            "Not all values of {} in the specified range {} satisfy the generated guard {text}.",
            env.describe(*s),
            range_text(info.min, info.max)
        ));
        dims.push(info.dim_name.clone());
        if *v == info.min {
            fixes.push(dim_fix(&info.dim_name, v + 1, info.max));
        } else if info.max == Some(*v) {
            fixes.push(dim_fix(&info.dim_name, info.min, Some(v - 1)));
        }
    }
    fixes.dedup();
    dims.sort();
    dims.dedup();

    // Range constraints: the input sizes in input order, then the root symbols.
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
    let mut push = |e: Expr| {
        if ranges.entries.iter().any(|(x, _)| *x == e) {
            return;
        }
        if let Some(r) = range_of(&e) {
            ranges.entries.push((e, r));
        }
    };
    for e in input_sizes {
        push(e.clone());
    }
    for info in &env.symbols {
        push(Expr::symbol(info.symbol));
    }

    ConstraintReport {
        dims,
        violations,
        fixes,
        ranges,
        runtime_guards,
    }
}
