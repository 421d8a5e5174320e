//! Dynamic shapes: [`Dim`] names a symbolic size with optional bounds; the same `Dim` on
//! two inputs makes their sizes equal; `&dim * a + b` derives one size from another.
//! [`DynamicShapes`] says which input dims are dynamic (all others are static).

use std::fmt;
use std::ops::{Add, Mul, Sub};

/// A named symbolic size, `Dim("batch", min=2, max=64)` in PyTorch.
///
/// ```
/// use ferrex::Dim;
/// let batch = Dim::new("batch").max(64);
/// let padded = &batch * 2 + 1; // a derived dim: 2*batch + 1
/// assert_eq!(padded.to_string(), "2*batch + 1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dim {
    pub(crate) name: String,
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    /// For a derived dim: `scale * root + offset`.
    pub(crate) derived: Option<Derived>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Derived {
    pub root: Box<Dim>,
    pub scale: i64,
    pub offset: i64,
}

impl Dim {
    /// A dynamic size with no bounds beyond `[0, ∞)`.
    pub fn new(name: impl Into<String>) -> Dim {
        Dim {
            name: name.into(),
            min: None,
            max: None,
            derived: None,
        }
    }

    /// The smallest value allowed (inclusive).
    pub fn min(mut self, min: i64) -> Dim {
        self.min = Some(min);
        self
    }

    /// The largest value allowed (inclusive).
    pub fn max(mut self, max: i64) -> Dim {
        self.max = Some(max);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The root dim and the affine map `(scale, offset)` from it.
    pub(crate) fn root_and_map(&self) -> (&Dim, i64, i64) {
        match &self.derived {
            Some(d) => {
                let (root, a, b) = d.root.root_and_map();
                (
                    root,
                    d.scale.saturating_mul(a),
                    d.scale.saturating_mul(b).saturating_add(d.offset),
                )
            }
            None => (self, 1, 0),
        }
    }

    fn derive(&self, scale: i64, offset: i64) -> Dim {
        let (root, a, b) = self.root_and_map();
        let (scale, offset) = (
            scale.saturating_mul(a),
            scale.saturating_mul(b).saturating_add(offset),
        );
        let mut d = Dim::new(String::new());
        d.derived = Some(Derived {
            root: Box::new(root.clone()),
            scale,
            offset,
        });
        d.name = d.to_string();
        d
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.derived {
            None => write!(f, "{}", self.name),
            Some(d) => {
                if d.scale != 1 {
                    write!(f, "{}*", d.scale)?;
                }
                write!(f, "{}", d.root.name)?;
                match d.offset {
                    0 => Ok(()),
                    o if o > 0 => write!(f, " + {o}"),
                    o => write!(f, " - {}", -o),
                }
            }
        }
    }
}

impl Add<i64> for &Dim {
    type Output = Dim;
    fn add(self, rhs: i64) -> Dim {
        self.derive(1, rhs)
    }
}

impl Add<i64> for Dim {
    type Output = Dim;
    fn add(self, rhs: i64) -> Dim {
        self.derive(1, rhs)
    }
}

impl Sub<i64> for &Dim {
    type Output = Dim;
    fn sub(self, rhs: i64) -> Dim {
        self.derive(1, -rhs)
    }
}

impl Sub<i64> for Dim {
    type Output = Dim;
    fn sub(self, rhs: i64) -> Dim {
        self.derive(1, -rhs)
    }
}

impl Mul<i64> for &Dim {
    type Output = Dim;
    fn mul(self, rhs: i64) -> Dim {
        self.derive(rhs, 0)
    }
}

impl Mul<i64> for Dim {
    type Output = Dim;
    fn mul(self, rhs: i64) -> Dim {
        self.derive(rhs, 0)
    }
}

/// Which input dims are dynamic: `{"x": {0: batch, 1: seq}}` in PyTorch.
///
/// ```
/// use ferrex::{Dim, DynamicShapes};
/// let inner = Dim::new("inner");
/// let shapes = DynamicShapes::new()
///     .input("x", [(0, Dim::new("rows")), (1, inner.clone())])
///     .input("y", [(0, inner), (1, Dim::new("cols"))]);
/// assert_eq!(shapes.dims_of("y").len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct DynamicShapes {
    pub(crate) inputs: Vec<(String, Vec<(usize, Dim)>)>,
}

impl DynamicShapes {
    pub fn new() -> DynamicShapes {
        DynamicShapes::default()
    }

    /// Marks dims of the input named `name` (forward's parameter name, or a flattened
    /// leaf name such as `xs_0`) as dynamic.
    pub fn input(
        mut self,
        name: impl Into<String>,
        dims: impl IntoIterator<Item = (usize, Dim)>,
    ) -> DynamicShapes {
        let name = name.into();
        let dims: Vec<(usize, Dim)> = dims.into_iter().collect();
        match self.inputs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => existing.extend(dims),
            None => self.inputs.push((name, dims)),
        }
        self
    }

    /// The dynamic dims given for one input.
    pub fn dims_of(&self, name: &str) -> &[(usize, Dim)] {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
            .unwrap_or(&[])
    }
}
