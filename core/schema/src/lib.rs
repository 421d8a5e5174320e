//! ATen function schemas: `aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1)
//! -> Tensor`. The one parser: `ferrex-macros` runs it at compile time on every built-in
//! op (with [`parse_typed`], so an unknown type or a default that does not fit its type is
//! a compile error), `ferrex` at run time on custom ops' schemas ([`parse`]).
//!
//! Nothing here panics on its input: a malformed schema is an `Err` with a message.

/// A default as written in a schema (`=1`, `=0.01`, `=None`, `=[0, 1]`, `='none'`).
#[derive(Clone, Debug, PartialEq)]
pub enum DefaultValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    IntList(Vec<i64>),
    FloatList(Vec<f64>),
    Str(String),
}

/// One declared argument.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaArg {
    pub name: String,
    /// The ATen type as written (`Tensor`, `int[1]`, `Scalar?`, `SymInt[]`), alias
    /// annotations removed.
    pub ty: String,
    pub default: Option<DefaultValue>,
    pub kwarg_only: bool,
}

impl SchemaArg {
    pub fn is_optional(&self) -> bool {
        self.ty.ends_with('?')
    }
}

/// A parsed schema.
#[derive(Clone, Debug, PartialEq)]
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

    /// The argument list in one normal form (`Tensor self, Scalar alpha=1`): alias
    /// annotations and the `*` marker dropped. Two ops whose signatures are equal decode
    /// into the same argument struct.
    pub fn signature(&self) -> String {
        self.args
            .iter()
            .map(|a| match &a.default {
                Some(d) => format!("{} {}={}", a.ty, a.name, default_text(d)),
                None => format!("{} {}", a.ty, a.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn default_text(d: &DefaultValue) -> String {
    match d {
        DefaultValue::None => "None".into(),
        DefaultValue::Bool(b) => if *b { "True" } else { "False" }.into(),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Float(f) => format!("{f:?}"),
        DefaultValue::IntList(l) => format!("{l:?}"),
        DefaultValue::FloatList(l) => format!("{l:?}"),
        DefaultValue::Str(s) => format!("'{s}'"),
    }
}

/// The element types an argument can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseType {
    Tensor,
    /// `int`: a concrete integer.
    Int,
    /// `SymInt`: an integer that may be a symbolic size.
    SymInt,
    Float,
    /// A number as given (`Scalar`): integers stay exact.
    Scalar,
    Bool,
    Str,
    /// `ScalarType`: a dtype.
    ScalarType,
    /// `Layout`, `Device`, `MemoryFormat`, `Generator`: accepted and passed through,
    /// never interpreted (ferrex has one layout, one device, contiguous values).
    Opaque,
}

/// A classified argument type: `int[2]?` is `Int`, a list of 2, optional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgType {
    pub base: BaseType,
    /// `Some(None)` for `T[]`, `Some(Some(n))` for `T[n]`.
    pub list: Option<Option<usize>>,
    /// `T?` (for a list, `T[]?`); `Tensor?[]` is a list of optional tensors.
    pub optional: bool,
    /// `Tensor?[]`: the elements are optional.
    pub optional_elements: bool,
}

impl ArgType {
    /// Classifies an ATen type as written (alias annotations already removed).
    pub fn parse(ty: &str) -> Result<ArgType, String> {
        let (rest, optional) = match ty.strip_suffix('?') {
            Some(r) => (r, true),
            None => (ty, false),
        };
        let (elem, list) = match rest.find('[') {
            Some(open) => {
                let inner = rest[open..]
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .ok_or_else(|| format!("type `{ty}`: a list is written `T[]` or `T[n]`"))?;
                let n = if inner.is_empty() {
                    None
                } else {
                    Some(inner.parse::<usize>().map_err(|_| {
                        format!("type `{ty}`: the list length `{inner}` is not a number")
                    })?)
                };
                (&rest[..open], Some(n))
            }
            None => (rest, None),
        };
        let (elem, optional_elements) = match elem.strip_suffix('?') {
            Some(e) if list.is_some() => (e, true),
            _ => (elem, false),
        };
        let base = match elem {
            "Tensor" => BaseType::Tensor,
            "int" => BaseType::Int,
            "SymInt" => BaseType::SymInt,
            "float" => BaseType::Float,
            "Scalar" => BaseType::Scalar,
            "bool" => BaseType::Bool,
            "str" => BaseType::Str,
            "ScalarType" => BaseType::ScalarType,
            "Layout" | "Device" | "MemoryFormat" | "Generator" => BaseType::Opaque,
            other => return Err(format!("unknown argument type `{other}` in `{ty}`")),
        };
        if optional_elements && base != BaseType::Tensor {
            return Err(format!(
                "type `{ty}`: only tensor lists may have optional elements"
            ));
        }
        let supported_list = matches!(
            base,
            BaseType::Tensor | BaseType::Int | BaseType::SymInt | BaseType::Float
        );
        if list.is_some() && !supported_list {
            return Err(format!("type `{ty}`: lists of `{elem}` are not supported"));
        }
        Ok(ArgType {
            base,
            list,
            optional,
            optional_elements,
        })
    }

    /// Whether `default` is a value of this type.
    pub fn accepts(&self, default: &DefaultValue) -> bool {
        use BaseType as B;
        use DefaultValue as D;
        match (default, self.list) {
            (D::None, _) => self.optional || self.base == B::Opaque,
            (D::IntList(_), Some(_)) => matches!(self.base, B::Int | B::SymInt),
            (D::FloatList(_), Some(_)) => self.base == B::Float,
            // An int default for an int list repeats it (`int[2] stride=1`).
            (D::Int(_), Some(Some(_))) => matches!(self.base, B::Int | B::SymInt),
            (_, Some(_)) => false,
            (D::Bool(_), None) => matches!(self.base, B::Bool | B::Scalar),
            (D::Int(_), None) => matches!(self.base, B::Int | B::SymInt | B::Float | B::Scalar),
            (D::Float(_), None) => matches!(self.base, B::Float | B::Scalar),
            // An enum value of an uninterpreted type (`MemoryFormat
            // memory_format=contiguous_format`).
            (D::Str(_), None) => matches!(self.base, B::Str | B::Opaque),
            (D::IntList(_) | D::FloatList(_), None) => false,
        }
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

fn parse_default(text: &str, ty: &str) -> DefaultValue {
    let t = text.trim();
    match t {
        "None" => return DefaultValue::None,
        "True" => return DefaultValue::Bool(true),
        "False" => return DefaultValue::Bool(false),
        _ => {}
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Vec<&str> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if ty.starts_with("float") {
            return DefaultValue::FloatList(items.iter().filter_map(|s| s.parse().ok()).collect());
        }
        return DefaultValue::IntList(items.iter().filter_map(|s| s.parse().ok()).collect());
    }
    if t.starts_with('"') || t.starts_with('\'') {
        return DefaultValue::Str(t.trim_matches(|c| c == '"' || c == '\'').to_string());
    }
    if let Ok(i) = t.parse::<i64>() {
        // An int default for an int list repeats it (`int[2] stride=1`).
        if ty.contains('[') {
            let n: usize = ty
                .split('[')
                .nth(1)
                .and_then(|r| r.trim_end_matches([']', '?']).parse().ok())
                .unwrap_or(1);
            return DefaultValue::IntList(vec![i; n]);
        }
        if ty.starts_with("float") {
            return DefaultValue::Float(i as f64);
        }
        return DefaultValue::Int(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        return DefaultValue::Float(f);
    }
    DefaultValue::Str(t.to_string())
}

/// Parses `namespace::name.overload(args) -> returns`. Schemas are written by ferrex and
/// by custom-op authors; a malformed one is reported, never panics. Types are kept as
/// written (see [`parse_typed`] for the strict form).
pub fn parse(schema: &str) -> Result<Schema, String> {
    let open = schema
        .find('(')
        .ok_or_else(|| format!("schema `{schema}` has no `(`"))?;
    let arrow = schema
        .rfind("->")
        .ok_or_else(|| format!("schema `{schema}` has no `->`"))?;
    let close = schema[..arrow]
        .rfind(')')
        .filter(|&c| c > open)
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
    let args = parse_args(schema, &schema[open + 1..close])?;
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

fn parse_args(schema: &str, list: &str) -> Result<Vec<SchemaArg>, String> {
    let mut args = Vec::new();
    let mut kwarg_only = false;
    for part in split_top_level(list) {
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
    Ok(args)
}

/// [`parse`], then every argument type classified and every default checked against its
/// type: what `ferrex-macros` requires of a built-in op's schema at compile time.
pub fn parse_typed(schema: &str) -> Result<(Schema, Vec<ArgType>), String> {
    let parsed = parse(schema)?;
    let mut types = Vec::with_capacity(parsed.args.len());
    for (i, arg) in parsed.args.iter().enumerate() {
        if !is_identifier(&arg.name) {
            return Err(format!("argument name `{}` is not an identifier", arg.name));
        }
        if parsed.args[..i].iter().any(|a| a.name == arg.name) {
            return Err(format!("argument `{}` is declared twice", arg.name));
        }
        let ty = ArgType::parse(&arg.ty).map_err(|e| format!("argument `{}`: {e}", arg.name))?;
        if let Some(d) = &arg.default {
            if !ty.accepts(d) {
                return Err(format!(
                    "argument `{}`: the default `{}` is not a `{}`",
                    arg.name,
                    default_text(d),
                    arg.ty
                ));
            }
        }
        types.push(ty);
    }
    Ok((parsed, types))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
        assert_eq!(s.args[2].default, Some(DefaultValue::Int(1)));
        assert_eq!(s.signature(), "Tensor self, Tensor other, Scalar alpha=1");
        let s = parse("aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)").unwrap();
        assert_eq!(s.returns, vec!["Tensor", "Tensor"]);
        let s = parse("aten::relu_(Tensor(a!) self) -> Tensor(a!)").unwrap();
        assert_eq!(s.qualified_name(), "aten::relu_.default");
        assert_eq!(s.args[0].ty, "Tensor");
        let s = parse("aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1) -> Tensor").unwrap();
        assert_eq!(s.args[3].default, Some(DefaultValue::IntList(vec![1, 1])));
        assert!(parse("relu(Tensor self) -> Tensor").is_err());
        assert!(parse("a::b) -> (Tensor").is_err());
    }

    #[test]
    fn typed_parse_rejects_unknown_types_and_misfit_defaults() {
        let (_, types) = parse_typed(
            "aten::index.Tensor(Tensor self, Tensor?[] indices, int[2]? s=None) -> Tensor",
        )
        .unwrap();
        assert!(types[1].optional_elements && types[1].list == Some(None));
        assert_eq!(types[2].list, Some(Some(2)));
        assert!(types[2].optional);
        let err = parse_typed("aten::f(Tensr self) -> Tensor").unwrap_err();
        assert_eq!(
            err,
            "argument `self`: unknown argument type `Tensr` in `Tensr`"
        );
        let err = parse_typed("aten::f(Tensor self, bool b=0.5) -> Tensor").unwrap_err();
        assert_eq!(err, "argument `b`: the default `0.5` is not a `bool`");
        let err = parse_typed("aten::f(Tensor self, int n=None) -> Tensor").unwrap_err();
        assert_eq!(err, "argument `n`: the default `None` is not a `int`");
        assert!(parse_typed("aten::f(Tensor self, Tensor self) -> Tensor").is_err());
        assert!(parse_typed("aten::f(float x=1, Scalar y=True, str s='tanh') -> Tensor").is_ok());
    }
}
