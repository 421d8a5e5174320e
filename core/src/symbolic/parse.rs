//! Parsing size expressions back from the text [`Expr`]'s `Display` writes (`3*s0 + 1`,
//! `s0*s1`, `s0 - 2`, `((s0 + 1) // 2)`, `Mod(s0, 3)`, `Min(s0, s1)`, `Max(…)`), so
//! that saved programs keep their symbolic sizes. The expression is rebuilt through the
//! same arithmetic that made it, so `parse_expr(&e.to_string()) == e`.

use super::{Expr, SymInt, Symbol};

/// Why a size expression did not parse: the text, the byte offset and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse the size expression `{text}` at offset {at}: {message}")]
pub struct ParseExprError {
    pub text: String,
    pub at: usize,
    pub message: String,
}

/// Parses an expression over size symbols (`s0`, `s1`, …).
pub fn parse_expr(text: &str) -> Result<Expr, ParseExprError> {
    let mut p = Parser { text, pos: 0 };
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
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseExprError {
        ParseExprError {
            text: self.text.to_string(),
            at: self.pos,
            message: message.to_string(),
        }
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
                acc = acc.add(&self.product()?);
            } else if self.eat("-") {
                acc = acc.sub(&self.product()?);
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
                acc = acc.mul(&self.factor()?);
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
            return Ok(Expr::constant(self.integer()?));
        }
        if self.eat("(") {
            let e = self.sum()?;
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
            let e = self.sum()?;
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
                let a = self.sum()?;
                self.expect(",")?;
                let b = self.sum()?;
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
}
