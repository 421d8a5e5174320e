//! What a value is, as far as syntax tells: the lattice the walker computes for every
//! binding and expression.

use syn::{GenericArgument, PathArguments, Type};

/// What an expression evaluates to, for the graph-break rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not a tensor and not derived from tensor data: literals, config, sizes.
    Plain,
    /// Unknown: a field of `self` or of a struct input, a closure parameter. Could be a
    /// tensor, a submodule or configuration; only unmistakable uses of it are judged.
    Maybe,
    /// The model itself (`self`).
    Module,
    /// A container of tensors: `Option<&Tensor>`, `Vec<Tensor>`, a tuple holding tensors.
    Tensors,
    /// A container of tensors being enumerated: its items are `(index, tensor)`.
    Enumerated,
    /// An item of [`Kind::Enumerated`]: `(index, tensor)`.
    EnumItem,
    /// A symbolic value read from tensor data (`x.sym_item()`, PyTorch's unbacked `u0`)
    /// or computed from one (`a + 1`, `a.sym_le(5)`): usable as a size or an op
    /// argument and checked with `ferrex::check`; comparing or converting it to a plain
    /// value gives [`Kind::Data`], which no branch may depend on.
    Sym,
    /// A tensor.
    Tensor,
    /// A value computed from the elements of a tensor (`x.item()`, `x.to_vec()`), or
    /// from such a value. Known at run time only.
    Data,
}

impl Kind {
    fn rank(self) -> u8 {
        match self {
            Kind::Plain => 0,
            Kind::Module => 1,
            Kind::Maybe => 2,
            Kind::EnumItem => 3,
            Kind::Enumerated => 4,
            Kind::Tensors => 5,
            Kind::Sym => 6,
            Kind::Tensor => 7,
            Kind::Data => 8,
        }
    }

    /// The kind of a value that may be either (the arms of an `if` or `match`).
    pub fn join(self, other: Kind) -> Kind {
        if self.rank() >= other.rank() {
            self
        } else {
            other
        }
    }

    /// The kind of `a ⊕ b` for an arithmetic operator: a tensor operand makes a tensor.
    pub fn arith(self, other: Kind) -> Kind {
        if self.is_tensor() || other.is_tensor() {
            Kind::Tensor
        } else {
            self.join(other)
        }
    }

    /// The kind of a comparison `a < b`: a bool, data-dependent if an operand is.
    pub fn compare(self, other: Kind) -> Kind {
        let data = |k: Kind| k.is_data_like() || k == Kind::Sym;
        if data(self) || data(other) {
            Kind::Data
        } else {
            Kind::Plain
        }
    }

    pub fn is_tensor(self) -> bool {
        self == Kind::Tensor
    }

    /// A tensor or a container of tensors: what makes a call receive a tensor.
    pub fn holds_tensor(self) -> bool {
        matches!(
            self,
            Kind::Tensor | Kind::Tensors | Kind::Enumerated | Kind::EnumItem
        )
    }

    /// A tensor, or a value computed from tensor data: what a branch must not depend on.
    pub fn is_data_like(self) -> bool {
        matches!(self, Kind::Tensor | Kind::Data)
    }

    /// The kind of the items of a container of this kind (`for v in c`, `c[i]`).
    pub fn item(self) -> Kind {
        match self {
            Kind::Tensors | Kind::Tensor => Kind::Tensor,
            Kind::Enumerated => Kind::EnumItem,
            Kind::Module => Kind::Maybe,
            other => other,
        }
    }

    /// The kind of a container whose items have this kind (`c.map(|t| …)`).
    pub fn container(self) -> Kind {
        match self {
            Kind::Tensor | Kind::Tensors | Kind::EnumItem => Kind::Tensors,
            Kind::Module => Kind::Maybe,
            other => other,
        }
    }
}

fn generic_args(args: &PathArguments) -> Vec<&Type> {
    match args {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

const PLAIN_TYPES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "str", "String", "SymInt", "DType", "Duration", "Ordering",
];

/// The kind of a value of a declared type (parameters, `let x: T`, return types).
pub fn of_type(ty: &Type) -> Kind {
    match ty {
        Type::Reference(r) => of_type(&r.elem),
        Type::Paren(p) => of_type(&p.elem),
        Type::Group(g) => of_type(&g.elem),
        Type::Slice(s) => of_type(&s.elem).container(),
        Type::Array(a) => of_type(&a.elem).container(),
        Type::Tuple(t) => t
            .elems
            .iter()
            .map(|e| of_type(e).container())
            .fold(Kind::Plain, Kind::join),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return Kind::Maybe;
            };
            let name = last.ident.to_string();
            let inner = generic_args(&last.arguments);
            match name.as_str() {
                "Tensor" => Kind::Tensor,
                "Box" | "Rc" | "Arc" | "Cow" => inner.first().map_or(Kind::Maybe, |t| of_type(t)),
                "Option" | "Vec" | "VecDeque" | "Result" | "HashMap" | "BTreeMap" | "IndexMap" => {
                    inner
                        .iter()
                        .map(|t| of_type(t).container())
                        .fold(Kind::Plain, Kind::join)
                }
                n if PLAIN_TYPES.contains(&n) => Kind::Plain,
                _ => Kind::Maybe,
            }
        }
        // Callables, pointers, `_`: nothing the rules look at.
        _ => Kind::Plain,
    }
}

/// Whether a declared type is a type of the user's (or another crate's) that strict mode
/// knows nothing about (`Gain`, `&Opts`): not a tensor, not a plain or std type, not
/// `Self`. A value of one has its methods checked by type.
pub fn is_user_type(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_user_type(&r.elem),
        Type::Paren(p) => is_user_type(&p.elem),
        Type::Group(g) => is_user_type(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let name = last.ident.to_string();
            name != "Self"
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && of_type(ty) == Kind::Maybe
                && !matches!(
                    name.as_str(),
                    "Box"
                        | "Rc"
                        | "Arc"
                        | "Cow"
                        | "Option"
                        | "Vec"
                        | "HashMap"
                        | "BTreeMap"
                        | "HashSet"
                        | "BTreeSet"
                        | "VecDeque"
                        | "Range"
                        | "Module"
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ty: &str) -> Kind {
        of_type(&syn::parse_str(ty).expect("a type"))
    }

    #[test]
    fn tensor_types() {
        assert_eq!(kind("&Tensor"), Kind::Tensor);
        assert_eq!(kind("ferrex::Tensor"), Kind::Tensor);
        assert_eq!(kind("Option<&Tensor>"), Kind::Tensors);
        assert_eq!(kind("&[Tensor]"), Kind::Tensors);
        assert_eq!(kind("(Tensor, usize)"), Kind::Tensors);
        assert_eq!(kind("usize"), Kind::Plain);
        assert_eq!(kind("Option<f64>"), Kind::Plain);
        assert_eq!(kind("&MyInputs"), Kind::Maybe);
    }
}
