//! ATen function schemas: `add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor`.
//! Parsed once per op; gives argument names (for kwargs, printing and serialization) and
//! defaults (so kernels read an omitted argument as ATen would).

use crate::symbolic::SymInt;

use super::Value;

/// One declared argument.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaArg {
    pub name: String,
    /// The ATen type as written (`Tensor`, `int[1]`, `Scalar?`, `SymInt[]`), alias
    /// annotations removed.
    pub ty: String,
    pub default: Option<Value>,
    pub kwarg_only: bool,
}

impl SchemaArg {
    pub fn is_optional(&self) -> bool {
        self.ty.ends_with('?')
    }
}

/// A parsed schema.
#[derive(Clone, Debug)]
pub struct Schema {
    /// `aten::add`
    pub name: String,
    /// `Tensor` (empty for `default`)
    pub overload: String,
    pub args: Vec<SchemaArg>,
    /// The declared return types (`Tensor`, `Tensor[]`, …).
    pub returns: Vec<String>,
}

impl Schema {
    /// `aten::add.Tensor`, `aten::relu.default`.
    pub fn qualified_name(&self) -> String {
        let overload = if self.overload.is_empty() {
            "default"
        } else {
            &self.overload
        };
        format!("{}.{}", self.name, overload)
    }

    /// Position of the argument called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.args.iter().position(|a| a.name == name)
    }

    /// Whether the op returns a list of tensors (`Tensor[]`).
    pub fn returns_list(&self) -> bool {
        self.returns.len() == 1 && self.returns[0] == "Tensor[]"
    }
}

fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn strip_alias(ty: &str) -> String {
    // `Tensor(a!)` → `Tensor`, `Tensor(a)[]` → `Tensor[]`
    let mut out = String::new();
    let mut skip = 0;
    for c in ty.chars() {
        match c {
            '(' => skip += 1,
            ')' => skip -= 1,
            _ if skip > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

fn parse_default(text: &str, ty: &str) -> Value {
    let t = text.trim();
    match t {
        "None" => return Value::None,
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        _ => {}
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Vec<&str> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if ty.starts_with("float") {
            return Value::FloatList(items.iter().filter_map(|s| s.parse().ok()).collect());
        }
        return Value::IntList(
            items
                .iter()
                .filter_map(|s| s.parse::<i64>().ok())
                .map(SymInt::Int)
                .collect(),
        );
    }
    if t.starts_with('"') || t.starts_with('\'') {
        return Value::Str(t.trim_matches(|c| c == '"' || c == '\'').to_string());
    }
    if let Ok(i) = t.parse::<i64>() {
        // An int default for an int list repeats it (`int[2] stride=1`).
        if ty.contains('[') {
            let n: usize = ty
                .split('[')
                .nth(1)
                .and_then(|r| r.trim_end_matches([']', '?']).parse().ok())
                .unwrap_or(1);
            return Value::IntList(vec![SymInt::Int(i); n]);
        }
        if ty.starts_with("float") {
            return Value::Float(i as f64);
        }
        return Value::Int(SymInt::Int(i));
    }
    if let Ok(f) = t.parse::<f64>() {
        return Value::Float(f);
    }
    Value::Str(t.to_string())
}

/// Parses `namespace::name.overload(args) -> returns`. Schemas are written by ferrex and
/// by custom-op authors; a malformed one is reported, never panics.
pub fn parse(schema: &str) -> Result<Schema, String> {
    let open = schema
        .find('(')
        .ok_or_else(|| format!("schema `{schema}` has no `(`"))?;
    let arrow = schema
        .rfind("->")
        .ok_or_else(|| format!("schema `{schema}` has no `->`"))?;
    let close = schema[..arrow]
        .rfind(')')
        .ok_or_else(|| format!("schema `{schema}` has no `)`"))?;
    let head = schema[..open].trim();
    let (name, overload) = match head.split_once('.') {
        Some((n, o)) => (
            n.to_string(),
            if o == "default" {
                String::new()
            } else {
                o.to_string()
            },
        ),
        None => (head.to_string(), String::new()),
    };
    if !name.contains("::") {
        return Err(format!(
            "schema `{schema}`: the name needs a namespace (`mylib::op`)"
        ));
    }
    let mut args = Vec::new();
    let mut kwarg_only = false;
    for part in split_top_level(&schema[open + 1..close]) {
        if part == "*" {
            kwarg_only = true;
            continue;
        }
        let (decl, default) = match part.split_once('=') {
            Some((d, v)) => (d.trim(), Some(v.trim())),
            None => (part.as_str(), None),
        };
        let (ty, arg_name) = decl.rsplit_once(' ').ok_or_else(|| {
            format!("schema `{schema}`: argument `{part}` needs a type and a name")
        })?;
        let ty = strip_alias(ty.trim());
        args.push(SchemaArg {
            name: arg_name.trim().to_string(),
            default: default.map(|d| parse_default(d, &ty)),
            ty,
            kwarg_only,
        });
    }
    let ret = schema[arrow + 2..].trim();
    let returns = if let Some(inner) = ret.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        split_top_level(inner)
            .into_iter()
            .map(|r| strip_alias(r.split_whitespace().next().unwrap_or("")))
            .collect()
    } else {
        vec![strip_alias(ret.split_whitespace().next().unwrap_or(""))]
    };
    Ok(Schema {
        name,
        overload,
        args,
        returns,
    })
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
        assert_eq!(s.args[2].default, Some(Value::Int(SymInt::Int(1))));
        let s = parse("aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)").unwrap();
        assert_eq!(s.returns, vec!["Tensor", "Tensor"]);
        let s = parse("aten::relu_(Tensor(a!) self) -> Tensor(a!)").unwrap();
        assert_eq!(s.qualified_name(), "aten::relu_.default");
        assert_eq!(s.args[0].ty, "Tensor");
        let s = parse("aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1) -> Tensor").unwrap();
        assert_eq!(
            s.args[3].default,
            Some(Value::IntList(vec![SymInt::Int(1), SymInt::Int(1)]))
        );
        assert!(parse("relu(Tensor self) -> Tensor").is_err());
    }
}
