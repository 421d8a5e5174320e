//! ATen function schemas: `add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor`.
//! Parsed once per op; gives argument names (for kwargs, printing and serialization) and
//! defaults (so kernels read an omitted argument as ATen would). The parser itself is
//! `ferrex-schema`'s; this file turns its defaults into call arguments.

pub use ferrex_schema::{DefaultValue, Schema, SchemaArg};

use crate::symbolic::SymInt;

use super::Value;

/// A schema default as a call argument.
pub fn default_value(d: &DefaultValue) -> Value {
    use DefaultValue as D;
    match d {
        D::None => Value::None,
        D::Bool(b) => Value::Bool(*b),
        D::Int(i) => Value::Int(SymInt::Int(*i)),
        D::Float(f) => Value::Float(*f),
        D::IntList(l) => Value::IntList(l.iter().map(|&i| SymInt::Int(i)).collect()),
        D::FloatList(l) => Value::FloatList(l.clone()),
        D::Str(s) => Value::Str(s.clone()),
    }
}

/// Parses `namespace::name.overload(args) -> returns` with the one schema parser
/// (`ferrex-schema`, which `ferrex-macros` also runs on built-in schemas at compile
/// time). Schemas of custom ops come from their authors; a malformed one is reported,
/// never panics.
pub fn parse(schema: &str) -> Result<Schema, String> {
    ferrex_schema::parse(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_defaults_and_returns() {
        let s = parse("aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")
            .unwrap();
        assert_eq!(s.qualified_name(), "aten::add.Tensor");
        assert_eq!(s.args.len(), 3);
        assert!(s.args[2].kwarg_only);
        assert_eq!(
            s.args[2].default.as_ref().map(default_value),
            Some(Value::Int(SymInt::Int(1)))
        );
        let s = parse("aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)").unwrap();
        assert_eq!(s.returns, vec!["Tensor", "Tensor"]);
        let s = parse("aten::relu_(Tensor(a!) self) -> Tensor(a!)").unwrap();
        assert_eq!(s.qualified_name(), "aten::relu_.default");
        assert_eq!(s.args[0].ty, "Tensor");
        let s = parse("aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1) -> Tensor").unwrap();
        assert_eq!(
            s.args[3].default.as_ref().map(default_value),
            Some(Value::IntList(vec![SymInt::Int(1), SymInt::Int(1)]))
        );
        assert!(parse("relu(Tensor self) -> Tensor").is_err());
    }
}
