//! `Layer` (a module with a one-tensor forward, usable as `Box<dyn Layer>`) and
//! `Sequential`.

use crate::module::{Forward, Module, ModuleVisitor, SourceLine};
use crate::tensor::Tensor;

/// A module whose forward maps one tensor to one tensor. Every `#[export_module]` type
/// with `fn forward(&self, x: &Tensor) -> Tensor` is a `Layer`, so layers can be boxed
/// and chained (`Sequential`).
pub trait Layer: Module {
    fn forward_layer(&self, x: &Tensor) -> Tensor;
}

impl<M: Forward<Args = (Tensor,), Output = Tensor>> Layer for M {
    #[track_caller]
    fn forward_layer(&self, x: &Tensor) -> Tensor {
        self.forward_args((x.clone(),))
    }
}

/// Layers applied in order; parameters are named by position (`0.weight`), as in
/// PyTorch's `nn.Sequential`.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Layer>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer (builder style).
    pub fn append(mut self, layer: impl Layer + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed layer.
    pub fn push(&mut self, layer: Box<dyn Layer>) {
        self.layers.push(layer);
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer at `index`.
    pub fn get(&self, index: usize) -> Option<&dyn Layer> {
        self.layers.get(index).map(|b| b.as_ref())
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward_layer(&h);
        }
        h
    }
}

impl Module for Sequential {
    fn visit(&self, v: &mut dyn ModuleVisitor) {
        for (i, layer) in self.layers.iter().enumerate() {
            v.submodule(&i.to_string(), layer.as_ref());
        }
    }

    fn type_name(&self) -> &'static str {
        "Sequential"
    }

    fn source_lines(&self) -> &'static [SourceLine] {
        &[]
    }
}

impl Forward for Sequential {
    type Args = (Tensor,);
    type Output = Tensor;

    fn arg_names(&self) -> &'static [&'static str] {
        &["input"]
    }

    fn forward_args(&self, args: Self::Args) -> Tensor {
        self.forward(&args.0)
    }
}
