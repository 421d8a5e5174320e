//! Flattening forward's inputs and outputs into leaves, named after forward's
//! parameters (`x`, `xs_0`, `cfg_scale`), as PyTorch's pytree does.

use std::collections::{BTreeMap, HashMap};

use crate::symbolic::SymInt;
use crate::tensor::Tensor;

/// A leaf of an input tree.
#[derive(Clone, Debug)]
pub enum LeafValue {
    Tensor(Tensor),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// An absent optional input.
    None,
}

impl LeafValue {
    pub fn describe(&self) -> String {
        match self {
            LeafValue::Tensor(_) => "a tensor".into(),
            LeafValue::Int(v) => format!("the int {v}"),
            LeafValue::Float(v) => format!("the float {v}"),
            LeafValue::Bool(v) => format!("the bool {v}"),
            LeafValue::Str(v) => format!("the string {v:?}"),
            LeafValue::None => "None".into(),
        }
    }
}

/// A named leaf of an input tree.
#[derive(Clone, Debug)]
pub struct InputLeaf {
    pub path: String,
    pub value: LeafValue,
}

/// An input tree: tensors, numbers, and containers of them.
pub trait Inputs {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>);
}

fn leaf(out: &mut Vec<InputLeaf>, path: &str, value: LeafValue) {
    out.push(InputLeaf {
        path: path.to_string(),
        value,
    })
}

impl Inputs for Tensor {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        leaf(out, path, LeafValue::Tensor(self.clone()))
    }
}

impl<T: Inputs + ?Sized> Inputs for &T {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        (**self).flatten_into(path, out)
    }
}

macro_rules! scalar_inputs {
    ($($t:ty => $variant:ident as $conv:ty),*) => {$(
        impl Inputs for $t {
            fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
                leaf(out, path, LeafValue::$variant(*self as $conv))
            }
        }
    )*};
}

scalar_inputs!(i64 => Int as i64, i32 => Int as i64, usize => Int as i64, f64 => Float as f64, f32 => Float as f64);

impl Inputs for bool {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        leaf(out, path, LeafValue::Bool(*self))
    }
}

impl Inputs for String {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        leaf(out, path, LeafValue::Str(self.clone()))
    }
}

impl Inputs for str {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        leaf(out, path, LeafValue::Str(self.to_string()))
    }
}

impl<T: Inputs> Inputs for Option<T> {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        match self {
            Some(v) => v.flatten_into(path, out),
            None => leaf(out, path, LeafValue::None),
        }
    }
}

impl<T: Inputs> Inputs for Vec<T> {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        for (i, v) in self.iter().enumerate() {
            v.flatten_into(&format!("{path}_{i}"), out)
        }
    }
}

impl<T: Inputs, const N: usize> Inputs for [T; N] {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        for (i, v) in self.iter().enumerate() {
            v.flatten_into(&format!("{path}_{i}"), out)
        }
    }
}

impl<T: Inputs> Inputs for BTreeMap<String, T> {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        for (k, v) in self {
            v.flatten_into(&format!("{path}_{k}"), out)
        }
    }
}

impl<T: Inputs> Inputs for HashMap<String, T> {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        let mut keys: Vec<&String> = self.keys().collect();
        keys.sort();
        for k in keys {
            self[k].flatten_into(&format!("{path}_{k}"), out)
        }
    }
}

/// Forward's arguments: a tuple whose elements are named by forward's parameter names.
pub trait ForwardArgs {
    fn flatten_named(&self, names: &[&str], out: &mut Vec<InputLeaf>);
}

macro_rules! tuples {
    ($( ($($name:ident $idx:tt),*) )*) => {$(
        impl<$($name: Inputs),*> Inputs for ($($name,)*) {
            #[allow(unused_variables)]
            fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
                $( self.$idx.flatten_into(&format!("{path}_{}", $idx), out); )*
            }
        }
        impl<$($name: Inputs),*> ForwardArgs for ($($name,)*) {
            #[allow(unused_variables)]
            fn flatten_named(&self, names: &[&str], out: &mut Vec<InputLeaf>) {
                $(
                    let name = names.get($idx).map(|s| s.to_string()).unwrap_or_else(|| format!("arg{}", $idx));
                    self.$idx.flatten_into(&name, out);
                )*
            }
        }
    )*};
}

tuples! {
    ()
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// A leaf of forward's output.
#[derive(Clone, Debug)]
pub enum OutputLeaf {
    Tensor(Tensor),
    /// A size returned as an output (symbolic while tracing).
    Size(SymInt),
    Float(f64),
    Bool(bool),
    None,
}

/// What forward returns: tensors, sizes, and containers of them.
pub trait Outputs {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>);
}

impl Outputs for Tensor {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        out.push(OutputLeaf::Tensor(self.clone()))
    }
}

impl Outputs for SymInt {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        out.push(OutputLeaf::Size(self.clone()))
    }
}

impl Outputs for i64 {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        out.push(OutputLeaf::Size(SymInt::Int(*self)))
    }
}

impl Outputs for usize {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        out.push(OutputLeaf::Size(SymInt::Int(*self as i64)))
    }
}

impl Outputs for f64 {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        out.push(OutputLeaf::Float(*self))
    }
}

impl Outputs for bool {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        out.push(OutputLeaf::Bool(*self))
    }
}

impl<T: Outputs> Outputs for Option<T> {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        match self {
            Some(v) => v.flatten_outputs(out),
            None => out.push(OutputLeaf::None),
        }
    }
}

impl<T: Outputs> Outputs for Vec<T> {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        self.iter().for_each(|v| v.flatten_outputs(out))
    }
}

impl<T: Outputs, const N: usize> Outputs for [T; N] {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        self.iter().for_each(|v| v.flatten_outputs(out))
    }
}

impl<T: Outputs> Outputs for BTreeMap<String, T> {
    fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
        self.values().for_each(|v| v.flatten_outputs(out))
    }
}

macro_rules! output_tuples {
    ($( ($($name:ident $idx:tt),*) )*) => {$(
        impl<$($name: Outputs),*> Outputs for ($($name,)*) {
            #[allow(unused_variables)]
            fn flatten_outputs(&self, out: &mut Vec<OutputLeaf>) {
                $( self.$idx.flatten_outputs(out); )*
            }
        }
    )*};
}

output_tuples! {
    ()
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}
