//! Errors, one type per stage: [`TensorError`] for an op applied to tensors (eager or
//! traced), [`ExportError`] for `ferrex::export`, [`RunError`] for running an exported
//! program. Each message is a sentence a user can act on.

use std::fmt;

/// The environment variable that switches on ferrex's log of symbols and guards
/// (`FERREX_LOG="+dynamic"`), named in constraint errors.
pub const LOG_SWITCH: &str = "FERREX_LOG";

/// Where in the user's source an op was called (from `#[track_caller]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceLocation {
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
}

impl SourceLocation {
    /// Where a node with no recorded source (a loaded or decomposed graph's) is said to be.
    pub const GRAPH: SourceLocation = SourceLocation {
        file: "<graph>",
        line: 0,
        column: 0,
    };

    pub fn from_caller(loc: &'static std::panic::Location<'static>) -> SourceLocation {
        SourceLocation {
            file: loc.file(),
            line: loc.line(),
            column: loc.column(),
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What an op's meta function or kernel reports: the reason, without the op or place
/// (the dispatcher adds those).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

impl OpError {
    pub fn new(msg: impl Into<String>) -> OpError {
        OpError(msg.into())
    }
}

/// Returns early with an [`OpError`] built from a format string.
#[macro_export]
#[doc(hidden)]
macro_rules! op_bail {
    ($($t:tt)*) => { return Err($crate::error::OpError(format!($($t)*))) };
}

/// An error from applying ops to tensors.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// An op rejected its arguments (shapes, dtypes, values).
    #[error("{op} at {at}: {message}")]
    Op {
        op: String,
        message: String,
        at: SourceLocation,
    },
    /// Tensor data was read while tracing, where only shapes and dtypes are known.
    #[error(
        "{access} at {at} reads the data of a traced tensor; during export only its dtype and \
         shape are known. Express the computation with tensor ops (or `cond!` for a branch)"
    )]
    DataDependent {
        access: &'static str,
        at: SourceLocation,
    },
    /// A traced tensor outlived its export, or came from another one.
    #[error("{at}: a traced tensor is used outside the `ferrex::export` call that created it")]
    StaleTrace { at: SourceLocation },
    /// An op's result would not fit in memory: its size overflows, exceeds
    /// `FERREX_MEMORY_LIMIT` (default: the machine's memory), or the allocator refused it.
    #[error("{op} at {at}: {error}")]
    OutOfMemory {
        op: String,
        error: Box<ferrex_kernels::AllocError>,
        at: SourceLocation,
    },
    /// Data given to a constructor does not fit the requested shape.
    #[error("{what}: {message}")]
    Construct { what: &'static str, message: String },
    /// A tensor's data was requested as another element type.
    #[error("{at}: the tensor holds {actual}, not {requested}")]
    DTypeMismatch {
        requested: crate::dtype::DType,
        actual: crate::dtype::DType,
        at: SourceLocation,
    },
}

/// An error from `ferrex::export`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// An op failed while tracing `forward`.
    #[error("export failed while tracing forward: {0}")]
    Op(TensorError),
    /// `forward` read tensor data, branched on it, or otherwise needed a value that only
    /// exists at run time.
    #[error(
        "export failed: {access} reads tensor data at {location}{code}\n  \
             the exported graph cannot depend on values known only at run time; \
             use tensor ops, or `cond!` for a data-dependent branch"
    )]
    DataDependent {
        access: &'static str,
        location: SourceLocation,
        code: CodeSnippet,
    },
    /// A comparison on a value read from tensor data (an unbacked symbol, `u0`) that its
    /// known range does not decide: PyTorch's `GuardOnDataDependentSymNode`.
    #[error("export failed: Could not guard on data-dependent expression {0}")]
    GuardOnDataDependent(Box<DataDependentValue>),
    /// A value read from tensor data was converted to a plain integer.
    #[error(
        "export failed: Could not extract specialized integer from data-dependent expression {0}"
    )]
    DataDependentInt(Box<DataDependentValue>),
    /// `forward` panicked while tracing.
    #[error("export failed: forward panicked while tracing: {0}")]
    Panicked(String),
    /// `ferrex::export` was called while another export was tracing on this thread.
    #[error("export failed: ferrex::export was called inside the forward of another export")]
    Nested,
    /// A parameter was mutated in forward; parameters are read-only in an exported program.
    #[error(
        "export failed: forward mutates parameter `{0}`; only buffers and inputs may be mutated"
    )]
    ParameterMutated(String),
    /// A tensor appears twice among the inputs and model state.
    #[error("export failed: `{0}` and `{1}` are the same tensor; pass distinct tensors")]
    AliasedInputs(String, String),
    /// A model tensor was not an eager tensor when export started.
    #[error("export failed: `{name}` is not a plain tensor: {reason}")]
    BadState { name: String, reason: String },
    /// forward returned something that is not a traced tensor or a size.
    #[error("export failed: output {index} of forward is {what}; outputs must be tensors computed by forward or sizes")]
    BadOutput { index: usize, what: String },
    /// The guards the trace needed do not hold for every size the dynamic shapes allow.
    #[error("{}", constraint_violation_text(.dims, .violations, .fixes))]
    ConstraintViolation {
        dims: Vec<String>,
        violations: Vec<String>,
        /// Suggested `Dim` declarations, in Rust.
        fixes: Vec<String>,
    },
    /// The dynamic-shapes specification does not fit the inputs.
    #[error("export failed: {0}")]
    DynamicShapes(String),
    /// Strict mode's second trace of `forward` gave a different program: forward reads
    /// something besides its inputs and the model's state (a global, a counter behind a
    /// helper), whose value would be frozen into the graph.
    #[error(
        "export failed: forward is not a pure function of its inputs and state: traced twice, \
         it gave two different programs ({what}){}{code}\n  \
         a value read while tracing is frozen into the graph; keep state in a `#[buffer]` \
         (updated with in-place ops) or pass it as an input",
        location.map(|l| format!(" at {l}")).unwrap_or_default()
    )]
    Impure {
        location: Option<SourceLocation>,
        code: CodeSnippet,
        what: String,
    },
    /// The exported graph failed verification (a bug in ferrex: please report it).
    #[error("export failed: the exported graph is invalid: {0}")]
    Verify(String),
}

/// What an export error about a value read from tensor data reports: the expression, the
/// size-like symbols, where it was needed, where its symbols came from and the fix.
#[derive(Debug)]
pub struct DataDependentValue {
    pub expr: String,
    pub size_like: Vec<String>,
    pub location: SourceLocation,
    pub code: CodeSnippet,
    /// Where each symbol came from, and the suggested fix.
    pub detail: Vec<String>,
}

impl fmt::Display for DataDependentValue {
    /// `u0 < 3 (unhinted: u0 < 3).  (Size-like symbols: none)` and the lines after it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (unhinted: {}).  (Size-like symbols: {})\n  at {}{}{}",
            self.expr,
            self.expr,
            size_like_text(&self.size_like),
            self.location,
            self.code,
            detail_text(&self.detail)
        )
    }
}

fn size_like_text(symbols: &[String]) -> String {
    if symbols.is_empty() {
        "none".to_string()
    } else {
        symbols.join(", ")
    }
}

fn detail_text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n  {l}")).collect()
}

fn constraint_violation_text(dims: &[String], violations: &[String], fixes: &[String]) -> String {
    // PyTorch's words, with ferrex's switch for the log of each guard and its line.
    let mut out = format!(
        "Constraints violated ({})! For more information, run with {}=\"+dynamic\".",
        dims.join(", "),
        LOG_SWITCH
    );
    for v in violations {
        out.push_str(&format!("\n  - {v}"));
    }
    if !fixes.is_empty() {
        out.push_str("\nSuggested fixes:");
        for f in fixes {
            out.push_str(&format!("\n  {f}"));
        }
    }
    out
}

/// The source text of a line, printed after a location when the model's macro recorded it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeSnippet(pub Option<String>);

impl fmt::Display for CodeSnippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(code) => write!(f, ", code: {code}"),
            None => Ok(()),
        }
    }
}

/// An error from running an exported program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("expected {expected} inputs, got {got}")]
    InputCount { expected: usize, got: usize },
    #[error("input `{name}`: expected a tensor, got {got}")]
    NotATensor { name: String, got: String },
    #[error("input `{name}`: expected {expected}, got {got}")]
    InputValue {
        name: String,
        expected: String,
        got: String,
    },
    #[error("input `{name}`: expected dtype {expected}, got {got}")]
    InputDType {
        name: String,
        expected: crate::dtype::DType,
        got: crate::dtype::DType,
    },
    #[error("input `{name}`: expected {expected} dimensions, got {got}")]
    InputRank {
        name: String,
        expected: usize,
        got: usize,
    },
    /// A static size of an input differs from the exported one; worded as PyTorch's
    /// failed input guard.
    #[error("Guard failed: {name}.size()[{dim}] == {expected}, but got {got}")]
    InputSize {
        name: String,
        dim: usize,
        expected: String,
        got: i64,
    },
    #[error("Guard failed: {guard}, {detail}")]
    Guard { guard: String, detail: String },
    #[error("running the exported program failed at node `{node}`: {source}")]
    Kernel {
        node: String,
        #[source]
        source: TensorError,
    },
    #[error("the exported program is malformed: {0}")]
    Malformed(String),
}

/// An error from saving weights or a program (`ferrex::save`, `save_safetensors`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveError {
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A tensor to save holds no data (traced, or an error).
    #[error("tensor `{name}` cannot be saved: {message}")]
    NotEager { name: String, message: String },
    /// The program holds something the format cannot (yet) hold.
    #[error("the program cannot be saved: {0}")]
    Unsavable(String),
}

/// An error from loading weights or a program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read or write `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid safetensors file: {message}")]
    Format { path: String, message: String },
    #[error("tensor `{name}` has dtype {dtype}, which ferrex does not support (f32, f64, i64, i32, bool)")]
    UnsupportedDType { name: String, dtype: String },
    #[error("tensor `{name}` cannot be saved: {message}")]
    NotEager { name: String, message: String },
    /// A saved program (`ferrex::load`) is damaged or not a ferrex program; `message`
    /// names the entry of the archive and what is wrong in it.
    #[error("`{path}` is not a valid ferrex program: {message}")]
    Program { path: String, message: String },
    /// The program was saved by a newer ferrex, in a format this one cannot read.
    #[error(
        "`{path}` was saved in program format version {found}, but this ferrex reads \
         versions up to {supported}; load it with a newer ferrex"
    )]
    NewerVersion {
        path: String,
        found: String,
        supported: String,
    },
    /// The program calls an op that is not registered in this process.
    #[error("{}", unknown_op_text(.path, .op, .node, .also))]
    UnknownOp {
        path: String,
        op: String,
        node: String,
        /// The program's other unregistered ops, `(target, node)`, one per target.
        also: Vec<(String, String)>,
    },
    /// The program cannot be written in the saved format.
    /// The state dict does not fit the model; every problem is listed.
    #[error("{}", state_dict_mismatch_text(.missing, .unexpected, .mismatched))]
    StateDictMismatch {
        missing: Vec<String>,
        unexpected: Vec<String>,
        /// `(key, the model's meta, the file's meta)`
        mismatched: Vec<(String, String, String)>,
    },
}

impl LoadError {
    pub(crate) fn with_path(self, path: &std::path::Path) -> LoadError {
        match self {
            LoadError::Format { message, .. } => LoadError::Format {
                path: path.display().to_string(),
                message,
            },
            other => other,
        }
    }
}

/// ATen ops missing from the registry are ferrex's limits; other namespaces are
/// custom ops the user registers.
fn unknown_op_text(path: &str, op: &str, node: &str, also: &[(String, String)]) -> String {
    let head = format!("`{path}`: node `{node}` calls `{op}`");
    let mut text = if is_aten(op) {
        format!("{head}, an ATen op that ferrex does not implement yet")
    } else {
        format!(
            "{head}, which is not a registered op; register the custom op \
             (`ferrex::ops::register`) before loading the program"
        )
    };
    if !also.is_empty() {
        let list: Vec<String> = also
            .iter()
            .map(|(op, node)| {
                let kind = if is_aten(op) {
                    "ATen"
                } else if op.starts_with("torch.ops.higher_order.") {
                    "higher-order"
                } else {
                    "custom"
                };
                format!("`{op}` (node `{node}`, {kind})")
            })
            .collect();
        text.push_str(&format!(
            "; {} more op(s) missing: {}",
            also.len(),
            list.join(", ")
        ));
    }
    text
}

fn is_aten(op: &str) -> bool {
    op.starts_with("aten::") || op.starts_with("torch.ops.aten.")
}

fn state_dict_mismatch_text(
    missing: &[String],
    unexpected: &[String],
    mismatched: &[(String, String, String)],
) -> String {
    let mut parts = vec!["Error(s) in loading state_dict:".to_string()];
    if !missing.is_empty() {
        parts.push(format!(
            "  Missing key(s) in state_dict: {}.",
            quote_list(missing)
        ));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "  Unexpected key(s) in state_dict: {}.",
            quote_list(unexpected)
        ));
    }
    for (k, model, file) in mismatched {
        parts.push(format!(
            "  size mismatch for {k}: copying a param with shape {file} from checkpoint, the shape in current model is {model}."
        ));
    }
    parts.join("\n")
}

fn quote_list(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
