//! Custom ops: a schema, a meta function (PyTorch's "fake" implementation: dtype and
//! shape only), and an eager implementation written with tensor methods — registered at
//! run time in the same registry as ATen ops, so they trace, print, decompose, save and
//! run like any other op.
//!
//! ```
//! use ferrex::ops::{custom_op, OpArgs};
//! use ferrex::error::OpError;
//! use ferrex::tensor::TensorMeta;
//! use ferrex::Tensor;
//!
//! fn meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
//!     Ok(vec![args.meta(0)?]) // like `torch.empty_like(x)`
//! }
//! fn implementation(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
//!     Ok(vec![args.tensor(0)?.relu()])
//! }
//!
//! let op = custom_op("docs_example::my_relu(Tensor input) -> Tensor")
//!     .meta(meta)
//!     .implementation(implementation)
//!     .register()?;
//! let y = op.call(&[&Tensor::from_slice(&[-1.0f32, 2.0])]);
//! assert_eq!(y.to_vec::<f32>()?, [0.0, 2.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::panic::Location;

use super::{dispatch, dispatch1, register, DecompFn, MetaFn, OpArgs, OpDef, Value};
use crate::error::{OpError, SourceLocation};
use crate::tensor::{Storage, Tensor};

/// Builds a custom op; see the module docs.
pub struct CustomOpBuilder {
    schema: String,
    meta: Option<MetaFn>,
    implementation: Option<DecompFn>,
    decomposition: Option<DecompFn>,
}

/// Starts a custom op with its schema, `"mylib::op(Tensor x, int n=2) -> Tensor"`.
pub fn custom_op(schema: impl Into<String>) -> CustomOpBuilder {
    CustomOpBuilder {
        schema: schema.into(),
        meta: None,
        implementation: None,
        decomposition: None,
    }
}

/// The eager kernel of every custom op: runs its implementation and returns the data.
pub(crate) fn implementation_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let implementation = args
        .op
        .implementation
        .ok_or_else(|| OpError::new("this custom op has no implementation"))?;
    implementation(args)?
        .iter()
        .map(|t| t.try_storage().map_err(|e| OpError(e.to_string())))
        .collect()
}

impl CustomOpBuilder {
    /// The meta ("fake") function: output dtypes and shapes from the inputs' metas.
    pub fn meta(mut self, f: MetaFn) -> Self {
        self.meta = Some(f);
        self
    }

    /// The eager implementation, written with tensor methods.
    pub fn implementation(mut self, f: DecompFn) -> Self {
        self.implementation = Some(f);
        self
    }

    /// A decomposition into other ops, for `run_decompositions`.
    pub fn decomposition(mut self, f: DecompFn) -> Self {
        self.decomposition = Some(f);
        self
    }

    /// Registers the op. Its schema must parse (with a namespace), its name must be new,
    /// and it needs a meta function and an implementation.
    pub fn register(self) -> Result<&'static OpDef, OpError> {
        let meta = self.meta.ok_or_else(|| {
            OpError(format!(
                "custom op `{}` needs a meta function (.meta(…))",
                self.schema
            ))
        })?;
        let implementation = self.implementation.ok_or_else(|| {
            OpError(format!(
                "custom op `{}` needs an implementation (.implementation(…))",
                self.schema
            ))
        })?;
        // The registry keeps ops for the life of the program, so the schema does too.
        let schema: &'static str = Box::leak(self.schema.into_boxed_str());
        let mut op = OpDef::new(schema, meta, implementation_kernel);
        op.implementation = Some(implementation);
        op.decomposition = self.decomposition;
        register(op)
    }
}

impl OpDef {
    /// Calls the op on tensors (the first output), like `torch.ops.mylib.op(x)`.
    #[track_caller]
    pub fn call(&'static self, inputs: &[&Tensor]) -> Tensor {
        let at = SourceLocation::from_caller(Location::caller());
        dispatch1(
            self,
            inputs.iter().map(|t| Value::Tensor((*t).clone())).collect(),
            at,
        )
    }

    /// Calls the op with any arguments; returns every output.
    #[track_caller]
    pub fn call_with(&'static self, args: Vec<Value>) -> Vec<Tensor> {
        dispatch(self, args, SourceLocation::from_caller(Location::caller()))
    }
}
