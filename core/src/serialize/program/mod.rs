//! ferrex's earlier program format (1.x), still read by [`load`] / [`from_bytes`], which
//! send PyTorch archives (what [`crate::save`] writes now) to [`crate::serialize::pt2`].
//! The 1.x layout follows PyTorch's `.pt2`
//! archive: a zip file holding
//!
//! | entry | content |
//! |---|---|
//! | `archive_format` | `pt2` |
//! | `byteorder` | `little` |
//! | `models/model.json` | the program: graph (nodes, arguments, tensor metas, subgraphs), signature, range constraints, guards, shape environment, source lines, model and argument names, format version |
//! | `data/weights/model.safetensors` | the state dict (parameters, persistent buffers) |
//! | `data/constants/model.safetensors` | the constants (constant tensors, non-persistent buffers) |
//!
//! The graph JSON follows the schema of `torch._export.serde.schema`: a node has a
//! `target` (`aten::add.Tensor`), `inputs` as arguments named by the op's schema
//! (`{"name": "self", "arg": {"as_tensor": {"name": "x"}}}`), `outputs`, and `metadata`
//! with a `stack_trace`; `tensor_values` maps each value to its dtype (PyTorch's
//! `ScalarType` codes) and sizes, symbolic ones as expressions with their example value
//! (`{"as_expr": {"expr_str": "s0 + 1", "hint": {"as_int": 9}}}`). ferrex's own
//! additions: every node carries its `name`; `getitem` projections are nodes
//! (`_operator.getitem`); `cond` nodes (`higher_order::cond`) name their branches and
//! `map` nodes (`higher_order::map_impl`) their body, which are listed in the graph's
//! `subgraphs`; integer arguments may be size expressions.
//!
//! The format is versioned (`schema_version`): a file whose major version is newer than
//! [`FORMAT_VERSION`] is refused with [`LoadError::NewerVersion`]; newer minor versions
//! only add information and load. Ops are looked up in the registry by name, so a
//! program calling a custom op loads once that op is registered
//! ([`LoadError::UnknownOp`] otherwise). A damaged file is a [`LoadError::Program`]
//! naming the entry and what is wrong — never a panic.
//!
//! ```
//! use ferrex::prelude::*;
//!
//! #[export_module]
//! struct Scale {
//!     #[buffer]
//!     factor: Tensor,
//! }
//!
//! #[export_module]
//! impl Scale {
//!     fn forward(&self, x: &Tensor) -> Tensor {
//!         (x * &self.factor).relu()
//!     }
//! }
//!
//! let ep = ferrex::export(&Scale { factor: Tensor::full([3], 2.0) }, (Tensor::randn([2, 3]),))?;
//! let path = std::env::temp_dir().join(format!("scale-{}.pt2", std::process::id()));
//! ferrex::save(&ep, &path)?;
//! let loaded = ferrex::load(&path)?; // no `Scale` needed from here on
//! assert_eq!(loaded.to_string(), ep.to_string());
//! let x = Tensor::randn([2, 3]);
//! let (a, b) = (ep.module().call((x.copy(),))?, loaded.module().call((x,))?);
//! assert_eq!(a[0].to_vec::<f32>()?, b[0].to_vec::<f32>()?);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::control_flow::lookup_higher_order;
use crate::error::{LoadError, SaveError, SourceLocation};
use crate::graph::{Arg, Graph, HigherOrderOp, HopParam, Node, NodeId, NodeKind, Subgraph};
use crate::ops::{lookup, Value};
use crate::program::{
    ArgumentSpec, ConstantValue, ExportGraphSignature, ExportedProgram, InputKind, InputSpec,
    OutputKind, OutputSpec, RangeConstraints, TensorMap, ValueRange,
};
use crate::symbolic::{parse_expr, CmpOp, Expr, Guard, ShapeEnv, SymInt};
use crate::tensor::{DType, Tensor, TensorMeta};

/// The program format version this ferrex writes: `(major, minor)`.
pub const FORMAT_VERSION: (u32, u32) = (1, 0);

mod archive;
mod load;
mod save;
mod schema;
#[cfg(test)]
mod tests;

pub use archive::{from_bytes, load};
pub use save::{save, to_bytes};

use archive::*;
use load::*;
use save::*;
use schema::*;

// Shared with the reader of PyTorch's own archives (`serialize::pt2`).
pub(crate) use schema::{dtype_of, intern};

/// A schema default as a graph argument (for inputs a file leaves out).
pub(crate) fn default_arg(v: &Value) -> Option<Arg> {
    Loader::default_arg(v)
}

const MODEL_JSON: &str = "models/model.json";
const WEIGHTS: &str = "data/weights/model.safetensors";
const CONSTANTS: &str = "data/constants/model.safetensors";
const GETITEM: &str = "_operator.getitem";
