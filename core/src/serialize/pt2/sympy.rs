//! Size expressions in sympy's `srepr` spelling, as PyTorch writes them in `expr_str`
//! (`Symbol('s77', positive=True, integer=True)`, `Add(Symbol('s17', …), Integer(1))`,
//! `Mul(Integer(4), Symbol('s77', …))`), read into ferrex's [`Expr`].
//!
//! Understood: `Symbol('sN' | 'uN', …)` (keyword assumptions ignored), `Integer(n)`,
//! `Add`, `Mul`, `Pow(e, Integer(k))` with `0 <= k <= 64`, `FloorDiv(e, Integer(d))`,
//! `Mod` / `PythonMod(e, Integer(d))` with `d > 0`, `Max`, `Min`. Anything else is an
//! error naming it. Length, nesting, terms and coefficients are bounded by the limits of
//! `symbolic::parse` (a hostile file cannot overflow the stack or expand for minutes).

use crate::symbolic::parse::{bounded_add, bounded_constant, bounded_mul, shown};
use crate::symbolic::{Expr, Symbol, MAX_EXPR_DEPTH, MAX_EXPR_LEN};

/// Symbols above this index would collide with ferrex's unbacked and rendering symbols.
const MAX_SYMBOL_INDEX: u32 = 1 << 27;

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Call(String, Vec<Term>),
    Int(i64),
    Str(String),
    /// A keyword argument or a bare name (`True`); ignored where allowed.
    Other,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("`{}`: {what} at character {}", shown(self.text), self.pos)
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.text[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn term(&mut self, depth: usize) -> Result<Term, String> {
        if depth > MAX_EXPR_DEPTH {
            return Err(self.err("the expression nests too deeply"));
        }
        self.skip_ws();
        let rest = &self.text[self.pos..];
        if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted
                .find('\'')
                .ok_or_else(|| self.err("unterminated string"))?;
            self.pos += end + 2;
            return Ok(Term::Str(quoted[..end].to_string()));
        }
        if rest.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            let neg = self.eat('-');
            let digits = self.word().to_string();
            let v: i64 = digits
                .parse()
                .map_err(|_| self.err(&format!("`{digits}` is not an integer")))?;
            return Ok(Term::Int(if neg { -v } else { v }));
        }
        let name = self.word().to_string();
        if name.is_empty() {
            return Err(self.err("expected a term"));
        }
        if self.eat('=') {
            self.term(depth + 1)?;
            return Ok(Term::Other);
        }
        if !self.eat('(') {
            return Ok(Term::Other);
        }
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.term(depth + 1)?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(self.err("expected `,` or `)`"));
                }
            }
        }
        Ok(Term::Call(name, args))
    }
}

fn int_arg(args: &[Term], what: &str) -> Result<i64, String> {
    match args {
        [Term::Int(v)] => Ok(*v),
        _ => Err(format!("{what} takes one integer")),
    }
}

fn symbol(args: &[Term]) -> Result<Expr, String> {
    let Some(Term::Str(name)) = args.first() else {
        return Err("Symbol needs a quoted name".into());
    };
    let index = |digits: &str| -> Result<u32, String> {
        digits
            .parse::<u32>()
            .ok()
            .filter(|&i| i < MAX_SYMBOL_INDEX)
            .ok_or_else(|| format!("`{name}` is not a size symbol (`s0`, `u0`, …)"))
    };
    if let Some(d) = name.strip_prefix('s') {
        Ok(Expr::symbol(Symbol(index(d)?)))
    } else if let Some(d) = name.strip_prefix('u') {
        Ok(Expr::symbol(Symbol::unbacked(index(d)?)))
    } else {
        Err(format!("`{name}` is not a size symbol (`s0`, `u0`, …)"))
    }
}

fn positive(e: &Expr, what: &str) -> Result<i64, String> {
    match e.as_constant() {
        Some(d) if d > 0 => Ok(d),
        _ => Err(format!(
            "{what} by `{e}` is not supported (only by a positive integer)"
        )),
    }
}

fn fold(args: &[Expr], name: &str) -> Result<Expr, String> {
    let (first, rest) = args
        .split_first()
        .ok_or_else(|| format!("{name} needs arguments"))?;
    let mut acc = first.clone();
    for e in rest {
        acc = match name {
            "Add" => bounded_add(&acc, e)?,
            "Mul" => bounded_mul(&acc, e)?,
            "Max" => Expr::max(&acc, e),
            _ => Expr::min(&acc, e),
        };
    }
    Ok(acc)
}

fn to_expr(t: &Term) -> Result<Expr, String> {
    let Term::Call(name, args) = t else {
        return match t {
            Term::Int(v) => bounded_constant(*v),
            _ => Err(format!("{t:?} is not an expression")),
        };
    };
    match name.as_str() {
        "Symbol" => return symbol(args),
        "Integer" => return int_arg(args, "Integer").and_then(bounded_constant),
        _ => {}
    }
    let subs = args
        .iter()
        .filter(|a| !matches!(a, Term::Other))
        .map(to_expr)
        .collect::<Result<Vec<_>, _>>()?;
    match (name.as_str(), subs.as_slice()) {
        ("Add" | "Max" | "Min" | "Mul", _) => fold(&subs, name),
        ("Pow", [base, exp]) => match exp.as_constant() {
            Some(k @ 0..=64) => {
                (0..k).try_fold(Expr::constant(1), |acc, _| bounded_mul(&acc, base))
            }
            _ => Err(format!("Pow with exponent `{exp}` is not supported")),
        },
        ("FloorDiv", [a, d]) => Ok(a.floor_div(positive(d, "FloorDiv")?)),
        ("Mod" | "PythonMod", [a, d]) => Ok(a.modulo(positive(d, "Mod")?)),
        (other, _) => Err(format!(
            "`{other}` with {} arguments is not a size expression ferrex reads",
            subs.len()
        )),
    }
}

/// Parses one sympy `srepr` expression into an [`Expr`].
pub fn parse_srepr(text: &str) -> Result<Expr, String> {
    if text.len() > MAX_EXPR_LEN {
        return Err(format!(
            "`{}`: the expression is longer than {MAX_EXPR_LEN} bytes",
            shown(text)
        ));
    }
    if !text.is_ascii() {
        return Err(format!(
            "`{}` is not an ASCII sympy expression",
            shown(text)
        ));
    }
    let mut p = Parser { text, pos: 0 };
    let term = p.term(0)?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.err("unexpected text"));
    }
    to_expr(&term).map_err(|e| format!("`{}`: {e}", shown(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S77: &str = "Symbol('s77', positive=True, integer=True)";

    #[test]
    fn reads_pytorch_spellings() {
        assert_eq!(parse_srepr(S77).unwrap().to_string(), "s77");
        let derived = "Add(Symbol('s17', positive=True, integer=True), Integer(1))";
        assert_eq!(parse_srepr(derived).unwrap().to_string(), "s17 + 1");
        let mul = format!("Mul(Integer(4), {S77})");
        assert_eq!(parse_srepr(&mul).unwrap().to_string(), "4*s77");
        let prod = format!("Mul(Symbol('s27', positive=True, integer=True), {S77})");
        let e = parse_srepr(&prod).unwrap();
        assert_eq!(e.eval(&|s| Some(i64::from(s.0))), Some(27 * 77));
        let floordiv = format!("FloorDiv(Add({S77}, Integer(-1)), Integer(2))");
        let e = parse_srepr(&floordiv).unwrap();
        assert_eq!(e.eval(&|_| Some(10)), Some(4));
        assert_eq!(e.eval(&|_| Some(2)), Some(0));
        let pow = format!("Pow({S77}, Integer(2))");
        assert_eq!(parse_srepr(&pow).unwrap().eval(&|_| Some(3)), Some(9));
        assert_eq!(parse_srepr("Integer(-3)").unwrap().as_constant(), Some(-3));
        let unbacked = parse_srepr("Symbol('u0', integer=True)").unwrap();
        assert_eq!(unbacked.to_string(), "u0");
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for bad in [
            "",
            "Symbol(",
            "Symbol('x', integer=True)",
            "Symbol('s99999999999')",
            "Sin(Integer(1))",
            "Integer(1) trailing",
            "Integer(99999999999999999999999)",
            "FloorDiv(Integer(4), Integer(0))",
            "Pow(Integer(2), Integer(1000))",
            "Add(Integer(1), 'oops')",
            "Symbol('s1\u{e9}')",
            "Add(Integer(9223372036854775807), Integer(9223372036854775807))",
            "Mul(Integer(3037000500), Integer(3037000500))",
            "Pow(Integer(3), Integer(60))",
        ] {
            assert!(parse_srepr(bad).is_err(), "{bad:?} was accepted");
        }
        let deep = format!("{}Integer(1){}", "Add(".repeat(1_000), ")".repeat(1_000));
        let err = parse_srepr(&deep).unwrap_err();
        assert!(err.contains("nests too deeply"), "{err}");
    }

    #[test]
    fn products_of_sums_are_bounded_in_terms() {
        let sums: Vec<String> = (0..40)
            .map(|i| format!("Add(Symbol('s{}'), Symbol('s{}'))", 2 * i, 2 * i + 1))
            .collect();
        let product = format!("Mul({})", sums.join(", "));
        let started = std::time::Instant::now();
        let err = parse_srepr(&product).unwrap_err();
        assert!(
            err.ends_with(": the product has more than 256 terms once expanded"),
            "{err}"
        );
        assert_eq!(
            err,
            "`Mul(Add(Symbol('s0'), Symbol('s1')), Add(Symbol('s2'), Symbol('s3')), Add(Symbol… \
             (1393 bytes)`: the product has more than 256 terms once expanded"
        );
        assert!(started.elapsed().as_secs() < 1);
        let sum9 = format!(
            "Add({})",
            (0..9)
                .map(|i| format!("Symbol('s{i}')"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let pow = format!("Pow({sum9}, Integer(9))");
        let err = parse_srepr(&pow).unwrap_err();
        assert!(
            err.ends_with("the product has more than 256 terms once expanded"),
            "{err}"
        );
        let long = format!("Add({})", vec!["Integer(1)"; 2000].join(", "));
        let err = parse_srepr(&long).unwrap_err();
        assert!(
            err.ends_with("the expression is longer than 16384 bytes"),
            "{err}"
        );
    }
}
