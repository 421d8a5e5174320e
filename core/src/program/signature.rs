//! `ExportGraphSignature`: what each graph input and output is.

use std::fmt;

/// What a graph input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum InputKind {
    UserInput,
    Parameter,
    Buffer,
    ConstantTensor,
}

impl InputKind {
    /// PyTorch's spelling (`PARAMETER`).
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::UserInput => "USER_INPUT",
            InputKind::Parameter => "PARAMETER",
            InputKind::Buffer => "BUFFER",
            InputKind::ConstantTensor => "CONSTANT_TENSOR",
        }
    }
}

/// What a graph output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OutputKind {
    UserOutput,
    BufferMutation,
    UserInputMutation,
}

impl OutputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::UserOutput => "USER_OUTPUT",
            OutputKind::BufferMutation => "BUFFER_MUTATION",
            OutputKind::UserInputMutation => "USER_INPUT_MUTATION",
        }
    }
}

/// A non-tensor value that was specialised into the program.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ConstantValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
}

impl fmt::Display for ConstantValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstantValue::Int(v) => write!(f, "{v}"),
            ConstantValue::Float(v) => write!(f, "{v}"),
            ConstantValue::Bool(v) => write!(f, "{v}"),
            ConstantValue::Str(v) => write!(f, "{v:?}"),
            ConstantValue::None => write!(f, "None"),
        }
    }
}

/// The value an input or output spec refers to.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ArgumentSpec {
    /// A tensor node of the graph.
    Tensor { name: String },
    /// A size node (symbolic) or a size output.
    SymInt { name: String },
    /// A value fixed at export time.
    Constant { name: String, value: ConstantValue },
}

impl ArgumentSpec {
    pub fn name(&self) -> &str {
        match self {
            ArgumentSpec::Tensor { name }
            | ArgumentSpec::SymInt { name }
            | ArgumentSpec::Constant { name, .. } => name,
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputSpec {
    pub kind: InputKind,
    pub arg: ArgumentSpec,
    /// The state-dict or constants key, for parameters, buffers and constants.
    pub target: Option<String>,
    /// For buffers: whether the buffer is saved in the state dict.
    pub persistent: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputSpec {
    pub kind: OutputKind,
    pub arg: ArgumentSpec,
    /// The mutated buffer (state-dict key) or user input (its name).
    pub target: Option<String>,
}

/// The inputs and outputs of an exported graph and what each one is.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportGraphSignature {
    pub input_specs: Vec<InputSpec>,
    pub output_specs: Vec<OutputSpec>,
}

impl ExportGraphSignature {
    /// The user inputs, in order.
    pub fn user_inputs(&self) -> impl Iterator<Item = &InputSpec> {
        self.input_specs
            .iter()
            .filter(|s| s.kind == InputKind::UserInput)
    }

    /// The names of the parameter inputs.
    pub fn parameters(&self) -> Vec<&str> {
        self.targets(InputKind::Parameter)
    }

    /// The names of the buffer inputs.
    pub fn buffers(&self) -> Vec<&str> {
        self.targets(InputKind::Buffer)
    }

    fn targets(&self, kind: InputKind) -> Vec<&str> {
        self.input_specs
            .iter()
            .filter(|s| s.kind == kind)
            .filter_map(|s| s.target.as_deref())
            .collect()
    }
}

impl fmt::Display for ExportGraphSignature {
    /// PyTorch's layout:
    /// ```text
    /// # inputs
    /// p_lin_weight: PARAMETER target='lin.weight'
    /// x: USER_INPUT
    ///
    /// # outputs
    /// relu: USER_OUTPUT
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# inputs")?;
        for s in &self.input_specs {
            write!(f, "{}: {}", s.arg.name(), s.kind.as_str())?;
            if let Some(t) = &s.target {
                write!(f, " target='{t}'")?;
            }
            if let Some(p) = s.persistent {
                write!(f, " persistent={}", if p { "True" } else { "False" })?;
            }
            if let ArgumentSpec::Constant { value, .. } = &s.arg {
                write!(f, " value={value}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        writeln!(f, "# outputs")?;
        for s in &self.output_specs {
            write!(f, "{}: {}", s.arg.name(), s.kind.as_str())?;
            if let Some(t) = &s.target {
                write!(f, " target='{t}'")?;
            }
            if let ArgumentSpec::Constant { value, .. } = &s.arg {
                write!(f, " value={value}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
