//! Support for strict mode's generated checks on calls whose body the macro cannot read
//! (`macros/src/analysis/opaque_call.rs`): a free function or an associated function
//! that forward calls without a tensor is trusted when it is marked (`#[ferrex::export_fn]`,
//! or a type strict export can see into), or when what it returns is something the graph
//! records rather than freezes (a tensor, a module, a custom op). Anything else — a number
//! read from a global, a clock, a file — would be frozen into the graph as a constant.
//!
//! The check is autoref specialisation over the call's result, one level per way of being
//! trusted: the answer of `(&&&&CallProbe::<Marker, _>(&value, PhantomData)).__ferrex_call()`
//! must implement `CallCheck`. Each generated check declares, at the call, a trait with
//! ferrex's message naming the call, implemented through the answer's trait here
//! (`macros/src/analysis/opaque_receiver.rs`, `local_check`), so rustc reports that one.

use core::marker::PhantomData;

use super::__private::{ExportFn, TracedReceiver};

/// A level of autoref specialisation: a trait whose one method answers `$out` when the
/// impl for the probe's level applies.
macro_rules! via {
    ($(#[$doc:meta])* $name:ident, $method:ident -> $out:ident) => {
        $(#[$doc])*
        pub trait $name {
            fn $method(&self) -> $out {
                $out
            }
        }
    };
}

/// `Clone` and `Copy` for a probe holding a reference (derive would require `T: Copy`).
macro_rules! copy_probe {
    ($probe:ident < $($p:ident),* >) => {
        impl<$($p: ?Sized),*> Clone for $probe<'_, $($p),*> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($p: ?Sized),*> Copy for $probe<'_, $($p),*> {}
    };
}

/// The result of a call (`&R`) and what marks its callee (`M`: the `export_fn` marker or
/// the fallback type, or the type whose associated function is called).
pub struct CallProbe<'a, M: ?Sized, R: ?Sized>(pub &'a R, pub PhantomData<M>);

copy_probe!(CallProbe<M, R>);

/// A call strict mode trusts.
pub struct KnownCall;

/// A call of an opaque function whose result (`R`) would be frozen into the graph.
pub struct UnknownCall<R: ?Sized>(PhantomData<R>);

/// Values a call may return without being marked: the graph records what is done with
/// them (custom ops, results that carry no value of their own).
pub trait KnownValue {}

impl KnownValue for () {}
impl KnownValue for Option<&crate::ops::OpDef> {}
impl<E> KnownValue for Result<&crate::ops::OpDef, E> {}
impl<E> KnownValue for Result<crate::Tensor, E> {}
impl<E> KnownValue for Result<Vec<crate::Tensor>, E> {}

via!(
    /// The callee is a `#[ferrex::export_fn]`.
    ViaMarkedFn, __ferrex_call -> KnownCall
);

impl<M: ExportFn + ?Sized, R: ?Sized> ViaMarkedFn for &&&CallProbe<'_, M, R> {}

/// The function of `T` named by the hash `H` (`Helper::default`, `Helper::new`): marked
/// when a block strict export read defines it — an inherent block, or a trait impl marked
/// `#[ferrex::export_fn]` (`impl Default for Helper`). `A` is `()` except for the operator
/// traits, whose right-hand side it is (see [`CheckedMethod`]).
pub struct MethodOf<T: ?Sized, const H: u64, A: ?Sized = ()>(PhantomData<T>, PhantomData<A>);

#[diagnostic::do_not_recommend]
impl<T: CheckedMethod<H, A> + ?Sized, const H: u64, A: ?Sized> ExportFn for MethodOf<T, H, A> {}

/// What the graph records rather than freezes: tensors and their containers, modules and
/// custom ops. A call returning one is traced, whoever made it; a helper type's value
/// (`TracedReceiver` through its marked `impl`) is not one: the function that built it
/// must have been read.
pub trait GraphValue {}

impl<T: crate::Module + ?Sized> GraphValue for T {}
impl GraphValue for crate::Tensor {}
impl GraphValue for [crate::Tensor] {}
impl<const N: usize> GraphValue for [crate::Tensor; N] {}
impl GraphValue for Vec<crate::Tensor> {}
impl GraphValue for Option<crate::Tensor> {}
impl GraphValue for Option<&crate::Tensor> {}
impl GraphValue for Box<crate::Tensor> {}
impl<T: GraphValue + ?Sized> GraphValue for std::rc::Rc<T> {}
impl<T: GraphValue + ?Sized> GraphValue for std::sync::Arc<T> {}
impl GraphValue for crate::ops::OpDef {}

via!(
    /// The result is a tensor, a module or a custom op.
    ViaTracedResult, __ferrex_call -> KnownCall
);

impl<M: ?Sized, R: GraphValue + ?Sized> ViaTracedResult for &&CallProbe<'_, M, R> {}

via!(
    /// The result is a reference to a tensor, a module or a custom op.
    ViaTracedRef, __ferrex_call -> KnownCall
);

impl<M: ?Sized, R: GraphValue + ?Sized> ViaTracedRef for &CallProbe<'_, M, &R> {}

via!(
    /// The result is a [`KnownValue`].
    ViaKnownValue, __ferrex_call -> KnownCall
);

impl<M: ?Sized, R: KnownValue + ?Sized> ViaKnownValue for CallProbe<'_, M, R> {}

/// Anything else.
pub trait ViaUnknownCall<R: ?Sized> {
    fn __ferrex_call(self) -> UnknownCall<R>;
}

impl<M: ?Sized, R: ?Sized> ViaUnknownCall<R> for CallProbe<'_, M, R> {
    fn __ferrex_call(self) -> UnknownCall<R> {
        UnknownCall(PhantomData)
    }
}

#[diagnostic::on_unimplemented(
    message = "graph break: forward uses what a function strict export cannot see into returns (`{Self}`)",
    label = "strict export cannot see into this call",
    note = "strict export proves forward a pure function of its inputs and the model by reading its code; a value computed where it cannot read (a global, a clock, a file, the environment) would be frozen into the graph as a constant",
    note = "mark the function `#[ferrex::export_fn]` (or the type's `impl` block, for an associated function): its body is then checked like forward's",
    note = "or pass the value as an input of forward, or keep it in a `#[config]` field",
    note = "or export with `#[export_module(strict = false)]`, which specialises the value seen while tracing"
)]
pub trait CallCheck {}

impl CallCheck for KnownCall {}

/// Implemented by a module or helper type for each method (by the hash of its name) of its
/// impl blocks marked `#[export_module]` or `#[ferrex::export_fn]`, whose bodies strict
/// mode has read: forward may call `self.m(..)` of another block only when it is one. A
/// marked impl of an operator trait implements it with `A` the right-hand side (`impl
/// Mul<Gain> for &Tensor`: `&Tensor: CheckedMethod<hash("mul"), Gain>`), so several impls
/// of one operator for one type (`Mul<f64>`, `Mul<Gain>`) do not collide; other traits
/// (`Default`, `From`, `Deref`) with `A = ()`.
#[diagnostic::on_unimplemented(
    message = "graph break: forward calls a method of `{Self}` that strict export has not read",
    label = "defined outside the impl blocks strict export reads",
    note = "strict export proves forward a pure function of its inputs and the model by reading the methods it calls; this one is in a plain `impl` block or a trait",
    note = "mark the impl block that defines it `#[export_module(helpers)]` (its methods are then checked too), or move the method into the `#[export_module]` impl block",
    note = "or export with `#[export_module(strict = false)]`, which traces whatever the method runs"
)]
pub trait CheckedMethod<const NAME_HASH: u64, A: ?Sized = ()> {}

/// Values whose methods strict mode trusts without reading them: numbers, strings, tensors
/// and the standard containers of them (no `Cell`, lock or atomic: those hold state), and
/// ferrex's value types.
pub trait PlainValue {}

macro_rules! plain_values {
    ($($t:ty),* $(,)?) => { $(impl PlainValue for $t {})* };
}

/// `impl Trait for T {}` for each listed type.
macro_rules! plain_values_of {
    ($tr:ident: $($t:ty),* $(,)?) => { $(impl $tr for $t {})* };
}

plain_values!(
    bool,
    char,
    str,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    String,
    crate::DType,
    crate::SymInt,
    crate::SymBool,
    crate::Tensor,
);

impl<T: PlainValue + ?Sized> PlainValue for &T {}
impl<T: PlainValue> PlainValue for [T] {}
impl<T: PlainValue, const N: usize> PlainValue for [T; N] {}
impl<T: PlainValue> PlainValue for Vec<T> {}
impl<T: PlainValue> PlainValue for std::collections::VecDeque<T> {}
impl<T: PlainValue> PlainValue for Option<T> {}
impl<T: PlainValue + ?Sized> PlainValue for Box<T> {}
impl<T: PlainValue + ?Sized> PlainValue for std::rc::Rc<T> {}
impl<T: PlainValue + ?Sized> PlainValue for std::sync::Arc<T> {}
impl<T: PlainValue> PlainValue for std::ops::Range<T> {}
impl<K: PlainValue, V: PlainValue, S> PlainValue for std::collections::HashMap<K, V, S> {}
impl<K: PlainValue, V: PlainValue> PlainValue for std::collections::BTreeMap<K, V> {}
impl<K: PlainValue, S> PlainValue for std::collections::HashSet<K, S> {}
impl<K: PlainValue> PlainValue for std::collections::BTreeSet<K> {}
impl<A: PlainValue, B: PlainValue> PlainValue for (A, B) {}
impl<A: PlainValue, B: PlainValue, C: PlainValue> PlainValue for (A, B, C) {}
impl<T: PlainValue> PlainValue for std::ops::RangeInclusive<T> {}

// The standard iterators over plain values (`let mut it = self.gains.iter(); it.next()`):
// std code moving values around. A closure an adaptor holds was analysed where written.
impl<T: PlainValue> PlainValue for std::slice::Iter<'_, T> {}
impl<T: PlainValue> PlainValue for std::slice::IterMut<'_, T> {}
impl<T: PlainValue> PlainValue for std::slice::Windows<'_, T> {}
impl<T: PlainValue> PlainValue for std::slice::Chunks<'_, T> {}
impl<T: PlainValue> PlainValue for std::vec::IntoIter<T> {}
impl<T: PlainValue> PlainValue for std::collections::vec_deque::Iter<'_, T> {}
impl<K: PlainValue, V: PlainValue> PlainValue for std::collections::hash_map::Iter<'_, K, V> {}
impl<K: PlainValue, V: PlainValue> PlainValue for std::collections::btree_map::Iter<'_, K, V> {}
impl PlainValue for std::str::Chars<'_> {}
impl PlainValue for std::str::Bytes<'_> {}
impl<I: PlainValue> PlainValue for std::iter::Enumerate<I> {}
impl<A: PlainValue, B: PlainValue> PlainValue for std::iter::Zip<A, B> {}
impl<A: PlainValue, B: PlainValue> PlainValue for std::iter::Chain<A, B> {}
impl<I: PlainValue> PlainValue for std::iter::Rev<I> {}
impl<I: PlainValue> PlainValue for std::iter::Skip<I> {}
impl<I: PlainValue> PlainValue for std::iter::Take<I> {}
impl<I: PlainValue> PlainValue for std::iter::StepBy<I> {}
impl<I: PlainValue> PlainValue for std::iter::Copied<I> {}
impl<I: PlainValue> PlainValue for std::iter::Cloned<I> {}
impl<I: PlainValue + Iterator> PlainValue for std::iter::Peekable<I> {}
impl<I: PlainValue, F> PlainValue for std::iter::Map<I, F> {}
impl<I: PlainValue, P> PlainValue for std::iter::Filter<I, P> {}
impl<I: PlainValue, F> PlainValue for std::iter::FilterMap<I, F> {}
impl<I: PlainValue, P> PlainValue for std::iter::TakeWhile<I, P> {}
impl<I: PlainValue, P> PlainValue for std::iter::SkipWhile<I, P> {}

/// A value of the model (a field, an alias of one) whose method forward calls without a
/// tensor: the answer of `(&&&&ValueProbe(&recv)).__ferrex_value()` must implement
/// `ValueCheck`.
pub struct ValueProbe<'a, T: ?Sized>(pub &'a T);

copy_probe!(ValueProbe<T>);

/// A value strict mode can see into.
pub struct KnownValueOf;

/// A value of type `T` whose methods strict mode cannot see into.
pub struct OpaqueValue<T: ?Sized>(PhantomData<T>);

via!(
    ViaTracedValue, __ferrex_value -> KnownValueOf
);

impl<T: TracedReceiver + ?Sized> ViaTracedValue for &&&ValueProbe<'_, T> {}

via!(
    ViaPlainValue, __ferrex_value -> KnownValueOf
);

impl<T: PlainValue + ?Sized> ViaPlainValue for &&ValueProbe<'_, T> {}

via!(
    ViaTracedValueRef, __ferrex_value -> KnownValueOf
);

impl<T: TracedReceiver + ?Sized> ViaTracedValueRef for &ValueProbe<'_, &T> {}

/// The standard containers, of any items: a std method of one (`self.stages.first()`)
/// runs std's code, not the items' (the generated check imports this level only for the
/// names of std's container and iterator methods).
pub trait StdContainer {}

impl<T> StdContainer for Vec<T> {}
impl<T> StdContainer for [T] {}
impl<T, const N: usize> StdContainer for [T; N] {}
impl<T> StdContainer for Option<T> {}
impl<T> StdContainer for std::collections::VecDeque<T> {}
impl<K, V, S> StdContainer for std::collections::HashMap<K, V, S> {}
impl<K, V> StdContainer for std::collections::BTreeMap<K, V> {}
impl<K, S> StdContainer for std::collections::HashSet<K, S> {}
impl<K> StdContainer for std::collections::BTreeSet<K> {}
impl<T: StdContainer + ?Sized> StdContainer for Box<T> {}

via!(
    ViaStdContainer, __ferrex_value -> KnownValueOf
);

impl<T: StdContainer + ?Sized> ViaStdContainer for &ValueProbe<'_, T> {}

via!(
    ViaTracedValueRefRef, __ferrex_value -> KnownValueOf
);

impl<T: TracedReceiver + ?Sized> ViaTracedValueRefRef for ValueProbe<'_, &&T> {}

pub trait ViaOpaqueValue<T: ?Sized> {
    fn __ferrex_value(self) -> OpaqueValue<T>;
}

impl<T: ?Sized> ViaOpaqueValue<T> for ValueProbe<'_, T> {
    fn __ferrex_value(self) -> OpaqueValue<T> {
        OpaqueValue(PhantomData)
    }
}

#[diagnostic::on_unimplemented(
    message = "graph break: forward calls a method of a value strict export cannot see into (`{Self}`)",
    label = "strict export cannot see into the methods of this value",
    note = "strict export proves forward a pure function of its inputs and the model by reading its code; it reads the methods of modules, tensors, numbers, strings and std containers of them, not those of other types, which may read state (a `Cell`, a lock, a global) that the graph would freeze",
    note = "mark the type's `impl` block `#[ferrex::export_fn]` (its methods are then checked like forward's), or keep the value in a `#[buffer]` or a plain `#[config]` field",
    note = "or export with `#[export_module(strict = false)]`, which traces whatever the method runs"
)]
pub trait ValueCheck {}

impl ValueCheck for KnownValueOf {}

/// Types that hold state shared between calls: interior mutability, locks, atomics,
/// lazily initialised values and `thread_local!` keys, also behind `Rc` / `Arc` / `Box`.
/// A method of one (`set`, `get`, `load`, `lock`, …) read or written while exporting
/// would be frozen into the graph.
pub trait SharedState {}

macro_rules! shared_state {
    ($($t:ty),* $(,)?) => { $(impl SharedState for $t {})* };
}

shared_state!(
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
);

impl<T> SharedState for std::sync::atomic::AtomicPtr<T> {}
impl<T: ?Sized> SharedState for std::cell::Cell<T> {}
impl<T: ?Sized> SharedState for std::cell::RefCell<T> {}
impl<T> SharedState for std::cell::OnceCell<T> {}
impl<T, F> SharedState for std::cell::LazyCell<T, F> {}
impl<T: ?Sized> SharedState for std::sync::Mutex<T> {}
impl<T: ?Sized> SharedState for std::sync::RwLock<T> {}
impl<T> SharedState for std::sync::OnceLock<T> {}
impl<T, F> SharedState for std::sync::LazyLock<T, F> {}
impl<T: 'static> SharedState for std::thread::LocalKey<T> {}
impl<T: SharedState + ?Sized> SharedState for std::rc::Rc<T> {}
impl<T: SharedState + ?Sized> SharedState for std::sync::Arc<T> {}
impl<T: SharedState + ?Sized> SharedState for Box<T> {}

/// The receiver of a `set` / `get` / `load` / `lock`-like call that syntax could not
/// place: the answer of `(&&&SharedProbe(&recv)).__ferrex_shared()` must implement
/// `NotSharedAnswer`.
pub struct SharedProbe<'a, T: ?Sized>(pub &'a T);

copy_probe!(SharedProbe<T>);

/// A receiver holding shared state (`T`).
pub struct Shared<T: ?Sized>(PhantomData<T>);

/// Any other receiver.
pub struct NotShared;

/// The receiver (through up to two references) holds shared state.
pub trait ViaShared<T: ?Sized> {
    fn __ferrex_shared(&self) -> Shared<T> {
        Shared(PhantomData)
    }
}

impl<T: SharedState + ?Sized> ViaShared<T> for &&SharedProbe<'_, T> {}
impl<T: SharedState + ?Sized> ViaShared<T> for &SharedProbe<'_, &T> {}
impl<T: SharedState + ?Sized> ViaShared<T> for SharedProbe<'_, &&T> {}

/// Any other receiver.
pub trait ViaNotShared {
    fn __ferrex_shared(self) -> NotShared;
}

impl<T: ?Sized> ViaNotShared for SharedProbe<'_, T> {
    fn __ferrex_shared(self) -> NotShared {
        NotShared
    }
}

/// What the generated per-call checks require of the probes' answers: each names the call
/// in its own `#[diagnostic::on_unimplemented]` message (`analysis/opaque_receiver.rs`),
/// and is implemented through these.
pub trait NotSharedAnswer {}

impl NotSharedAnswer for NotShared {}

/// Operand types whose operators are std's or ferrex's own (`x * 2.0`, `a + b` of tensors,
/// sizes): no code of the user's runs.
pub trait StdOperand {}

plain_values_of!(StdOperand:
    bool, char, str, f32, f64, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128,
    usize, String, crate::DType, crate::SymInt, crate::SymBool, crate::Tensor,
);

impl StdOperand for () {}
impl<T: StdOperand + ?Sized> StdOperand for &T {}
impl<T: StdOperand + ?Sized> StdOperand for &mut T {}

/// The operands of an operator (`a + b`, `-a`, `a += b`) of which one is a value syntax
/// cannot type (a model field, a value built in forward): the answer of
/// `(&&&OperatorProbe::<H, _, _>(&a, &b)).__ferrex_operator()` must implement
/// `OperatorCheck`. `H` is the hash of the operator's method (`add`, `neg`); a unary
/// operator's right side is `()`.
pub struct OperatorProbe<'a, const H: u64, L: ?Sized, R: ?Sized>(pub &'a L, pub &'a R);

impl<const H: u64, L: ?Sized, R: ?Sized> Clone for OperatorProbe<'_, H, L, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<const H: u64, L: ?Sized, R: ?Sized> Copy for OperatorProbe<'_, H, L, R> {}

/// An operator whose code is std's, ferrex's or read by strict export.
pub struct KnownOperator;

/// An operator of `L` (with `R`) implemented by an impl strict export has not read.
pub struct UnreadOperator<L: ?Sized, R: ?Sized>(PhantomData<L>, PhantomData<R>);

via!(
    /// Both operands are std's or ferrex's.
    ViaStdOperands, __ferrex_operator -> KnownOperator
);

impl<const H: u64, L: StdOperand + ?Sized, R: StdOperand + ?Sized> ViaStdOperands
    for &&&OperatorProbe<'_, H, L, R>
{
}

via!(
    /// The operator's impl is marked `#[ferrex::export_fn]` (and was read).
    ViaReadOperator, __ferrex_operator -> KnownOperator
);

impl<const H: u64, L: CheckedMethod<H, R> + ?Sized, R: ?Sized> ViaReadOperator
    for &&OperatorProbe<'_, H, L, R>
{
}

via!(
    /// A unary operator (`-a`, `!a`) whose impl is marked.
    ViaReadUnary, __ferrex_operator -> KnownOperator
);

impl<const H: u64, L: CheckedMethod<H> + ?Sized> ViaReadUnary for &OperatorProbe<'_, H, L, ()> {}

/// Anything else.
pub trait ViaUnreadOperator<L: ?Sized, R: ?Sized> {
    fn __ferrex_operator(self) -> UnreadOperator<L, R>;
}

impl<const H: u64, L: ?Sized, R: ?Sized> ViaUnreadOperator<L, R> for OperatorProbe<'_, H, L, R> {
    fn __ferrex_operator(self) -> UnreadOperator<L, R> {
        UnreadOperator(PhantomData, PhantomData)
    }
}

/// What the generated operator checks require (each names the operator in its own message).
pub trait OperatorCheck {}

impl OperatorCheck for KnownOperator {}

/// The owner of `Owner::f(x)` that strict mode could not place by syntax (a type, or a
/// module through an alias): `Owner::__ferrex_owner()` answers `FerrexFunctions` in ferrex's
/// function modules (`nn::functional`) and `OwnerAnswer<Owner>` for a type (`OwnerOf`);
/// the answer must implement `OwnerCheck`.
pub struct OwnerAnswer<T: ?Sized>(PhantomData<T>);

/// The answer of a module of ferrex's functions.
pub struct FerrexFunctions;

/// `Type::__ferrex_owner()` and `Type::__ferrex_marker::<H>()` for every type.
pub trait OwnerOf {
    fn __ferrex_owner() -> OwnerAnswer<Self> {
        OwnerAnswer(PhantomData)
    }

    /// The marker of the type's function named by the hash `H`, for a `CallProbe`.
    fn __ferrex_marker<const H: u64>() -> PhantomData<MethodOf<Self, H>> {
        PhantomData
    }
}

/// Ferrex's function modules' functions are ferrex ops.
impl ExportFn for FerrexFunctions {}

impl<T: ?Sized> OwnerOf for T {}

/// Owners whose functions strict export trusts or reads: ferrex's function modules, and
/// the types it reads (modules, tensors, helper types whose `impl` is marked).
pub trait OwnerCheck {}

impl OwnerCheck for FerrexFunctions {}
impl<T: TracedReceiver + ?Sized> OwnerCheck for OwnerAnswer<T> {}

/// A value whose type may have a hand-written impl of a std trait that forward runs without
/// naming it (`g.clone()`, `*g`, `g[i]`, `for a in g`, `g == h`; `analysis/unread_impls.rs`
/// in the macros). The check declares, at the use, a trait implemented for
/// `&ImplProbe<'_, Ty>` of each type whose impl of that trait in the file strict export has
/// not read, answering `ImplUnread`; every other type falls through to `ViaImplRead`.
pub struct ImplProbe<'a, T: ?Sized>(pub &'a T);

/// The answer for a type whose impl strict export has read, or std's or a derived one.
pub struct ImplRead;

/// The answer for a type whose hand-written impl strict export has not read.
pub struct ImplUnread;

via!(
    /// The fallback level: the impl is std's, derived, or read.
    ViaImplRead, __ferrex_impl -> ImplRead
);

impl<T: ?Sized> ViaImplRead for ImplProbe<'_, T> {}

/// What the generated impl checks require.
pub trait ImplReadCheck {}

impl ImplReadCheck for ImplRead {}
