//! Loading a program and running it with either runner.

use std::path::Path;

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::program::{ArgumentSpec, ConstantValue, ExportedProgram, OutputKind};
use ferrex::Tensor;
use ferrex_runtime::CompiledProgram;

use crate::{CliError, RunnerKind};

/// Reads a program archive.
pub fn load_program(path: &Path) -> Result<ExportedProgram, CliError> {
    if !path.exists() {
        return Err(CliError::new(format!("no such file: {}", path.display())));
    }
    Ok(ferrex::load(path)?)
}

/// A program ready to run with one of the two runners.
pub enum Runner {
    Interpreter(Box<ExportedProgram>),
    Compiled(Box<CompiledProgram>),
}

impl Runner {
    pub fn new(ep: ExportedProgram, kind: RunnerKind) -> Result<Runner, CliError> {
        Ok(match kind {
            RunnerKind::Interpreter => Runner::Interpreter(Box::new(ep)),
            RunnerKind::Compiled => Runner::Compiled(Box::new(ferrex_runtime::compile(&ep)?)),
        })
    }

    pub fn program(&self) -> &ExportedProgram {
        match self {
            Runner::Interpreter(ep) => ep,
            Runner::Compiled(c) => c.program(),
        }
    }

    /// Runs one call on the user inputs, in order.
    pub fn call(&self, leaves: &[InputLeaf]) -> Result<Vec<Tensor>, CliError> {
        Ok(match self {
            Runner::Interpreter(ep) => ep.module().call_flat(leaves)?,
            Runner::Compiled(c) => c.call_flat(leaves)?,
        })
    }
}

/// The program's user inputs, in order: `(name, the constant it was exported with)`.
pub fn user_inputs(ep: &ExportedProgram) -> Vec<(String, Option<ConstantValue>)> {
    ep.graph_signature()
        .user_inputs()
        .map(|spec| match &spec.arg {
            ArgumentSpec::Constant { name, value } => (name.clone(), Some(value.clone())),
            other => (other.name().to_string(), None),
        })
        .collect()
}

/// The call's leaves: tensors from the inputs file, constants as exported.
pub fn leaves(
    ep: &ExportedProgram,
    tensors: &mut dyn FnMut(usize, &str) -> Result<Tensor, CliError>,
) -> Result<Vec<InputLeaf>, CliError> {
    user_inputs(ep)
        .into_iter()
        .enumerate()
        .map(|(i, (name, constant))| {
            let value = match constant {
                Some(c) => constant_leaf(c),
                None => LeafValue::Tensor(tensors(i, &name)?),
            };
            Ok(InputLeaf { path: name, value })
        })
        .collect()
}

fn constant_leaf(c: ConstantValue) -> LeafValue {
    match c {
        ConstantValue::Int(v) => LeafValue::Int(v),
        ConstantValue::Float(v) => LeafValue::Float(v),
        ConstantValue::Bool(v) => LeafValue::Bool(v),
        ConstantValue::Str(v) => LeafValue::Str(v),
        ConstantValue::None => LeafValue::None,
    }
}

/// After a call: the mutated buffers and inputs, in signature order, named
/// (`buffer calls`, `input x`). Mutated inputs are read from the leaves the call wrote
/// them into.
pub fn mutations(
    ep: &ExportedProgram,
    leaves: &[InputLeaf],
) -> Result<Vec<(String, Tensor)>, CliError> {
    let mut out = Vec::new();
    for spec in &ep.graph_signature().output_specs {
        let target = spec.target.as_deref().unwrap_or_default();
        let found = match spec.kind {
            OutputKind::UserOutput => continue,
            OutputKind::BufferMutation => ep
                .state_dict()
                .get(target)
                .or_else(|| ep.constants().get(target))
                .map(|t| (format!("buffer {target}"), t.clone())),
            OutputKind::UserInputMutation => {
                leaves
                    .iter()
                    .find(|l| l.path == target)
                    .and_then(|l| match &l.value {
                        LeafValue::Tensor(t) => Some((format!("input {target}"), t.clone())),
                        _ => None,
                    })
            }
        };
        let found = found.ok_or_else(|| {
            CliError::new(format!(
                "the program mutates `{target}`, which is not one of its buffers or inputs"
            ))
        })?;
        out.push(found);
    }
    Ok(out)
}
