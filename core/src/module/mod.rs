//! Modules: the traits `#[export_module]` implements. [`Module`] lists a model's
//! parameters, buffers, constants and submodules; [`Forward`] adapts its `forward` to a
//! tuple of inputs and a tree of outputs; [`Inputs`] and [`Outputs`] flatten those trees
//! into leaves (PyTorch's pytree).

mod io;
mod state;

pub use io::{ForwardArgs, InputLeaf, Inputs, LeafValue, OutputLeaf, Outputs};
pub use state::LoadReport;

use crate::tensor::Tensor;

/// One line of a model's source, recorded by `#[export_module]` for the printed graph's
/// `// File: …, code: …` comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLine {
    pub file: &'static str,
    pub line: u32,
    /// `MyModule::forward`
    pub function: &'static str,
    pub code: &'static str,
}

/// Receives what a module holds, field by field.
pub trait ModuleVisitor {
    fn parameter(&mut self, name: &str, tensor: &Tensor);
    fn buffer(&mut self, name: &str, tensor: &Tensor, persistent: bool);
    fn constant(&mut self, name: &str, tensor: &Tensor);
    fn submodule(&mut self, name: &str, module: &dyn Module);
}

/// A model or layer: what `#[export_module]` on a struct implements.
pub trait Module {
    /// Visits the module's own tensors and submodules, in field order.
    fn visit(&self, visitor: &mut dyn ModuleVisitor);

    /// The type's name, as printed in graph comments (`MyModule`).
    fn type_name(&self) -> &'static str;

    /// The source lines of the module's annotated `impl` block.
    fn source_lines(&self) -> &'static [SourceLine] {
        &[]
    }
}

/// A module whose `forward` can be exported: implemented by `#[export_module]` on the
/// `impl` block that defines `forward`.
pub trait Forward: Module {
    /// The inputs, as a tuple of owned values (`(Tensor, Tensor)` for
    /// `fn forward(&self, x: &Tensor, y: &Tensor)`).
    type Args: ForwardArgs;
    /// What forward returns.
    type Output: Outputs;
    /// The names of forward's parameters, used to name the graph's inputs.
    fn arg_names(&self) -> &'static [&'static str];
    /// Calls forward with the tuple's elements.
    fn forward_args(&self, args: Self::Args) -> Self::Output;
    /// A copy of the arguments for strict mode's second trace (`export/purity.rs`);
    /// `None` skips it (non-strict models, arguments that cannot be cloned).
    #[doc(hidden)]
    fn __ferrex_retrace_args(&self, _args: &Self::Args) -> Option<Self::Args> {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Fields holding tensors

/// A field that holds tensors: `Tensor`, `Option<Tensor>` (an absent bias), `Vec<Tensor>`.
pub trait TensorSlot {
    fn visit_tensors(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor));
}

impl TensorSlot for Tensor {
    fn visit_tensors(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        f(name, self)
    }
}

impl<T: TensorSlot> TensorSlot for Option<T> {
    fn visit_tensors(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        if let Some(t) = self {
            t.visit_tensors(name, f)
        }
    }
}

impl<T: TensorSlot> TensorSlot for Vec<T> {
    fn visit_tensors(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        for (i, t) in self.iter().enumerate() {
            t.visit_tensors(&format!("{name}.{i}"), f)
        }
    }
}

impl<T: TensorSlot, const N: usize> TensorSlot for [T; N] {
    fn visit_tensors(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        for (i, t) in self.iter().enumerate() {
            t.visit_tensors(&format!("{name}.{i}"), f)
        }
    }
}

/// Called by generated code for a `#[param]` field.
pub fn visit_parameter(slot: &dyn TensorSlot, name: &str, v: &mut dyn ModuleVisitor) {
    slot.visit_tensors(name, &mut |n, t| v.parameter(n, t))
}

/// Called by generated code for a `#[buffer]` field.
pub fn visit_buffer(
    slot: &dyn TensorSlot,
    name: &str,
    persistent: bool,
    v: &mut dyn ModuleVisitor,
) {
    slot.visit_tensors(name, &mut |n, t| v.buffer(n, t, persistent))
}

/// Called by generated code for a tensor field without attribute (a constant).
pub fn visit_constant(slot: &dyn TensorSlot, name: &str, v: &mut dyn ModuleVisitor) {
    slot.visit_tensors(name, &mut |n, t| v.constant(n, t))
}

// ---------------------------------------------------------------------------------------
// Containers of modules: `Vec<M>` is PyTorch's ModuleList (`layers.0.weight`);
// `Option<M>` and `Box<M>` are transparent.

impl<M: Module> Module for Vec<M> {
    fn visit(&self, v: &mut dyn ModuleVisitor) {
        for (i, m) in self.iter().enumerate() {
            v.submodule(&i.to_string(), m);
        }
    }
    fn type_name(&self) -> &'static str {
        "ModuleList"
    }
}

impl<M: Module, const N: usize> Module for [M; N] {
    fn visit(&self, v: &mut dyn ModuleVisitor) {
        for (i, m) in self.iter().enumerate() {
            v.submodule(&i.to_string(), m);
        }
    }
    fn type_name(&self) -> &'static str {
        "ModuleList"
    }
}

impl<M: Module> Module for Option<M> {
    fn visit(&self, v: &mut dyn ModuleVisitor) {
        if let Some(m) = self {
            m.visit(v)
        }
    }
    fn type_name(&self) -> &'static str {
        match self {
            Some(m) => m.type_name(),
            None => "None",
        }
    }
    fn source_lines(&self) -> &'static [SourceLine] {
        match self {
            Some(m) => m.source_lines(),
            None => &[],
        }
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn visit(&self, v: &mut dyn ModuleVisitor) {
        (**self).visit(v)
    }
    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
    fn source_lines(&self) -> &'static [SourceLine] {
        (**self).source_lines()
    }
}

// ---------------------------------------------------------------------------------------
// Named access

/// What kind of tensor a module entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    Parameter,
    Buffer { persistent: bool },
    Constant,
}

/// One tensor of a module tree, with its dotted name.
#[derive(Clone, Debug)]
pub struct NamedTensor {
    pub name: String,
    pub kind: StateKind,
    pub tensor: Tensor,
}

/// Walks a module tree, collecting tensors with dotted names and every module's source
/// lines. A tensor reachable twice (tied weights) is listed once, under its first name.
#[derive(Default)]
pub(crate) struct Collector {
    prefix: Vec<String>,
    pub tensors: Vec<NamedTensor>,
    pub sources: Vec<SourceLine>,
}

impl Collector {
    pub fn collect(m: &dyn Module) -> Collector {
        let mut c = Collector::default();
        c.sources.extend_from_slice(m.source_lines());
        m.visit(&mut c);
        c
    }

    fn push(&mut self, name: &str, kind: StateKind, t: &Tensor) {
        if self.tensors.iter().any(|e| e.tensor.same_tensor(t)) {
            return;
        }
        let mut full = self.prefix.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(name);
        self.tensors.push(NamedTensor {
            name: full,
            kind,
            tensor: t.clone(),
        });
    }
}

impl ModuleVisitor for Collector {
    fn parameter(&mut self, name: &str, t: &Tensor) {
        self.push(name, StateKind::Parameter, t)
    }
    fn buffer(&mut self, name: &str, t: &Tensor, persistent: bool) {
        self.push(name, StateKind::Buffer { persistent }, t)
    }
    fn constant(&mut self, name: &str, t: &Tensor) {
        self.push(name, StateKind::Constant, t)
    }
    fn submodule(&mut self, name: &str, m: &dyn Module) {
        for line in m.source_lines() {
            if !self.sources.contains(line) {
                self.sources.push(*line);
            }
        }
        self.prefix.push(name.to_string());
        m.visit(self);
        self.prefix.pop();
    }
}

/// Named access to a module tree's tensors, for every [`Module`].
pub trait ModuleExt: Module {
    /// Parameters with dotted names (`lin.weight`), in field order.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.entries(|k| k == StateKind::Parameter)
    }

    /// Buffers (persistent or not) with dotted names.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.entries(|k| matches!(k, StateKind::Buffer { .. }))
    }

    /// Constant tensors (tensor fields without `#[param]`/`#[buffer]`).
    fn named_constants(&self) -> Vec<(String, Tensor)> {
        self.entries(|k| k == StateKind::Constant)
    }

    /// The parameter called `name` (`"lin.weight"`), PyTorch's `get_parameter`.
    fn get_parameter(&self, name: &str) -> Option<Tensor> {
        self.named_parameters()
            .into_iter()
            .find_map(|(n, t)| (n == name).then_some(t))
    }

    /// The buffer called `name` (`"bn.running_mean"`), PyTorch's `get_buffer`.
    fn get_buffer(&self, name: &str) -> Option<Tensor> {
        self.named_buffers()
            .into_iter()
            .find_map(|(n, t)| (n == name).then_some(t))
    }

    /// Parameters and persistent buffers, as PyTorch's `state_dict()`.
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.entries(|k| {
            matches!(
                k,
                StateKind::Parameter | StateKind::Buffer { persistent: true }
            )
        })
    }

    /// Copies tensors by name into the module (PyTorch's `load_state_dict`). Shapes must
    /// match; with `strict`, missing and unexpected keys are errors too. Nothing is
    /// written unless the whole load succeeds.
    fn load_state_dict(
        &self,
        entries: &[(String, Tensor)],
        strict: bool,
    ) -> Result<LoadReport, crate::error::LoadError> {
        state::load_state_dict(self.as_dyn(), entries, strict)
    }

    /// Loads a safetensors file (as written by `safetensors.torch.save_file(model.state_dict(), path)`).
    fn load_safetensors(
        &self,
        path: impl AsRef<std::path::Path>,
        strict: bool,
    ) -> Result<LoadReport, crate::error::LoadError> {
        state::load_safetensors(self.as_dyn(), path, strict)
    }

    /// Saves the state dict (parameters and persistent buffers) to a safetensors file.
    fn save_safetensors(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::error::SaveError> {
        state::save_safetensors(self.as_dyn(), path)
    }

    #[doc(hidden)]
    fn entries(&self, keep: impl Fn(StateKind) -> bool) -> Vec<(String, Tensor)> {
        let c = Collector::collect(self.as_dyn());
        c.tensors
            .into_iter()
            .filter(|e| keep(e.kind))
            .map(|e| (e.name, e.tensor))
            .collect()
    }

    #[doc(hidden)]
    fn as_dyn(&self) -> &dyn Module;
}

impl<M: Module> ModuleExt for M {
    fn as_dyn(&self) -> &dyn Module {
        self
    }
}
