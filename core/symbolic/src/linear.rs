//! What one linear comparison says about a symbol: the values of `s` with
//! `a*s + c op 0`. Used to turn guards into ranges (constraint checking) and to decide
//! comparisons of values read from data from the ranges `ferrex::check` gave.

use crate::CmpOp;

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
pub enum Allowed {
    Range(i64, Option<i64>),
    Not(i64),
    Nothing,
}

pub fn allowed(a: i64, c: i64, op: CmpOp) -> Allowed {
    // Normalise to a > 0.
    let (a, c, op) = if a < 0 {
        (-a, -c, op.swapped())
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
