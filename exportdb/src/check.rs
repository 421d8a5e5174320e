//! Running a case: export it, then run the exported program and the eager model on the
//! same inputs and compare their outputs and the inputs they mutate.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ferrex::module::{InputLeaf, LeafValue, OutputLeaf, Outputs};
use ferrex::{DType, DynamicShapes, ExportError, ExportedProgram, Exporter, Forward, RunError};
use ferrex::{SymInt, Tensor};

/// How far an exported output may be from the eager one: `|a - b| <= TOLERANCE *
/// max(1, |b|)`.
pub const TOLERANCE: f64 = 1e-5;

/// What running a case gives: the exported program, or why there is none.
pub type Outcome = Result<Exported, Failure>;

/// A case that exported, with the comparisons made against the eager model.
#[derive(Debug)]
pub struct Exported {
    pub program: ExportedProgram,
    /// One comparison per set of inputs the case was checked on (the example inputs
    /// first).
    pub checks: Vec<EagerCheck>,
}

/// The exported program and the eager model run on the same inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct EagerCheck {
    /// The inputs, described by their shapes (`x: [3, 2]`).
    pub inputs: String,
    /// The number of values compared (outputs and mutated inputs).
    pub values: usize,
    /// The largest absolute difference between exported and eager values.
    pub max_abs_diff: f64,
}

/// Why a case has no exported program, or why its program is wrong.
#[derive(Debug)]
pub enum Failure {
    /// Strict export rejects the code at compile time with this diagnostic.
    CompileTime { diagnostic: &'static str },
    /// `ferrex::export` returned an error.
    Export(ExportError),
    /// The exported program failed to run.
    Run { inputs: String, error: RunError },
    /// The exported program and the eager model disagree.
    Mismatch { inputs: String, detail: String },
    /// The case could not be set up (a custom op failed to register).
    Setup(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::CompileTime { diagnostic } => f.write_str(diagnostic.trim_end()),
            Failure::Export(e) => write!(f, "{e}"),
            Failure::Run { inputs, error } => {
                write!(f, "the exported program failed on {inputs}: {error}")
            }
            Failure::Mismatch { inputs, detail } => {
                write!(
                    f,
                    "the exported program disagrees with the eager model on {inputs}: {detail}"
                )
            }
            Failure::Setup(message) => write!(f, "the case could not be set up: {message}"),
        }
    }
}

impl std::error::Error for Failure {}

/// A copy of a value whose tensors have their own data (`Tensor::clone` aliases), so
/// that the eager model and the exported program each get inputs they may mutate.
pub trait DeepCopy {
    fn deep_copy(&self) -> Self;
}

impl DeepCopy for Tensor {
    fn deep_copy(&self) -> Self {
        self.copy()
    }
}

macro_rules! plain_copy {
    ($($t:ty),*) => {$(
        impl DeepCopy for $t {
            fn deep_copy(&self) -> Self {
                self.clone()
            }
        }
    )*};
}

plain_copy!(i64, i32, usize, f64, f32, bool, String);

impl<T: DeepCopy> DeepCopy for Option<T> {
    fn deep_copy(&self) -> Self {
        self.as_ref().map(T::deep_copy)
    }
}

impl<T: DeepCopy> DeepCopy for Vec<T> {
    fn deep_copy(&self) -> Self {
        self.iter().map(T::deep_copy).collect()
    }
}

impl<T: DeepCopy> DeepCopy for BTreeMap<String, T> {
    fn deep_copy(&self) -> Self {
        self.iter()
            .map(|(k, v)| (k.clone(), v.deep_copy()))
            .collect()
    }
}

impl<T: DeepCopy> DeepCopy for HashMap<String, T> {
    fn deep_copy(&self) -> Self {
        self.iter()
            .map(|(k, v)| (k.clone(), v.deep_copy()))
            .collect()
    }
}

macro_rules! tuple_copy {
    ($( ($($name:ident $idx:tt),*) )*) => {$(
        impl<$($name: DeepCopy),*> DeepCopy for ($($name,)*) {
            fn deep_copy(&self) -> Self {
                ($(self.$idx.deep_copy(),)*)
            }
        }
    )*};
}

tuple_copy! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}

/// A supported case: exports `model` with `example` (and `dynamic_shapes`), then checks
/// the program against the eager model on `example` and on each of `more`.
pub fn export_and_compare<M>(
    model: &M,
    example: M::Args,
    dynamic_shapes: Option<DynamicShapes>,
    more: Vec<M::Args>,
) -> Outcome
where
    M: Forward,
    M::Args: DeepCopy + Clone,
{
    let program = export(model, example.deep_copy(), dynamic_shapes)?;
    let mut checks = Vec::new();
    for inputs in std::iter::once(example).chain(more) {
        checks.push(compare(model, &program, &inputs)?);
    }
    Ok(Exported { program, checks })
}

/// A case rejected at export time: the export, whose error is the outcome.
pub fn export_only<M: Forward>(
    model: &M,
    example: M::Args,
    dynamic_shapes: Option<DynamicShapes>,
) -> Outcome {
    let program = export(model, example, dynamic_shapes)?;
    Ok(Exported {
        program,
        checks: Vec::new(),
    })
}

fn export<M: Forward>(
    model: &M,
    example: M::Args,
    dynamic_shapes: Option<DynamicShapes>,
) -> Result<ExportedProgram, Failure> {
    let mut exporter = Exporter::new(model, example);
    if let Some(shapes) = dynamic_shapes {
        exporter = exporter.dynamic_shapes(shapes);
    }
    exporter.run().map_err(Failure::Export)
}

/// Runs the eager model and the program on copies of `inputs`; compares the outputs
/// and the inputs afterwards (a mutated input must be mutated alike).
pub fn compare<M>(
    model: &M,
    program: &ExportedProgram,
    inputs: &M::Args,
) -> Result<EagerCheck, Failure>
where
    M: Forward,
    M::Args: DeepCopy + Clone,
{
    let described = describe(&program.flatten_inputs(inputs.clone()));
    let mismatch = |detail: String| Failure::Mismatch {
        inputs: described.clone(),
        detail,
    };

    let eager_inputs = inputs.deep_copy();
    let eager_output = model.forward_args(eager_inputs.clone());
    let mut eager_leaves = Vec::new();
    eager_output.flatten_outputs(&mut eager_leaves);

    let exported_inputs = inputs.deep_copy();
    let exported_output = program
        .module()
        .call(exported_inputs.clone())
        .map_err(|error| Failure::Run {
            inputs: described.clone(),
            error,
        })?;

    if eager_leaves.len() != exported_output.len() {
        return Err(mismatch(format!(
            "the eager model returns {} values, the program {}",
            eager_leaves.len(),
            exported_output.len()
        )));
    }
    let mut diff = MaxDiff::default();
    for (i, (eager, exported)) in eager_leaves.iter().zip(&exported_output).enumerate() {
        let what = format!("output {i}");
        match eager {
            OutputLeaf::Tensor(t) => diff.tensors(&what, exported, t).map_err(&mismatch)?,
            OutputLeaf::Size(s) => diff.size(&what, exported, s).map_err(&mismatch)?,
            OutputLeaf::Float(v) => diff.scalar(&what, exported, *v).map_err(&mismatch)?,
            OutputLeaf::Bool(b) => diff
                .scalar(&what, exported, f64::from(u8::from(*b)))
                .map_err(&mismatch)?,
            OutputLeaf::None => {}
        }
    }

    let eager_after = program.flatten_inputs(eager_inputs);
    let exported_after = program.flatten_inputs(exported_inputs);
    for (eager, exported) in eager_after.iter().zip(&exported_after) {
        if let (LeafValue::Tensor(e), LeafValue::Tensor(x)) = (&eager.value, &exported.value) {
            diff.tensors(&format!("input `{}` after the call", eager.path), x, e)
                .map_err(&mismatch)?;
        }
    }
    Ok(EagerCheck {
        inputs: described,
        values: diff.values,
        max_abs_diff: diff.max,
    })
}

/// `x: [3, 2], y: None`.
fn describe(leaves: &[InputLeaf]) -> String {
    let parts: Vec<String> = leaves
        .iter()
        .map(|l| match &l.value {
            LeafValue::Tensor(t) => format!("{}: {} {:?}", l.path, t.dtype(), t.shape()),
            other => format!("{}: {}", l.path, other.describe()),
        })
        .collect();
    parts.join(", ")
}

#[derive(Default)]
struct MaxDiff {
    values: usize,
    max: f64,
}

impl MaxDiff {
    fn tensors(&mut self, what: &str, exported: &Tensor, eager: &Tensor) -> Result<(), String> {
        if exported.shape() != eager.shape() {
            return Err(format!(
                "{what}: shape {:?} (exported) vs {:?} (eager)",
                exported.shape(),
                eager.shape()
            ));
        }
        if exported.dtype() != eager.dtype() {
            return Err(format!(
                "{what}: dtype {} (exported) vs {} (eager)",
                exported.dtype(),
                eager.dtype()
            ));
        }
        let values = |t: &Tensor| {
            t.to_dtype(DType::F64)
                .to_vec::<f64>()
                .map_err(|e| format!("{what}: {e}"))
        };
        let (a, b) = (values(exported)?, values(eager)?);
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            self.value(&format!("{what}, element {k}"), *x, *y)?;
        }
        Ok(())
    }

    fn size(&mut self, what: &str, exported: &Tensor, eager: &SymInt) -> Result<(), String> {
        let got = exported
            .to_dtype(DType::I64)
            .item::<i64>()
            .map_err(|e| format!("{what}: {e}"))?;
        self.values += 1;
        if got != eager.hint() {
            return Err(format!("{what}: {got} (exported) vs {eager} (eager)"));
        }
        Ok(())
    }

    fn scalar(&mut self, what: &str, exported: &Tensor, eager: f64) -> Result<(), String> {
        let got = exported
            .to_dtype(DType::F64)
            .item::<f64>()
            .map_err(|e| format!("{what}: {e}"))?;
        self.value(what, got, eager)
    }

    fn value(&mut self, what: &str, exported: f64, eager: f64) -> Result<(), String> {
        self.values += 1;
        let same_special =
            exported.to_bits() == eager.to_bits() || (exported.is_nan() && eager.is_nan());
        if same_special {
            return Ok(());
        }
        let d = (exported - eager).abs();
        if d.is_nan() || d > TOLERANCE * eager.abs().max(1.0) {
            return Err(format!("{what}: {exported} (exported) vs {eager} (eager)"));
        }
        self.max = self.max.max(d);
        Ok(())
    }
}

/// The outcome of a case rejected at compile time: its diagnostic.
pub fn rejected_at_compile_time(diagnostic: &'static str) -> Outcome {
    Err(Failure::CompileTime { diagnostic })
}
