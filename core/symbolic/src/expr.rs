//! Integer expressions over size symbols: polynomials with integer coefficients whose
//! atoms are symbols or opaque terms (floor division, modulo, min, max) that could not be
//! simplified further. Canonical form, so structural equality is semantic equality for the
//! linear and polynomial cases that shapes produce.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A size symbol (`s0`, `s1`, …). Its range and example value live in the shape
/// environment of the trace that created it. *Unbacked* symbols (`u0`, `u1`, …) stand
/// for values read from tensor data (`x.sym_item()`, the length of `nonzero`): they
/// have no example value, only a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol(pub u32);

/// Unbacked symbols are numbered from here, far from input-size symbols.
const UNBACKED_BASE: u32 = 1 << 28;

impl Symbol {
    /// The unbacked symbol `u{index}`.
    pub fn unbacked(index: u32) -> Symbol {
        Symbol(UNBACKED_BASE + index.min(UNBACKED_BASE - 1))
    }

    /// Whether it stands for a value read from tensor data rather than an input size.
    pub fn is_unbacked(self) -> bool {
        (UNBACKED_BASE..2 * UNBACKED_BASE).contains(&self.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unbacked() {
            write!(f, "u{}", self.0 - UNBACKED_BASE)
        } else {
            write!(f, "s{}", self.0)
        }
    }
}

/// An atom of a monomial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    Sym(Symbol),
    /// `floor(e / d)` with `d > 0`, where it did not simplify.
    FloorDiv(Arc<Expr>, i64),
    /// `e mod d` with `d > 0`.
    Mod(Arc<Expr>, i64),
    Min(Arc<Expr>, Arc<Expr>),
    Max(Arc<Expr>, Arc<Expr>),
}

/// A product of atoms, sorted (atoms may repeat: `s0*s0`).
pub type Monomial = Vec<Atom>;

/// A polynomial: a map from monomials to non-zero coefficients; the empty monomial is
/// the constant term.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Expr {
    terms: BTreeMap<Monomial, i64>,
}

impl Expr {
    pub fn constant(c: i64) -> Expr {
        let mut e = Expr::default();
        if c != 0 {
            e.terms.insert(Vec::new(), c);
        }
        e
    }

    pub fn symbol(s: Symbol) -> Expr {
        Expr::atom(Atom::Sym(s))
    }

    fn atom(a: Atom) -> Expr {
        let mut e = Expr::default();
        e.terms.insert(vec![a], 1);
        e
    }

    /// The value if the expression has no symbols.
    pub fn as_constant(&self) -> Option<i64> {
        match self.terms.len() {
            0 => Some(0),
            1 => self.terms.get(&Vec::new()).copied(),
            _ => None,
        }
    }

    /// The terms: each monomial (a sorted product of atoms; empty for the constant) and
    /// its non-zero coefficient, in a fixed order.
    pub fn terms(&self) -> impl Iterator<Item = (&Monomial, i64)> {
        self.terms.iter().map(|(m, c)| (m, *c))
    }

    /// The constant term.
    pub fn constant_term(&self) -> i64 {
        self.terms.get(&Vec::new()).copied().unwrap_or(0)
    }

    /// If the expression is `a*s + b` for one symbol `s`, returns `(s, a, b)`.
    pub fn as_linear(&self) -> Option<(Symbol, i64, i64)> {
        let mut found = None;
        for (mono, &c) in &self.terms {
            match mono.as_slice() {
                [] => {}
                [Atom::Sym(s)] if found.is_none() => found = Some((*s, c)),
                _ => return None,
            }
        }
        found.map(|(s, a)| (s, a, self.constant_term()))
    }

    /// The expression as `Σ coeff·symbol + constant` if it is linear in plain symbols.
    pub fn linear_terms(&self) -> Option<(Vec<(Symbol, i64)>, i64)> {
        let mut terms = Vec::new();
        for (mono, &c) in &self.terms {
            match mono.as_slice() {
                [] => {}
                [Atom::Sym(s)] => terms.push((*s, c)),
                _ => return None,
            }
        }
        Some((terms, self.constant_term()))
    }

    /// Replaces symbols by expressions.
    pub fn substitute(&self, f: &dyn Fn(Symbol) -> Option<Expr>) -> Expr {
        let mut out = Expr::default();
        for (mono, &c) in &self.terms {
            let mut term = Expr::constant(c);
            for atom in mono {
                let factor = match atom {
                    Atom::Sym(s) => f(*s).unwrap_or_else(|| Expr::symbol(*s)),
                    other => Expr::atom(other.clone()),
                };
                term = term.mul(&factor);
            }
            out = out.add(&term);
        }
        out
    }

    /// All symbols that occur in the expression.
    pub fn symbols(&self) -> Vec<Symbol> {
        let mut out = Vec::new();
        self.collect_symbols(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_symbols(&self, out: &mut Vec<Symbol>) {
        for mono in self.terms.keys() {
            for atom in mono {
                match atom {
                    Atom::Sym(s) => out.push(*s),
                    Atom::FloorDiv(e, _) | Atom::Mod(e, _) => e.collect_symbols(out),
                    Atom::Min(a, b) | Atom::Max(a, b) => {
                        a.collect_symbols(out);
                        b.collect_symbols(out);
                    }
                }
            }
        }
    }

    /// Evaluates with the given symbol values; `None` if a symbol has no value.
    pub fn eval(&self, value: &dyn Fn(Symbol) -> Option<i64>) -> Option<i64> {
        let mut total: i64 = 0;
        for (mono, &c) in &self.terms {
            let mut prod = c;
            for atom in mono {
                let v = match atom {
                    Atom::Sym(s) => value(*s)?,
                    // Checked: a divisor of 0 (from a hostile file) is no value, not a panic.
                    Atom::FloorDiv(e, d) => e.eval(value)?.checked_div_euclid(*d)?,
                    Atom::Mod(e, d) => e.eval(value)?.checked_rem_euclid(*d)?,
                    Atom::Min(a, b) => a.eval(value)?.min(b.eval(value)?),
                    Atom::Max(a, b) => a.eval(value)?.max(b.eval(value)?),
                };
                prod = prod.checked_mul(v)?;
            }
            total = total.checked_add(prod)?;
        }
        Some(total)
    }

    pub fn add(&self, other: &Expr) -> Expr {
        let mut out = self.clone();
        for (mono, &c) in &other.terms {
            out.add_term(mono.clone(), c);
        }
        out
    }

    fn add_term(&mut self, mono: Monomial, c: i64) {
        let entry = self.terms.entry(mono).or_insert(0);
        *entry += c;
        if *entry == 0 {
            self.terms.retain(|_, v| *v != 0);
        }
    }

    pub fn neg(&self) -> Expr {
        Expr {
            terms: self.terms.iter().map(|(m, c)| (m.clone(), -c)).collect(),
        }
    }

    pub fn sub(&self, other: &Expr) -> Expr {
        self.add(&other.neg())
    }

    pub fn mul(&self, other: &Expr) -> Expr {
        let mut out = Expr::default();
        for (m1, c1) in &self.terms {
            for (m2, c2) in &other.terms {
                let mut mono = m1.clone();
                mono.extend(m2.iter().cloned());
                mono.sort();
                out.add_term(mono, c1 * c2);
            }
        }
        out
    }

    pub fn scale(&self, k: i64) -> Expr {
        self.mul(&Expr::constant(k))
    }

    /// `floor(self / d)` for `d > 0`: exact when every non-constant coefficient is a
    /// multiple of `d` (`floor((3*s + 2) / 3) = s`); otherwise an opaque atom.
    pub fn floor_div(&self, d: i64) -> Expr {
        if d == 1 {
            return self.clone();
        }
        // `d <= 0` only comes from a hostile file: kept opaque (it evaluates to no value).
        let divisible =
            d > 0 && (self.terms.iter()).all(|(m, c)| m.is_empty() || c.checked_rem(d) == Some(0));
        if divisible {
            let mut out = Expr::default();
            for (m, &c) in &self.terms {
                if m.is_empty() {
                    out.add_term(Vec::new(), c.div_euclid(d));
                } else {
                    out.add_term(m.clone(), c / d);
                }
            }
            return out;
        }
        Expr::atom(Atom::FloorDiv(Arc::new(self.clone()), d))
    }

    /// `self / divisor` when the divisor is a single monomial (a constant times symbols)
    /// that divides every term exactly; `None` otherwise.
    pub fn div_exact(&self, divisor: &Expr) -> Option<Expr> {
        if divisor.terms.len() != 1 {
            return None;
        }
        let (dmono, &dc) = divisor.terms.iter().next()?;
        if dc == 0 {
            return None;
        }
        let mut out = Expr::default();
        for (mono, &c) in &self.terms {
            if c.checked_rem(dc) != Some(0) {
                return None;
            }
            let mut rest = mono.clone();
            for atom in dmono {
                let pos = rest.iter().position(|a| a == atom)?;
                rest.remove(pos);
            }
            out.add_term(rest, c.checked_div(dc)?);
        }
        Some(out)
    }

    /// `self mod d` for `d > 0`.
    pub fn modulo(&self, d: i64) -> Expr {
        if d <= 0 {
            // Only from a hostile file: kept opaque (it evaluates to no value).
            return Expr::atom(Atom::Mod(Arc::new(self.clone()), d));
        }
        if let Some(c) = self.as_constant() {
            return Expr::constant(c.rem_euclid(d));
        }
        let divisible =
            (self.terms.iter()).all(|(m, c)| m.is_empty() || c.checked_rem(d) == Some(0));
        if divisible {
            return Expr::constant(self.constant_term().rem_euclid(d));
        }
        Expr::atom(Atom::Mod(Arc::new(self.clone()), d))
    }

    /// The least and greatest values the expression can take when each symbol `s` lies
    /// in `range(s)`; `None` when a bound does not fit in an `i128` (then nothing is
    /// known). Interval arithmetic: sound, not always tight (`s - s` is folded before).
    pub fn bounds(&self, range: SymbolRanges<'_>) -> Option<(i128, i128)> {
        let (mut lo, mut hi) = (0i128, 0i128);
        for (mono, &c) in &self.terms {
            let mut term = (i128::from(c), i128::from(c));
            for atom in mono {
                term = interval_mul(term, atom.bounds(range)?)?;
            }
            lo = lo.checked_add(term.0)?;
            hi = hi.checked_add(term.1)?;
        }
        Some((lo, hi))
    }

    /// The expression with each `Min` / `Max` whose operands are ordered over the
    /// symbols' ranges replaced by the smaller / larger one: `Max(0, s0)` is `s0` when
    /// `s0 >= 2`. PyTorch's printed sizes are simplified so; comparing a size a meta
    /// function gives with one a file records needs the same.
    pub fn simplify_in(&self, range: SymbolRanges<'_>) -> Expr {
        let mut out = Expr::default();
        for (mono, &c) in &self.terms {
            let mut term = Expr::constant(c);
            for atom in mono {
                term = term.mul(&atom.simplify_in(range));
            }
            out = out.add(&term);
        }
        out
    }

    pub fn min(&self, other: &Expr) -> Expr {
        if self == other {
            return self.clone();
        }
        let (a, b) = order(self, other);
        Expr::atom(Atom::Min(Arc::new(a), Arc::new(b)))
    }

    pub fn max(&self, other: &Expr) -> Expr {
        if self == other {
            return self.clone();
        }
        let (a, b) = order(self, other);
        Expr::atom(Atom::Max(Arc::new(a), Arc::new(b)))
    }
}

fn order(a: &Expr, b: &Expr) -> (Expr, Expr) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

/// Names symbols when printing (`s0`, or `x.size()[1]` in error messages).
pub type SymbolNames<'a> = &'a dyn Fn(Symbol) -> String;

struct WithNames<'a, T>(&'a T, SymbolNames<'a>);

/// Each symbol's least and greatest value (`i64::MIN` / `i64::MAX` where unbounded).
pub type SymbolRanges<'a> = &'a dyn Fn(Symbol) -> (i64, i64);

/// The product of two intervals: the extremes are among the corners' products.
fn interval_mul(a: (i128, i128), b: (i128, i128)) -> Option<(i128, i128)> {
    let corners = [
        a.0.checked_mul(b.0)?,
        a.0.checked_mul(b.1)?,
        a.1.checked_mul(b.0)?,
        a.1.checked_mul(b.1)?,
    ];
    Some((*corners.iter().min()?, *corners.iter().max()?))
}

impl Atom {
    fn bounds(&self, range: SymbolRanges<'_>) -> Option<(i128, i128)> {
        Some(match self {
            Atom::Sym(s) => {
                let (lo, hi) = range(*s);
                (i128::from(lo), i128::from(hi))
            }
            Atom::FloorDiv(e, d) if *d > 0 => {
                let (lo, hi) = e.bounds(range)?;
                let d = i128::from(*d);
                (lo.div_euclid(d), hi.div_euclid(d))
            }
            Atom::Mod(_, d) if *d > 0 => (0, i128::from(*d) - 1),
            // Hostile divisors evaluate to no value: nothing is known.
            Atom::FloorDiv(..) | Atom::Mod(..) => return None,
            Atom::Min(a, b) => {
                let (a, b) = (a.bounds(range)?, b.bounds(range)?);
                (a.0.min(b.0), a.1.min(b.1))
            }
            Atom::Max(a, b) => {
                let (a, b) = (a.bounds(range)?, b.bounds(range)?);
                (a.0.max(b.0), a.1.max(b.1))
            }
        })
    }

    fn simplify_in(&self, range: SymbolRanges<'_>) -> Expr {
        match self {
            Atom::Sym(s) => Expr::symbol(*s),
            Atom::FloorDiv(e, d) => e.simplify_in(range).floor_div(*d),
            Atom::Mod(e, d) => e.simplify_in(range).modulo(*d),
            Atom::Min(a, b) | Atom::Max(a, b) => {
                let (a, b) = (a.simplify_in(range), b.simplify_in(range));
                let is_min = matches!(self, Atom::Min(..));
                match a.sub(&b).bounds(range) {
                    // a <= b everywhere
                    Some((_, hi)) if hi <= 0 => return if is_min { a } else { b },
                    // a >= b everywhere
                    Some((lo, _)) if lo >= 0 => return if is_min { b } else { a },
                    _ => {}
                }
                if is_min {
                    Expr::min(&a, &b)
                } else {
                    Expr::max(&a, &b)
                }
            }
        }
    }
}

impl Atom {
    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, names: SymbolNames<'_>) -> fmt::Result {
        match self {
            Atom::Sym(s) => write!(f, "{}", names(*s)),
            Atom::FloorDiv(e, d) => write!(f, "(({}) // {d})", WithNames(&**e, names)),
            Atom::Mod(e, d) => write!(f, "Mod({}, {d})", WithNames(&**e, names)),
            Atom::Min(a, b) => write!(
                f,
                "Min({}, {})",
                WithNames(&**a, names),
                WithNames(&**b, names)
            ),
            Atom::Max(a, b) => write!(
                f,
                "Max({}, {})",
                WithNames(&**a, names),
                WithNames(&**b, names)
            ),
        }
    }
}

impl fmt::Display for WithNames<'_, Expr> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_with(f, self.1)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(f, &|s| s.to_string())
    }
}

impl Expr {
    /// Prints with symbols named by `names`.
    pub fn to_string_with(&self, names: SymbolNames<'_>) -> String {
        WithNames(self, names).to_string()
    }

    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, names: SymbolNames<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return write!(f, "0");
        }
        let mut terms: Vec<(&Monomial, i64)> = self.terms.iter().map(|(m, c)| (m, *c)).collect();
        terms.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        for (i, (mono, c)) in terms.iter().enumerate() {
            let c = *c;
            let (sign, mag) = if c < 0 { ("-", -c) } else { ("+", c) };
            if i == 0 {
                if c < 0 {
                    write!(f, "-")?;
                }
            } else {
                write!(f, " {sign} ")?;
            }
            if mono.is_empty() {
                write!(f, "{mag}")?;
                continue;
            }
            if mag != 1 {
                write!(f, "{mag}*")?;
            }
            for (j, atom) in mono.iter().enumerate() {
                if j > 0 {
                    write!(f, "*")?;
                }
                atom.fmt_with(f, names)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    /// Prints like sympy does in PyTorch's graphs: highest-degree terms first, the
    /// constant last (`3*s0 + 1`, `s0 - 2`, `s0*s1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(f, &|s| s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(i: u32) -> Expr {
        Expr::symbol(Symbol(i))
    }

    #[test]
    fn linear_arithmetic_and_printing() {
        let e = s(0).scale(3).add(&Expr::constant(1));
        assert_eq!(e.to_string(), "3*s0 + 1");
        assert_eq!(s(0).sub(&Expr::constant(2)).to_string(), "s0 - 2");
        assert_eq!(e.as_linear(), Some((Symbol(0), 3, 1)));
        // (3*s0 + 1 - 1 + 3 - 1) // 3 == s0 — the length of y[1::3].
        let len = e
            .sub(&Expr::constant(1))
            .add(&Expr::constant(2))
            .floor_div(3);
        assert_eq!(len, s(0));
    }

    #[test]
    fn products_and_cancellation() {
        let p = s(0).mul(&s(1));
        assert_eq!(p.to_string(), "s0*s1");
        assert_eq!(p.sub(&s(1).mul(&s(0))).as_constant(), Some(0));
        assert_eq!(
            s(0).floor_div(2).eval(&|_| Some(7)),
            Some(3),
            "opaque floor division still evaluates"
        );
    }
    #[test]
    fn min_and_max_simplify_over_the_symbols_ranges() {
        // s0 in [2, 256], s1 unbounded.
        let range = |sym: Symbol| match sym.0 {
            0 => (2, 256),
            _ => (i64::MIN, i64::MAX),
        };
        let zero = Expr::constant(0);
        // arange(0, s0)'s length, as its meta gives it.
        assert_eq!(Expr::max(&s(0), &zero).simplify_in(&range), s(0));
        assert_eq!(Expr::min(&s(0), &zero).simplify_in(&range), zero);
        assert_eq!(
            Expr::min(&s(0), &Expr::constant(300)).simplify_in(&range),
            s(0)
        );
        // Not ordered over the range: kept.
        let kept = Expr::max(&s(0), &Expr::constant(10));
        assert_eq!(kept.simplify_in(&range), kept);
        let unbounded = Expr::max(&s(1), &zero);
        assert_eq!(unbounded.simplify_in(&range), unbounded);
        // Nested, inside a sum and a floor division: 2*Max(0, s0 - 2) // 2 + 1 = s0 - 1.
        let nested = Expr::max(&s(0).sub(&Expr::constant(2)), &zero)
            .scale(2)
            .floor_div(2)
            .add(&Expr::constant(1));
        assert_eq!(nested.simplify_in(&range), s(0).sub(&Expr::constant(1)));
        assert_eq!(
            s(0).scale(3).add(&Expr::constant(1)).bounds(&range),
            Some((7, 769))
        );
        assert_eq!(s(0).modulo(4).bounds(&range), Some((0, 3)));
        // Bounds beyond i128 are unknown, not wrapped.
        let huge = s(1).mul(&s(1)).mul(&s(1));
        assert_eq!(huge.bounds(&range), None);
    }
}
