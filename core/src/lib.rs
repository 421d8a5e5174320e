//! # ferrex — `torch.export` for Rust
//!
//! Annotate a model with `#[export_module]`; `ferrex::export` traces its `forward` once
//! into an [`ExportedProgram`]: one static, functional graph of ATen-level ops with its
//! signature (parameters, buffers, constants, user inputs, outputs). The program prints
//! like PyTorch's, and runs without the model's source.
//!
//! ```
//! use ferrex::prelude::*;
//!
//! #[export_module]
//! struct MyModule {
//!     lin: nn::Linear,
//! }
//!
//! #[export_module]
//! impl MyModule {
//!     fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
//!         F::relu_(self.lin.forward(&(x + y)))
//!     }
//! }
//!
//! let m = MyModule { lin: nn::Linear::new(100, 10) };
//! let ep = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
//! assert_eq!(
//!     ep.op_targets(),
//!     ["aten::add.Tensor", "aten::linear.default", "aten::relu.default"]
//! );
//! let out = ep.module().call((Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
//! assert_eq!(out[0].shape(), [8, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things live: `tensor` (the [`Tensor`] handle, dtypes, storage), `symbolic`
//! (sizes as [`SymInt`]), `ops` (the op registry: schema, meta, kernel, decomposition),
//! `module` (the traits the macro implements), `trace` (export), `graph` (the IR),
//! `passes`, `program` ([`ExportedProgram`], printing, the interpreter), `nn` (layers),
//! `serialize` (safetensors; [`save`] and [`load`] for whole programs as `.pt2` archives).
//! The compiled fast path is the `ferrex-runtime` crate.

// Generated code names `::ferrex::…`; this makes those paths work inside ferrex itself.
extern crate self as ferrex;

pub mod control_flow;
mod dtype;
pub mod error;
pub mod export;
pub mod graph;
pub mod module;
pub mod nn;
pub mod ops;
pub mod passes;
pub mod program;
pub mod serialize;
pub use ferrex_symbolic as symbolic;
pub mod tensor;
pub mod tensor_api;
pub mod trace;

mod strict;

pub use error::{ExportError, LoadError, RunError, SaveError, SourceLocation, TensorError};
pub use export::{export, Dim, DynamicShapes, Exporter};
pub use ferrex_macros::{export_fn, export_module};
pub use module::{Forward, Module, ModuleExt};
pub use program::{ExportGraphSignature, ExportedProgram};
pub use serialize::pt2::{load, save};
pub use symbolic::{SymBool, SymInt};
pub use tensor::{manual_seed, DType, Tensor};
pub use trace::{assume_constant, check, check_is_size};

/// What a model file needs: `use ferrex::prelude::*;`.
pub mod prelude {
    pub use crate::nn;
    pub use crate::nn::functional as F;
    pub use crate::{export_fn, export_module, DType, Forward, Module, ModuleExt, SymInt, Tensor};
}

/// Support for generated code. Not public API.
#[doc(hidden)]
pub mod __private {
    /// Implemented by the marker that `#[ferrex::export_fn]` puts beside a helper; a strict
    /// `forward` that calls a free function with a tensor requires it (see
    /// `macros/src/analysis/opaque_call.rs`).
    #[diagnostic::on_unimplemented(
        message = "graph break: this function receives a tensor, but it is not a `#[ferrex::export_fn]`",
        label = "strict export cannot see into this call",
        note = "strict export proves forward free of graph breaks by reading its code, and the body of this function is not checked",
        note = "mark the function `#[ferrex::export_fn]` (its body is then checked like forward's), or make it a method of the `#[export_module]` impl block",
        note = "or export with `#[export_module(strict = false)]`, which traces whatever the call runs"
    )]
    pub trait ExportFn {}

    /// Compiles only for the marker of a `#[ferrex::export_fn]`.
    pub const fn assert_export_fn<T: ExportFn + ?Sized>() {}

    pub use crate::strict::*;

    pub use crate::module::{
        visit_buffer, visit_constant, visit_parameter, ModuleVisitor, SourceLine,
    };

    /// Autoref specialisation: a field whose type is a [`crate::Module`] is visited as a
    /// submodule; any other field is configuration and skipped.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    pub trait ViaModule {
        fn __ferrex_visit(&self, name: &str, v: &mut dyn ModuleVisitor);
    }

    impl<T: crate::Module + ?Sized> ViaModule for &Probe<'_, T> {
        fn __ferrex_visit(&self, name: &str, v: &mut dyn ModuleVisitor) {
            v.submodule(name, &ModuleRef(self.0))
        }
    }

    pub trait ViaConfig {
        fn __ferrex_visit(&self, _name: &str, _v: &mut dyn ModuleVisitor) {}
    }

    impl<T: ?Sized> ViaConfig for Probe<'_, T> {}

    /// What a strict body may call methods on besides `self` and tensors: modules (every
    /// `#[export_module]` struct), tensors and their containers, and helper types whose
    /// `impl` is marked `#[ferrex::export_fn]` (which implements it). Methods of anything
    /// else are opaque to strict mode.
    #[diagnostic::on_unimplemented(
        message = "graph break: forward calls an associated function of `{Self}`, a type strict export cannot see into",
        label = "strict export cannot see into the functions of this type",
        note = "strict export proves forward free of graph breaks by reading its code; it reads the functions of modules (`#[export_module]` types) and of `Tensor`, not those of other types",
        note = "mark the type's `impl` block `#[ferrex::export_fn]` (its functions are then checked like forward), or make it an `#[export_module]` module",
        note = "or export with `#[export_module(strict = false)]`, which traces whatever the call runs"
    )]
    pub trait TracedReceiver {}

    /// Compiles only for a type strict mode can see into (`Type::f(..)` in a strict body).
    pub const fn assert_traced_type<T: TracedReceiver + ?Sized>() {}

    impl<T: crate::Module + ?Sized> TracedReceiver for T {}
    impl TracedReceiver for crate::Tensor {}
    impl TracedReceiver for [crate::Tensor] {}
    impl<const N: usize> TracedReceiver for [crate::Tensor; N] {}
    impl TracedReceiver for Vec<crate::Tensor> {}
    impl TracedReceiver for Option<crate::Tensor> {}
    impl TracedReceiver for Option<&crate::Tensor> {}
    impl TracedReceiver for Box<crate::Tensor> {}
    impl<T: TracedReceiver + ?Sized> TracedReceiver for std::rc::Rc<T> {}
    impl<T: TracedReceiver + ?Sized> TracedReceiver for std::sync::Arc<T> {}
    /// A custom op (`op.call(&[x])`) is a ferrex op: recorded, not run, while tracing.
    impl TracedReceiver for crate::ops::OpDef {}

    /// The receiver of a method call that strict mode could not identify by syntax,
    /// checked by type (autoref specialisation through up to two references):
    /// `require_receiver((&&&ReceiverProbe(&recv)).__ferrex_receiver())`.
    pub struct ReceiverProbe<'a, T: ?Sized>(pub &'a T);

    impl<T: ?Sized> Clone for ReceiverProbe<'_, T> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<T: ?Sized> Copy for ReceiverProbe<'_, T> {}

    /// A receiver strict mode can see into.
    pub struct IsReceiver;

    /// A receiver of type `T` whose methods strict mode cannot see into.
    pub struct OpaqueReceiver<T: ?Sized>(core::marker::PhantomData<T>);

    pub trait ViaReceiver {
        fn __ferrex_receiver(&self) -> IsReceiver {
            IsReceiver
        }
    }

    impl<T: TracedReceiver + ?Sized> ViaReceiver for &&ReceiverProbe<'_, T> {}

    pub trait ViaRefReceiver {
        fn __ferrex_receiver(&self) -> IsReceiver {
            IsReceiver
        }
    }

    impl<T: TracedReceiver + ?Sized> ViaRefReceiver for &ReceiverProbe<'_, &T> {}

    pub trait ViaRefRefReceiver {
        fn __ferrex_receiver(&self) -> IsReceiver {
            IsReceiver
        }
    }

    impl<T: TracedReceiver + ?Sized> ViaRefRefReceiver for ReceiverProbe<'_, &&T> {}

    pub trait NoReceiver<T: ?Sized> {
        fn __ferrex_receiver(self) -> OpaqueReceiver<T>;
    }

    impl<T: ?Sized> NoReceiver<T> for ReceiverProbe<'_, T> {
        fn __ferrex_receiver(self) -> OpaqueReceiver<T> {
            OpaqueReceiver(core::marker::PhantomData)
        }
    }

    #[diagnostic::on_unimplemented(
        message = "graph break: a method of a type strict export cannot see into receives a tensor (`{Self}`)",
        label = "strict export cannot see into the methods of this value",
        note = "strict export proves forward free of graph breaks by reading its code; it reads the methods of modules (`#[export_module]` types) and of tensors, not those of other types",
        note = "mark the helper type's `impl` block `#[ferrex::export_fn]` (its methods are then checked like forward's), or make it an `#[export_module]` submodule",
        note = "or export with `#[export_module(strict = false)]`, which traces whatever the call runs"
    )]
    pub trait ReceiverCheck {}

    impl ReceiverCheck for IsReceiver {}

    /// Compiles only for a receiver strict mode can see into.
    pub fn require_receiver<K: ReceiverCheck>(_: K) {}

    /// `recv.to_vec()` on a receiver strict mode could not identify: autoref
    /// specialisation picks `TensorData` when `recv` is a tensor (through up to two
    /// references), which `require_not_tensor` rejects.
    pub struct DataProbe<'a, T: ?Sized>(pub &'a T);

    impl<T: ?Sized> Clone for DataProbe<'_, T> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<T: ?Sized> Copy for DataProbe<'_, T> {}

    /// A read of a tensor's data.
    pub struct TensorData;

    /// A method of something else than a tensor.
    pub struct NotTensorData;

    pub trait ViaTensor {
        fn __ferrex_data(&self) -> TensorData {
            TensorData
        }
    }

    impl ViaTensor for &&DataProbe<'_, crate::Tensor> {}

    pub trait ViaRefTensor {
        fn __ferrex_data(&self) -> TensorData {
            TensorData
        }
    }

    impl ViaRefTensor for &DataProbe<'_, &crate::Tensor> {}

    pub trait ViaRefRefTensor {
        fn __ferrex_data(&self) -> TensorData {
            TensorData
        }
    }

    impl ViaRefRefTensor for DataProbe<'_, &&crate::Tensor> {}

    pub trait NotTensor {
        fn __ferrex_data(self) -> NotTensorData;
    }

    impl<T: ?Sized> NotTensor for DataProbe<'_, T> {
        fn __ferrex_data(self) -> NotTensorData {
            NotTensorData
        }
    }

    #[diagnostic::on_unimplemented(
        message = "graph break: this reads the data of a tensor",
        label = "a tensor of the model: while exporting it has a dtype and a shape but no values",
        note = "keep it a tensor and compute with tensor ops (`+`, `.mul(..)`, `.gt(..)`): they are recorded in the graph",
        note = "for a size, use `.size(d)` or `.dim()`: sizes are known while exporting",
        note = "or export with `#[export_module(strict = false)]`, which reports the read at export time"
    )]
    pub trait NotTensorCheck {}

    impl NotTensorCheck for NotTensorData {}

    /// Compiles only when the receiver of a data read is not a tensor.
    pub fn require_not_tensor<K: NotTensorCheck>(_: K) {}

    #[diagnostic::on_unimplemented(
        message = "graph break: this method of a tensor is not ferrex's",
        label = "a tensor: this method comes from a trait of another crate or of this one, whose body strict export cannot see into",
        note = "strict export proves forward free of graph breaks by reading its code; it knows the methods of ferrex's `Tensor`, not those extension traits add",
        note = "make the method a free function marked `#[ferrex::export_fn]`: its body is then checked too",
        note = "or export with `#[export_module(strict = false)]`, which traces whatever the method runs"
    )]
    pub trait FerrexMethodCheck {}

    impl FerrexMethodCheck for NotTensorData {}

    /// Compiles only when the receiver of a method outside `Tensor`'s is not a tensor.
    pub fn require_ferrex_method<K: FerrexMethodCheck>(_: K) {}

    /// Autoref specialisation: a copy of forward's arguments when they are `Clone`, for
    /// strict mode's second trace; `None` otherwise.
    pub struct CloneProbe<'a, T>(pub &'a T);

    pub trait ViaClone<T> {
        fn __ferrex_clone(&self) -> Option<T>;
    }

    impl<T: Clone> ViaClone<T> for &CloneProbe<'_, T> {
        fn __ferrex_clone(&self) -> Option<T> {
            Some(self.0.clone())
        }
    }

    pub trait NoClone<T> {
        fn __ferrex_clone(&self) -> Option<T> {
            None
        }
    }

    impl<T> NoClone<T> for CloneProbe<'_, T> {}

    /// Lets an unsized module be passed as `&dyn Module`.
    struct ModuleRef<'a, T: ?Sized>(&'a T);

    impl<T: crate::Module + ?Sized> crate::Module for ModuleRef<'_, T> {
        fn visit(&self, v: &mut dyn ModuleVisitor) {
            self.0.visit(v)
        }
        fn type_name(&self) -> &'static str {
            self.0.type_name()
        }
        fn source_lines(&self) -> &'static [SourceLine] {
            self.0.source_lines()
        }
    }

    /// Source lines of a type's annotated impl block, implemented by `#[export_module]`
    /// on the impl.
    pub trait HasSources {
        const SOURCES: &'static [SourceLine];
    }

    /// Autoref specialisation over [`HasSources`], for the struct's `Module` impl, which
    /// cannot know whether the impl block is annotated.
    pub struct SourceProbe<T: ?Sized>(pub core::marker::PhantomData<T>);

    pub trait ViaSources {
        fn __ferrex_sources(&self) -> &'static [SourceLine];
    }

    impl<T: HasSources + ?Sized> ViaSources for &SourceProbe<T> {
        fn __ferrex_sources(&self) -> &'static [SourceLine] {
            T::SOURCES
        }
    }

    pub trait NoSources {
        fn __ferrex_sources(&self) -> &'static [SourceLine] {
            &[]
        }
    }

    impl<T: ?Sized> NoSources for SourceProbe<T> {}
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
