//! [`ExportedProgram`]: the graph, its signature, the model's state, range constraints;
//! printed by `Display`, run by [`ExportedProgram::module`].

mod batch_split;
mod decompose;
pub(crate) mod display;
mod run;
mod signature;
mod split_policy;
pub(crate) mod validate;

pub use decompose::DecompositionTable;
pub use run::{storages_of, Bindings, CheckedInputs, ExportedModule};
pub use signature::{
    ArgumentSpec, ConstantValue, ExportGraphSignature, InputKind, InputSpec, OutputKind, OutputSpec,
};
pub use split_policy::{
    batch_halves, first_batch, half_inputs, run_halves, BatchSplit, SplitPolicy, SplitProduct,
};

use std::collections::HashMap;
use std::fmt;

use crate::graph::Graph;
use crate::module::SourceLine;
use crate::symbolic::{Expr, Guard, ShapeEnv};
use crate::tensor::Tensor;
use crate::trace::AssumedConstant;

/// Tensors by name, in insertion order (a state dict, or the constants).
#[derive(Clone, Default)]
pub struct TensorMap {
    entries: Vec<(String, Tensor)>,
    /// Each name's place in `entries`: every call's input check looks each parameter
    /// up (a scan of 200 names was two fifths of a 100-layer MLP's compiled call).
    index: HashMap<String, usize>,
}

// The entries alone: the index is derived from them, and its order is not fixed.
impl fmt::Debug for TensorMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorMap")
            .field("entries", &self.entries)
            .finish()
    }
}

impl TensorMap {
    pub fn insert(&mut self, name: String, t: Tensor) {
        match self.index.get(&name).and_then(|&i| self.entries.get_mut(i)) {
            Some(e) => e.1 = t,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, t));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        let &i = self.index.get(name)?;
        self.entries.get(i).map(|(_, t)| t)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The values a symbol (or derived size) may take: `VR[lower, upper]`, `None` = `int_oo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRange {
    pub lower: i64,
    pub upper: Option<i64>,
}

impl ValueRange {
    pub fn contains(&self, v: i64) -> bool {
        v >= self.lower && self.upper.is_none_or(|u| v <= u)
    }
}

impl fmt::Display for ValueRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.upper {
            // An unbacked value without a lower bound (`x.sym_item()` unchecked).
            Some(u) if self.lower == i64::MIN => write!(f, "VR[-int_oo, {u}]"),
            None if self.lower == i64::MIN => write!(f, "VR[-int_oo, int_oo]"),
            Some(u) => write!(f, "VR[{}, {u}]", self.lower),
            None => write!(f, "VR[{}, int_oo]", self.lower),
        }
    }
}

/// The ranges of the program's symbolic sizes.
#[derive(Clone, Debug, Default)]
pub struct RangeConstraints {
    pub entries: Vec<(Expr, ValueRange)>,
}

impl fmt::Display for RangeConstraints {
    /// `{s0: VR[0, int_oo], s1: VR[4, 18]}`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")?;
        for (i, (e, r)) in self.entries.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{e}: {r}")?;
        }
        write!(f, "}}")
    }
}

/// A model captured as one functional graph of ATen-level ops, with everything needed to
/// run it without the model's source.
#[derive(Clone, Debug)]
pub struct ExportedProgram {
    graph: Graph,
    signature: ExportGraphSignature,
    state_dict: TensorMap,
    constants: TensorMap,
    range_constraints: RangeConstraints,
    guards: Vec<Guard>,
    shape_env: ShapeEnv,
    sources: Vec<SourceLine>,
    arg_names: Vec<String>,
    model_name: String,
    assumed_constants: Vec<AssumedConstant>,
    /// Held for the whole of a call that writes buffers back, so that concurrent calls
    /// of a mutating program do not lose updates (calls that mutate nothing run in
    /// parallel). Clones share the state, and so the lock.
    state_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// What the interpreter computes once per program (`ep.module()` is a handle on it).
    interpreter: run::InterpreterCache,
}

impl ExportedProgram {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        graph: Graph,
        signature: ExportGraphSignature,
        state_dict: TensorMap,
        constants: TensorMap,
        range_constraints: RangeConstraints,
        guards: Vec<Guard>,
        shape_env: ShapeEnv,
        sources: Vec<SourceLine>,
        arg_names: Vec<String>,
        model_name: String,
    ) -> ExportedProgram {
        ExportedProgram {
            graph,
            signature,
            state_dict,
            constants,
            range_constraints,
            guards,
            shape_env,
            sources,
            arg_names,
            model_name,
            assumed_constants: Vec::new(),
            state_lock: Default::default(),
            interpreter: Default::default(),
        }
    }

    /// The program with the values `ferrex::assume_constant` computed at export.
    pub(crate) fn with_assumed_constants(mut self, values: Vec<AssumedConstant>) -> Self {
        self.assumed_constants = values;
        self
    }

    /// The values `ferrex::assume_constant` computed from the example inputs while
    /// exporting, which the program holds as constants (PyTorch's
    /// `assume_constant_result`): valid only for inputs that give the same values.
    pub fn assumed_constants(&self) -> &[AssumedConstant] {
        &self.assumed_constants
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// What each graph input and output is.
    pub fn graph_signature(&self) -> &ExportGraphSignature {
        &self.signature
    }

    /// Parameters and persistent buffers, by their dotted names.
    pub fn state_dict(&self) -> &TensorMap {
        &self.state_dict
    }

    /// Constant tensors (constant fields, lifted constants, non-persistent buffers).
    pub fn constants(&self) -> &TensorMap {
        &self.constants
    }

    /// The ranges of the symbolic sizes.
    pub fn range_constraints(&self) -> &RangeConstraints {
        &self.range_constraints
    }

    /// The size guards the program checks when it runs, beyond the range constraints.
    pub fn guards(&self) -> &[Guard] {
        &self.guards
    }

    /// The size symbols: their `Dim`s, ranges and the input dims they come from.
    pub fn shape_env(&self) -> &ShapeEnv {
        &self.shape_env
    }

    /// The name of the exported model's type.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The names of forward's parameters.
    pub fn arg_names(&self) -> &[String] {
        &self.arg_names
    }

    /// The op targets of the call nodes, in order (`aten::add.Tensor`,
    /// `aten::sym_size.int`, …): the `torch.ops` targets of PyTorch's print. SymInt
    /// arithmetic and comparisons (`_operator.add`, printed `sym_size_int + 1`) are not
    /// among them, as in PyTorch's.
    pub fn op_targets(&self) -> Vec<String> {
        self.graph
            .nodes
            .iter()
            .filter_map(|n| n.op())
            .filter(|op| {
                !matches!(
                    crate::ops::sym::sym_op(op),
                    Some(crate::ops::sym::SymOp::Arith(_) | crate::ops::sym::SymOp::Compare(_))
                )
            })
            .map(|op| op.name())
            .collect()
    }

    /// A callable that runs the program with the eager kernels (the reference
    /// interpreter), checking inputs against the program first.
    pub fn module(&self) -> ExportedModule<'_> {
        ExportedModule::new(self)
    }

    /// The source lines of the model's annotated impls (for the printed comments).
    pub(crate) fn sources(&self) -> &[SourceLine] {
        &self.sources
    }

    pub(crate) fn source_line(&self, file: &str, line: u32) -> Option<&SourceLine> {
        self.sources
            .iter()
            .find(|l| l.file == file && l.line == line)
    }
}
