//! Parsing size expressions back from the text [`Expr`]'s `Display` writes (`3*s0 + 1`,
//! `s0*s1`, `s0 - 2`, `((s0 + 1) // 2)`, `Mod(s0, 3)`, `Min(s0, s1)`, `Max(…)`), so
//! that saved programs keep their symbolic sizes. The expression is rebuilt through the
//! same arithmetic that made it, so `parse_expr(&e.to_string()) == e`.
//!
//! Expressions come from files, so parsing is bounded (both this parser and the sympy
//! `srepr` reader of `serialize::pt2` use the limits and the checked arithmetic here):
//! the text's length ([`MAX_EXPR_LEN`]), its nesting ([`MAX_EXPR_DEPTH`]), the number of
//! terms a product of sums expands to ([`MAX_EXPR_TERMS`]) and the coefficients (their
//! absolute sum stays below 2^62, so no arithmetic on them overflows). Past a limit the
//! parse is an error, never a stack overflow, an overflow or minutes of expansion.

use super::{Expr, SymInt, Symbol};

/// The longest size expression accepted, in bytes.
pub const MAX_EXPR_LEN: usize = 16 * 1024;

/// The deepest nesting of parentheses and calls accepted.
pub const MAX_EXPR_DEPTH: usize = 64;

/// The most terms an expression may have (`(s0 + s1)*(s2 + s3)*…` doubles per factor).
pub const MAX_EXPR_TERMS: usize = 256;

/// The largest sum of an expression's absolute coefficients.
pub const MAX_MAGNITUDE: u128 = 1 << 62;

/// The sum of the absolute values of `e`'s coefficients: every value arithmetic on `e`
/// can produce before evaluation is bounded by it.
pub fn magnitude(e: &Expr) -> u128 {
    e.terms().map(|(_, c)| u128::from(c.unsigned_abs())).sum()
}

fn within_bounds(terms: usize, magnitude: u128, what: &str) -> Result<(), String> {
    if terms > MAX_EXPR_TERMS {
        return Err(format!(
            "the {what} has more than {MAX_EXPR_TERMS} terms once expanded"
        ));
    }
    if magnitude > MAX_MAGNITUDE {
        return Err(format!("the coefficients of the {what} are too large"));
    }
    Ok(())
}

/// `a + b`, refused when the result could have too many terms or too large coefficients.
pub fn bounded_add(a: &Expr, b: &Expr) -> Result<Expr, String> {
    within_bounds(
        a.terms().count() + b.terms().count(),
        magnitude(a) + magnitude(b),
        "sum",
    )?;
    Ok(a.add(b))
}

/// `a * b`, refused before expanding when the product could have too many terms or too
/// large coefficients.
pub fn bounded_mul(a: &Expr, b: &Expr) -> Result<Expr, String> {
    within_bounds(
        a.terms().count().saturating_mul(b.terms().count()),
        magnitude(a).saturating_mul(magnitude(b)),
        "product",
    )?;
    Ok(a.mul(b))
}

/// An integer as an expression, refused above the coefficient bound.
pub fn bounded_constant(v: i64) -> Result<Expr, String> {
    if u128::from(v.unsigned_abs()) > MAX_MAGNITUDE {
        return Err(format!("the integer {v} is too large for a size"));
    }
    Ok(Expr::constant(v))
}

/// The text as shown in an error: long expressions are cut (the file holds the rest).
pub fn shown(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

/// Why a size expression did not parse: the text, the byte offset and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse the size expression `{}` at offset {at}: {message}", shown(.text))]
pub struct ParseExprError {
    pub text: String,
    pub at: usize,
    pub message: String,
}

/// Parses an expression over size symbols (`s0`, `s1`, …).
pub fn parse_expr(text: &str) -> Result<Expr, ParseExprError> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    if text.len() > MAX_EXPR_LEN {
        return Err(p.error(&format!(
            "the expression is longer than {MAX_EXPR_LEN} bytes"
        )));
    }
    let e = p.sum()?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok(e)
}

/// Parses a size: a plain integer, or an expression with its example value `hint`.
pub fn parse_symint(text: &str, hint: i64) -> Result<SymInt, ParseExprError> {
    Ok(SymInt::from_expr(parse_expr(text)?, hint))
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// Parentheses and calls open at `pos`.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseExprError {
        ParseExprError {
            text: self.text.to_string(),
            at: self.pos,
            message: message.to_string(),
        }
    }

    /// `f(self)` one nesting level deeper, refused past [`MAX_EXPR_DEPTH`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseExprError>,
    ) -> Result<T, ParseExprError> {
        if self.depth >= MAX_EXPR_DEPTH {
            return Err(self.error(&format!(
                "the expression nests deeper than {MAX_EXPR_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn arith(&self, r: Result<Expr, String>) -> Result<Expr, ParseExprError> {
        r.map_err(|m| self.error(&m))
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Consumes `token` (after whitespace) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), ParseExprError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{token}`")))
        }
    }

    fn digits(&mut self) -> &str {
        let rest = self.rest();
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        let start = self.pos;
        self.pos += n;
        &self.text[start..start + n]
    }

    fn integer(&mut self) -> Result<i64, ParseExprError> {
        self.skip_ws();
        let at = self.pos;
        let digits = self.digits().to_string();
        if digits.is_empty() {
            return Err(self.error("expected an integer"));
        }
        digits.parse::<i64>().map_err(|_| ParseExprError {
            text: self.text.to_string(),
            at,
            message: format!("the integer {digits} is too large"),
        })
    }

    /// `sum := ['-'] product (('+' | '-') product)*`
    fn sum(&mut self) -> Result<Expr, ParseExprError> {
        let negative = self.eat("-");
        let first = self.product()?;
        let mut acc = if negative { first.neg() } else { first };
        loop {
            if self.eat("+") {
                let next = self.product()?;
                acc = self.arith(bounded_add(&acc, &next))?;
            } else if self.eat("-") {
                let next = self.product()?.neg();
                acc = self.arith(bounded_add(&acc, &next))?;
            } else {
                return Ok(acc);
            }
        }
    }

    /// `product := factor (('*' | '//') factor)*`; the divisor of `//` is a positive
    /// integer.
    fn product(&mut self) -> Result<Expr, ParseExprError> {
        let mut acc = self.factor()?;
        loop {
            if self.eat("//") {
                let d = self.integer()?;
                if d <= 0 {
                    return Err(self.error("the divisor of `//` must be positive"));
                }
                acc = acc.floor_div(d);
            } else if self.eat("*") {
                let next = self.factor()?;
                acc = self.arith(bounded_mul(&acc, &next))?;
            } else {
                return Ok(acc);
            }
        }
    }

    /// `factor := INT | sN | '(' sum ')' | Mod(sum, INT) | Min(sum, sum) | Max(sum, sum)`
    fn factor(&mut self) -> Result<Expr, ParseExprError> {
        self.skip_ws();
        let starts_symbol = self.rest().starts_with(['s', 'u']);
        if self.rest().starts_with(|c: char| c.is_ascii_digit()) {
            let v = self.integer()?;
            return self.arith(bounded_constant(v));
        }
        if self.eat("(") {
            let e = self.nested(Self::sum)?;
            // `((e) // d)`: the division sits inside the outer parentheses.
            let e = if self.eat("//") {
                let d = self.integer()?;
                if d <= 0 {
                    return Err(self.error("the divisor of `//` must be positive"));
                }
                e.floor_div(d)
            } else {
                e
            };
            self.expect(")")?;
            return Ok(e);
        }
        if self.eat("Mod(") {
            let e = self.nested(Self::sum)?;
            self.expect(",")?;
            let d = self.integer()?;
            if d <= 0 {
                return Err(self.error("the divisor of `Mod` must be positive"));
            }
            self.expect(")")?;
            return Ok(e.modulo(d));
        }
        for (name, is_min) in [("Min(", true), ("Max(", false)] {
            if self.eat(name) {
                let (a, b) = self.nested(|p| {
                    let a = p.sum()?;
                    p.expect(",")?;
                    Ok((a, p.sum()?))
                })?;
                self.expect(")")?;
                return Ok(if is_min {
                    Expr::min(&a, &b)
                } else {
                    Expr::max(&a, &b)
                });
            }
        }
        if starts_symbol {
            let unbacked = self.rest().starts_with('u');
            self.pos += 1;
            let at = self.pos;
            let digits = self.digits().to_string();
            if digits.is_empty() {
                return Err(self.error("expected a symbol number after `s` or `u`"));
            }
            let n = digits.parse::<u32>().map_err(|_| ParseExprError {
                text: self.text.to_string(),
                at,
                message: format!("the symbol number {digits} is too large"),
            })?;
            return Ok(Expr::symbol(if unbacked {
                Symbol::unbacked(n)
            } else {
                Symbol(n)
            }));
        }
        Err(self.error("expected an integer, a symbol (`s0`), `(`, `Mod`, `Min` or `Max`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(i: u32) -> Expr {
        Expr::symbol(Symbol(i))
    }

    fn round_trip(e: &Expr) {
        let text = e.to_string();
        assert_eq!(parse_expr(&text).as_ref(), Ok(e), "{text}");
    }

    #[test]
    fn parses_what_display_prints() {
        let c = Expr::constant;
        let cases = [
            s(0).scale(3).add(&c(1)),
            s(0).sub(&c(2)),
            s(0).mul(&s(1)),
            s(0).mul(&s(0)).scale(2).sub(&s(1)).add(&c(7)),
            s(0).neg().add(&c(4)),
            c(0),
            c(-12),
            s(0).add(&c(1)).floor_div(2),
            s(1).scale(2).add(&s(0)).floor_div(3).scale(4).add(&c(1)),
            s(0).modulo(3).mul(&s(2)),
            Expr::min(&s(0), &s(1).add(&c(1))),
            Expr::max(&s(3), &c(16)).sub(&s(0).add(&c(1)).floor_div(2)),
            s(12).scale(-5),
            Expr::symbol(Symbol::unbacked(0)).add(&s(1).scale(2)),
            Expr::max(&Expr::symbol(Symbol::unbacked(3)), &c(1)),
        ];
        for e in &cases {
            round_trip(e);
        }
        assert_eq!(parse_expr("3*s0 + 1"), Ok(s(0).scale(3).add(&c(1))));
        assert_eq!(parse_expr(" s0*s1 "), Ok(s(0).mul(&s(1))));
        assert_eq!(parse_expr("s0 - 2"), Ok(s(0).sub(&c(2))));
        assert_eq!(parse_expr("u0"), Ok(Expr::symbol(Symbol::unbacked(0))));
        assert_eq!(Symbol::unbacked(7).to_string(), "u7");
        assert!(Symbol::unbacked(0).is_unbacked() && !Symbol(0).is_unbacked());
    }

    #[test]
    fn symints_keep_their_hint_and_collapse_constants() {
        let v = parse_symint("s0 + 1", 9).unwrap();
        assert!(v.is_symbolic());
        assert_eq!(v.hint(), 9);
        assert_eq!(v.to_string(), "s0 + 1");
        assert_eq!(parse_symint("8", 8).unwrap().as_int(), Some(8));
    }

    #[test]
    fn malformed_text_is_an_error_not_a_panic() {
        for bad in [
            "",
            "s",
            "s0 +",
            "3*",
            "(s0",
            "s0)",
            "Mod(s0, 0)",
            "((s0) // -1)",
            "x0",
            "s0 s1",
            "99999999999999999999",
            "s99999999999",
            "Min(s0)",
            "é",
            "s0 + é",
        ] {
            let err = parse_expr(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn hostile_expressions_are_refused_quickly() {
        // 30,000 nested parentheses: an error, not a stack overflow.
        let deep = format!("{}s0{}", "(".repeat(30_000), ")".repeat(30_000));
        assert_eq!(
            parse_expr(&deep).unwrap_err().to_string(),
            format!(
                "cannot parse the size expression `{}… (60002 bytes)` at offset 0: the \
                 expression is longer than 16384 bytes",
                "(".repeat(80)
            )
        );
        let deep = format!("{}s0{}", "(".repeat(5_000), ")".repeat(5_000));
        let err = parse_expr(&deep).unwrap_err();
        assert_eq!(
            (err.at, err.message.as_str()),
            (65, "the expression nests deeper than 64 levels")
        );
        let min = format!("{}s0{}", "Min(".repeat(100), ", s1)".repeat(100));
        let err = parse_expr(&min).unwrap_err();
        assert_eq!(err.message, "the expression nests deeper than 64 levels");
        // A 1.5 KB product of sums of distinct symbols would expand to 2^100 terms:
        // refused at the ninth factor.
        let factors: Vec<String> = (0..100)
            .map(|i| format!("(s{} + s{})", 2 * i, 2 * i + 1))
            .collect();
        let started = std::time::Instant::now();
        let err = parse_expr(&factors.join("*")).unwrap_err();
        assert_eq!(
            err.message,
            "the product has more than 256 terms once expanded"
        );
        assert_eq!(err.at, factors[..9].join("*").len());
        assert!(started.elapsed().as_secs() < 1);
        // Eight factors (256 terms) are fine: 2^8 monomials, each coefficient 1.
        let e = parse_expr(&factors[..8].join("*")).unwrap();
        assert_eq!(e.terms().count(), 256);
        assert_eq!(e.eval(&|_| Some(1)), Some(256));
        // Powers of one sum stay small (binomial coefficients), and are accepted.
        let e = parse_expr(&vec!["(s0 + s1)"; 40].join("*")).unwrap();
        assert_eq!(e.terms().count(), 41);
        // Coefficients whose products would overflow i64.
        let err = parse_expr("3037000500*3037000500").unwrap_err();
        assert_eq!(err.message, "the coefficients of the product are too large");
        let err = parse_expr("9223372036854775807").unwrap_err();
        assert_eq!(
            err.message,
            "the integer 9223372036854775807 is too large for a size"
        );
        let err = parse_expr("4611686018427387904 + 4611686018427387904").unwrap_err();
        assert_eq!(err.message, "the coefficients of the sum are too large");
    }
}
