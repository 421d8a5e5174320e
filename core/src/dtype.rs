//! Element types and PyTorch's type-promotion rules.

use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    /// `torch.uint8`: images as they are stored, `torch.eye`'s core-IR `arange`.
    U8,
    I32,
    I64,
    F32,
    F64,
}

/// The three promotion categories of PyTorch: a higher category always wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Bool,
    Integral,
    Floating,
}

impl DType {
    /// The short name used in printed graphs (`f32[8, 100]`), as PyTorch prints it
    /// except that bool is `bool` rather than `b8`.
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Parses the short name (`"f32"`, `"i64"`, `"bool"`, …).
    pub fn from_short_name(s: &str) -> Option<DType> {
        Some(match s {
            "bool" | "b8" => DType::Bool,
            "u8" => DType::U8,
            "i32" => DType::I32,
            "i64" => DType::I64,
            "f32" => DType::F32,
            "f64" => DType::F64,
            _ => return None,
        })
    }

    /// The promotion category.
    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::U8 | DType::I32 | DType::I64 => Category::Integral,
            DType::F32 | DType::F64 => Category::Floating,
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        self.category() == Category::Floating
    }

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool | DType::U8 => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// The promoted type of two dtypes of equal priority (`torch.promote_types`).
    pub fn promote(self, other: DType) -> DType {
        // The enum is declared in promotion order, so the larger one wins.
        self.max(other)
    }

    /// The default floating type (`torch.get_default_dtype()`).
    pub const DEFAULT_FLOAT: DType = DType::F32;
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// One participant in type promotion: a dimensioned tensor, a zero-dim tensor, or a
/// plain number ("wrapped scalar"), in PyTorch's order of priority.
#[derive(Clone, Copy, Debug)]
pub enum PromotionOperand {
    Tensor { dtype: DType, rank: usize },
    Scalar(ScalarKind),
}

/// The kind of a plain number passed where a tensor may stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    Bool,
    Int,
    Float,
}

impl ScalarKind {
    fn default_dtype(self) -> DType {
        match self {
            ScalarKind::Bool => DType::Bool,
            ScalarKind::Int => DType::I64,
            ScalarKind::Float => DType::DEFAULT_FLOAT,
        }
    }
}

/// `torch.result_type` over several operands: dimensioned tensors take priority over
/// zero-dim tensors, which take priority over plain numbers, unless a lower-priority
/// operand is of a higher category (int tensor + float scalar → default float).
pub fn result_type(operands: &[PromotionOperand]) -> DType {
    let mut groups: [Option<DType>; 3] = [None; 3];
    for op in operands {
        let (slot, dtype) = match *op {
            PromotionOperand::Tensor { dtype, rank } if rank > 0 => (0, dtype),
            PromotionOperand::Tensor { dtype, .. } => (1, dtype),
            PromotionOperand::Scalar(kind) => (2, kind.default_dtype()),
        };
        groups[slot] = Some(match groups[slot] {
            Some(d) => d.promote(dtype),
            None => dtype,
        });
    }
    let mut result: Option<DType> = None;
    for d in groups.into_iter().flatten() {
        result = Some(match result {
            None => d,
            Some(r) if d.category() > r.category() => d,
            Some(r) => r,
        });
    }
    result.unwrap_or(DType::DEFAULT_FLOAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_pytorch() {
        use PromotionOperand::*;
        let t = |dtype, rank| Tensor { dtype, rank };
        assert_eq!(
            result_type(&[t(DType::I64, 2), Scalar(ScalarKind::Float)]),
            DType::F32
        );
        assert_eq!(
            result_type(&[t(DType::F64, 2), Scalar(ScalarKind::Float)]),
            DType::F64
        );
        assert_eq!(
            result_type(&[t(DType::F32, 2), t(DType::F64, 0)]),
            DType::F32
        );
        assert_eq!(
            result_type(&[t(DType::I32, 2), t(DType::F64, 0)]),
            DType::F64
        );
        assert_eq!(
            result_type(&[t(DType::I32, 2), t(DType::I64, 1)]),
            DType::I64
        );
        assert_eq!(
            result_type(&[t(DType::Bool, 1), Scalar(ScalarKind::Int)]),
            DType::I64
        );
        // uint8 keeps its type against numbers and bools, gives way to wider integers.
        assert_eq!(
            result_type(&[t(DType::U8, 2), Scalar(ScalarKind::Int)]),
            DType::U8
        );
        assert_eq!(
            result_type(&[t(DType::U8, 2), t(DType::Bool, 2)]),
            DType::U8
        );
        assert_eq!(
            result_type(&[t(DType::U8, 2), t(DType::I32, 1)]),
            DType::I32
        );
        assert_eq!(
            result_type(&[t(DType::U8, 2), Scalar(ScalarKind::Float)]),
            DType::F32
        );
    }
}
