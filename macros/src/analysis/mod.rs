//! Strict mode: the compile-time proof that `forward` captures into one graph.
//!
//! The walker reads the syn AST of `forward`, of every method of the annotated impl that
//! it calls (`self.m(..)`, `Self::m(..)`), and of `#[ferrex::export_fn]` helpers. It keeps
//! a scope of bindings, each with a [`Kind`]: a tensor, a container of tensors, a value
//! derived from tensor *data*, the model, something unknown (a field), or a plain value
//! (config, sizes). Tensor-ness comes from parameter types, from ferrex ops (every method
//! of a tensor that is not a data accessor returns a tensor) and from unmistakable uses.
//!
//! Each rule is one file with one diagnostic: `data_branch`, `data_access`,
//! `opaque_call`, `pointer_identity`, `panic_on_data`, `early_return`, `catch_unwind`,
//! `unsafe_block`, `static_mut`, `interior_mutability`, `mut_self`, `tensor_format`.
//! All graph breaks are collected, not only the first.

mod catch_unwind;
mod data_access;
mod data_branch;
mod early_return;
pub mod file_items;
mod interior_mutability;
mod kind;
mod mut_self;
pub mod opaque_call;
pub mod opaque_receiver;
mod panic_on_data;
mod pointer_identity;
mod static_mut;
mod tensor_api;
mod tensor_format;
pub mod unread_impls;
mod unsafe_block;

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{
    BinOp, Block, Expr, ExprClosure, ExprIf, ExprMethodCall, FnArg, ImplItem, ImplItemFn, ItemFn,
    ItemImpl, Pat, ReturnType, Signature, Stmt, Token,
};

pub use kind::Kind;
pub use opaque_call::{checks, Callee};

/// What the analysis found: the graph breaks, and the free functions that receive tensors
/// (checked for `#[ferrex::export_fn]` by the generated code).
#[derive(Default)]
pub struct Report {
    pub errors: Vec<syn::Error>,
    pub callees: Vec<Callee>,
    /// Method calls whose receiver the compiler must check (`opaque_receiver.rs`).
    pub receiver_checks: HashSet<String>,
    /// `self.m(..)` / `Self::m(..)` of methods outside the block, which the compiler must
    /// find in another block strict mode read (`opaque_call::method_checks`).
    pub other_methods: Vec<(String, proc_macro2::Span)>,
}

/// Analyses `forward` of an annotated impl and the methods it calls.
pub fn analyze_impl(item: &ItemImpl) -> Report {
    let methods: HashMap<String, &ImplItemFn> = item
        .items
        .iter()
        .filter_map(|it| match it {
            ImplItem::Fn(f) => Some((f.sig.ident.to_string(), f)),
            _ => None,
        })
        .collect();
    let mut w = Walker::new(&methods);
    if let syn::Type::Path(p) = &*item.self_ty {
        w.self_name = p.path.segments.last().map(|s| s.ident.to_string());
    }
    w.type_params = type_params(&item.generics);
    w.check_generic_bounds(&item.generics);
    if methods.contains_key("forward") {
        w.queue.push("forward".to_string());
    }
    while let Some(name) = w.queue.pop() {
        if !w.analysed.insert(name.clone()) {
            continue;
        }
        if let Some(f) = methods.get(&name) {
            w.function(&f.sig, &f.block);
        }
    }
    w.finish()
}

/// Analyses every method of an `impl` block marked `#[ferrex::export_fn]` (a helper type
/// forward may call methods of).
pub fn analyze_helper_impl(item: &ItemImpl) -> Report {
    let methods: HashMap<String, &ImplItemFn> = item
        .items
        .iter()
        .filter_map(|it| match it {
            ImplItem::Fn(f) => Some((f.sig.ident.to_string(), f)),
            _ => None,
        })
        .collect();
    let mut w = Walker::new(&methods);
    if let syn::Type::Path(p) = &*item.self_ty {
        w.self_name = p.path.segments.last().map(|s| s.ident.to_string());
    }
    if kind::of_type(&item.self_ty) == Kind::Tensor {
        w.self_kind = Kind::Tensor;
    }
    w.mut_self_allowed = item.trait_.is_some();
    w.type_params = type_params(&item.generics);
    w.check_generic_bounds(&item.generics);
    let mut names: Vec<&String> = methods.keys().collect();
    names.sort();
    for name in names {
        if w.analysed.insert(name.clone()) {
            if let Some(f) = methods.get(name) {
                w.function(&f.sig, &f.block);
            }
        }
    }
    w.queue.clear();
    w.finish()
}

/// Analyses the body of a `#[ferrex::export_fn]` helper.
pub fn analyze_fn(item: &ItemFn) -> Report {
    let methods = HashMap::new();
    let mut w = Walker::new(&methods);
    w.function(&item.sig, &item.block);
    w.finish()
}

/// A graph-break error spanning `node`: what breaks the graph, why, and the fixes.
pub(crate) fn graph_break<T: ToTokens>(
    node: T,
    headline: &str,
    why: &str,
    fixes: &[String],
) -> syn::Error {
    let mut msg = format!("graph break: {headline}\n{why}");
    for fix in fixes {
        msg.push_str("\nhelp: ");
        msg.push_str(fix);
    }
    syn::Error::new_spanned(node, msg)
}

/// The fix that always applies: non-strict export.
pub(crate) fn non_strict_fix(what_it_does: &str) -> String {
    format!("or export with `#[export_module(strict = false)]`, which {what_it_does}")
}

/// The source text of a node on one line.
pub(crate) fn text<T: ToTokens>(node: &T) -> String {
    crate::source::text_of(node.to_token_stream())
}

#[derive(Clone, Copy)]
struct Binding {
    kind: Kind,
    /// For a closure or a local fn: the kind of what calling it returns.
    returns: Option<Kind>,
    /// A reference to a global (`let t = &TOTAL;`): its methods reach global state.
    global: bool,
    /// A value read out of the model or a call (`let f = &self.act;`): if it is called, the
    /// function it holds is opaque.
    held_value: bool,
    /// A value of a type strict mode does not know (built in the body, `Gain { k: 2.0 }`,
    /// `Gain::new()`, or a parameter `g: &Gain`): its methods are checked by type.
    opaque: bool,
    /// A `Cell` / `RefCell` / lock built in this body (`let c = Cell::new(0.0)`): fresh at
    /// every call, so its methods hold no state between calls.
    fresh_cell: bool,
}

impl Binding {
    fn of(kind: Kind) -> Binding {
        Binding {
            kind,
            returns: None,
            global: false,
            held_value: false,
            opaque: false,
            fresh_cell: false,
        }
    }
}

const TENSOR_ROOTS: &[&str] = &[
    "F",
    "nn",
    "functional",
    "ferrex",
    "Tensor",
    "SymInt",
    "DType",
    "Operand",
];

/// Every tensor method a rule names: each must exist (`tensor_api.rs` tests it).
#[cfg(test)]
fn named_tensor_methods() -> Vec<&'static str> {
    let mut out = Vec::new();
    out.extend(SHAPE_METHODS);
    out.extend(LIST_OPS);
    out.extend(data_access::DATA_READS);
    out.extend(pointer_identity::POINTER_METHODS);
    out
}

/// Methods of a tensor that give its sizes, dtype or identity, not its data.
/// Methods of `SymInt` / `SymBool` that give a plain Rust value (`i64`, `bool`): on a
/// value read from tensor data ([`Kind::Sym`]) it exists only at run time.
const SYM_TO_PLAIN: &[&str] = &[
    "guard_int",
    "guard_bool",
    "as_int",
    "as_bool",
    "hint",
    "to_string",
];

const SHAPE_METHODS: &[&str] = &[
    "dim",
    "size",
    "sizes",
    "shape",
    "numel",
    "dtype",
    "meta",
    "same_tensor",
    "error",
    "check",
];

/// Tensor methods that return several tensors (a list or a tuple).
const LIST_OPS: &[&str] = &["chunk", "split", "max_dim", "min_dim"];

/// Associated functions (`Tensor::call_op`, `F::…`) that return several tensors.
const LIST_FNS: &[&str] = &["chunk", "split", "max_dim", "min_dim", "call_op"];

/// Methods of a container that answer about its structure, not its items.
const STRUCTURE_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "is_some",
    "is_none",
    "is_ok",
    "is_err",
    "count",
    "capacity",
    "contains_key",
];

/// Methods of a container that give one of its items.
const ITEM_METHODS: &[&str] = &[
    "get",
    "first",
    "last",
    "unwrap",
    "expect",
    "unwrap_or",
    "unwrap_or_else",
    "unwrap_or_default",
    "next",
    "pop",
    "remove",
    "swap_remove",
    "pop_front",
    "pop_back",
    "into_inner",
    "nth",
    "cloned",
    "copied",
];

/// Methods of a container that add items to it.
const PUSH_METHODS: &[&str] = &[
    "push",
    "push_back",
    "push_front",
    "insert",
    "extend",
    "append",
];

struct Walker<'a> {
    methods: &'a HashMap<String, &'a ImplItemFn>,
    queue: Vec<String>,
    analysed: HashSet<String>,
    scopes: Vec<HashMap<String, Binding>>,
    errors: Vec<syn::Error>,
    callees: Vec<Callee>,
    /// Inside the condition of a branch: a data read there is reported as the branch.
    in_cond: usize,
    in_unsafe: usize,
    /// Accesses to a `static mut` found inside the current `unsafe` block.
    static_accesses: usize,
    /// The function being walked, for the messages.
    function: String,
    /// The impl's self type by name (`MyModule`), so `MyModule::helper(x)` is `Self::helper(x)`.
    self_name: Option<String>,
    /// Names brought in by `use` inside a body: calls through them cannot be checked
    /// from outside the body.
    body_uses: HashSet<String>,
    receiver_checks: HashSet<String>,
    other_methods: Vec<(String, proc_macro2::Span)>,
    /// Type parameters of the impl and of the function being walked (`T::f(x)` through one
    /// cannot be checked by a generated item).
    type_params: HashSet<String>,
    /// For a binding read out of a tensor (`let a = t.item::<f32>()`): the tensor's text,
    /// so a predicate on it becomes a tensor predicate (`a < 6` → `t.lt(6)`).
    data_origins: HashMap<String, String>,
    /// For a binding of a tuple whose element kinds syntax tells (`pair: (Tensor, usize)`):
    /// the kinds, so `pair.1` is what it is.
    tuple_fields: HashMap<String, Vec<Kind>>,
    /// What `self` is: the model (or a helper value), or a tensor in a marked trait impl
    /// for `Tensor` (`impl Mul<Gain> for &Tensor`).
    self_kind: Kind,
    /// In a marked trait impl (`impl AddAssign<f64> for Gain`), `&mut self` is the helper
    /// value the operator updates, not the model.
    mut_self_allowed: bool,
    /// What the file of the macro call declares (`Owner::f` with `Owner` a trait or a
    /// module alias of the file).
    file: std::rc::Rc<file_items::FileItems>,
}

impl<'a> Walker<'a> {
    fn new(methods: &'a HashMap<String, &'a ImplItemFn>) -> Self {
        Walker {
            methods,
            queue: Vec::new(),
            analysed: HashSet::new(),
            scopes: Vec::new(),
            errors: Vec::new(),
            callees: Vec::new(),
            in_cond: 0,
            in_unsafe: 0,
            static_accesses: 0,
            function: String::new(),
            self_name: None,
            body_uses: HashSet::new(),
            receiver_checks: HashSet::new(),
            other_methods: Vec::new(),
            type_params: HashSet::new(),
            data_origins: HashMap::new(),
            tuple_fields: HashMap::new(),
            self_kind: Kind::Module,
            mut_self_allowed: false,
            file: file_items::of_call_site(),
        }
    }

    fn finish(mut self) -> Report {
        self.callees
            .retain(|c| !self.body_uses.contains(&c.first_segment()));
        Report {
            errors: self.errors,
            callees: self.callees,
            receiver_checks: self.receiver_checks,
            other_methods: self.other_methods,
        }
    }

    // ----- scopes ----------------------------------------------------------------------

    fn lookup(&self, name: &str) -> Option<Binding> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn bind(&mut self, name: String, kind: Kind) {
        self.bind_full(name, Binding::of(kind));
    }

    fn bind_full(&mut self, name: String, b: Binding) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name, b);
        }
    }

    /// Reassignment (`x = …`) changes the binding where it lives.
    fn rebind(&mut self, name: &str, kind: Kind) {
        for s in self.scopes.iter_mut().rev() {
            if let Some(b) = s.get_mut(name) {
                b.kind = kind;
                return;
            }
        }
    }

    fn scoped<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.scopes.push(HashMap::new());
        let r = f(self);
        self.scopes.pop();
        r
    }

    /// Binds the names of a pattern matched against a value of kind `k`.
    fn bind_pat(&mut self, pat: &Pat, k: Kind) {
        match pat {
            Pat::Ident(p) => {
                self.bind(p.ident.to_string(), k);
                if let Some((_, sub)) = &p.subpat {
                    self.bind_pat(sub, k);
                }
            }
            Pat::Type(p) => {
                let declared = kind::of_type(&p.ty);
                let k = if declared == Kind::Maybe { k } else { declared };
                self.bind_pat(&p.pat, k);
            }
            Pat::Reference(p) => self.bind_pat(&p.pat, k),
            Pat::Paren(p) => self.bind_pat(&p.pat, k),
            Pat::Or(p) => p.cases.iter().for_each(|c| self.bind_pat(c, k)),
            Pat::Tuple(p) => {
                for (i, e) in p.elems.iter().enumerate() {
                    let ek = match k {
                        Kind::EnumItem if i == 0 => Kind::Plain,
                        // The elements of a tuple whose parts are not written out (a
                        // call's result) may be tensors, `Option`s of them, or plain
                        // values: judged by their uses, not held to the tensor API.
                        Kind::Tensors | Kind::Tensor => Kind::Maybe,
                        other => other.item(),
                    };
                    self.bind_pat(e, ek);
                }
            }
            Pat::TupleStruct(p) => p.elems.iter().for_each(|e| self.bind_pat(e, k.item())),
            Pat::Struct(p) => p
                .fields
                .iter()
                .for_each(|f| self.bind_pat(&f.pat, k.item())),
            Pat::Slice(p) => p.elems.iter().for_each(|e| {
                // `rest @ ..` binds the remaining elements: still a container.
                let is_rest = match e {
                    Pat::Rest(_) => true,
                    Pat::Ident(i) => {
                        matches!(i.subpat.as_ref().map(|(_, s)| &**s), Some(Pat::Rest(_)))
                    }
                    _ => false,
                };
                self.bind_pat(e, if is_rest { k } else { k.item() })
            }),
            _ => {}
        }
    }

    // ----- functions -------------------------------------------------------------------

    fn function(&mut self, sig: &Signature, block: &Block) {
        let outer = std::mem::replace(&mut self.function, sig.ident.to_string());
        let outer_params = self.type_params.clone();
        self.type_params.extend(type_params(&sig.generics));
        self.check_generic_bounds(&sig.generics);
        self.scopes.push(HashMap::new());
        for arg in &sig.inputs {
            match arg {
                FnArg::Receiver(r) => {
                    if r.mutability.is_some() && r.reference.is_some() && !self.mut_self_allowed {
                        self.errors.push(mut_self::error(r, &sig.ident));
                    }
                    self.bind("self".into(), self.self_kind);
                }
                FnArg::Typed(pt) => {
                    let k = kind::of_type(&pt.ty);
                    self.bind_pat(&pt.pat, k);
                    if let (Pat::Ident(p), Some(kinds)) = (&*pt.pat, tuple_type_kinds(&pt.ty)) {
                        self.tuple_fields.insert(p.ident.to_string(), kinds);
                    }
                    // A generic parameter (`by: T`) is judged by its bounds, not as an
                    // unknown type.
                    let generic = pt.ty.to_token_stream().into_iter().any(|t| {
                        matches!(&t, proc_macro2::TokenTree::Ident(i) if self.type_params.contains(&i.to_string()))
                    });
                    if let (Pat::Ident(p), true) =
                        (&*pt.pat, kind::is_user_type(&pt.ty) && !generic)
                    {
                        self.mark_opaque(&p.ident.to_string());
                    }
                }
            }
        }
        self.stmts(&block.stmts);
        self.scopes.pop();
        self.function = outer;
        self.type_params = outer_params;
    }

    /// Each bound of a type parameter by a trait of the file (`G: Gain`, also in a `where`
    /// clause) needs every impl of that trait in the file marked.
    fn check_generic_bounds(&mut self, generics: &syn::Generics) {
        let mut bounds: Vec<(String, &syn::TypeParamBound)> = Vec::new();
        for p in generics.type_params() {
            bounds.extend(p.bounds.iter().map(|b| (p.ident.to_string(), b)));
        }
        for pred in generics.where_clause.iter().flat_map(|w| &w.predicates) {
            if let syn::WherePredicate::Type(t) = pred {
                let param = t.bounded_ty.to_token_stream().to_string();
                bounds.extend(t.bounds.iter().map(|b| (param.clone(), b)));
            }
        }
        for (param, bound) in bounds {
            let syn::TypeParamBound::Trait(t) = bound else {
                continue;
            };
            let Some(last) = t.path.segments.last() else {
                continue;
            };
            let tr = last.ident.to_string();
            for (ty, method) in self.file.unmarked_impls_of(&tr) {
                self.errors.push(opaque_call::generic_bound_error(
                    &t.path,
                    &param,
                    &tr,
                    &ty,
                    method.as_deref(),
                ));
            }
        }
    }

    fn returns_of(sig: &Signature) -> Kind {
        match &sig.output {
            ReturnType::Default => Kind::Plain,
            ReturnType::Type(_, ty) => kind::of_type(ty),
        }
    }

    // ----- statements ------------------------------------------------------------------

    fn block(&mut self, b: &Block) -> Kind {
        self.scoped(|w| w.stmts(&b.stmts))
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> Kind {
        let mut last = Kind::Plain;
        for (i, s) in stmts.iter().enumerate() {
            last = match s {
                Stmt::Local(l) => {
                    self.local(l);
                    Kind::Plain
                }
                Stmt::Item(item) => {
                    self.item(item);
                    Kind::Plain
                }
                Stmt::Expr(Expr::If(e), semi) => {
                    let k = self.expr_if(e, Some(&stmts[i + 1..]));
                    if semi.is_some() {
                        Kind::Plain
                    } else {
                        k
                    }
                }
                Stmt::Expr(e, semi) => {
                    let k = self.expr(e);
                    if semi.is_some() {
                        Kind::Plain
                    } else {
                        k
                    }
                }
                Stmt::Macro(m) => {
                    self.mac(&m.mac);
                    Kind::Plain
                }
            };
        }
        last
    }

    fn local(&mut self, l: &syn::Local) {
        let Some(init) = &l.init else {
            self.bind_pat(&l.pat, Kind::Plain);
            return;
        };
        if self.bind_global_alias(l, &init.expr) {
            return;
        }
        let value = self.value_expr(&init.expr);
        self.check_declared_conversion(&l.pat, &init.expr);
        if let Some((_, diverge)) = &init.diverge {
            if value.is_data_like() {
                self.errors.push(data_branch::error(
                    &init.expr,
                    data_branch::Construct::LetElse,
                    &self.tensor_names(&init.expr),
                    None,
                ));
            }
            self.expr(diverge);
        }
        // `let (a, b) = (e1, e2)`, `= self.split(x)` returning `(Tensor, usize)`: element
        // by element.
        if let Pat::Tuple(p) = strip_pat_type(&l.pat) {
            let declared = match &l.pat {
                Pat::Type(t) => tuple_type_kinds(&t.ty),
                _ => None,
            };
            if let Some(kinds) = declared.or_else(|| self.tuple_elems(&init.expr)) {
                if p.elems.len() == kinds.len() {
                    for (pe, k) in p.elems.iter().zip(kinds) {
                        self.bind_pat(pe, k);
                    }
                    return;
                }
            }
        }
        // A value read out of a tensor: remember the tensor for the `cond!` predicate.
        if let (Pat::Ident(p), Some(t)) = (
            strip_pat_type(&l.pat),
            data_branch::item_receiver(&init.expr),
        ) {
            self.data_origins.insert(p.ident.to_string(), text(t));
        }
        // `let pair = self.split(x);`: the kinds of `pair.0`, `pair.1`.
        if let Pat::Ident(p) = strip_pat_type(&l.pat) {
            let declared = match &l.pat {
                Pat::Type(t) => tuple_type_kinds(&t.ty),
                _ => None,
            };
            match declared.or_else(|| self.tuple_elems(&init.expr)) {
                Some(kinds) => {
                    self.tuple_fields.insert(p.ident.to_string(), kinds);
                }
                None => {
                    self.tuple_fields.remove(&p.ident.to_string());
                }
            }
        }
        // A closure: remember what calling it returns.
        if let (Pat::Ident(p), Expr::Closure(_)) = (&l.pat, &*init.expr) {
            self.bind_full(
                p.ident.to_string(),
                Binding {
                    returns: Some(value),
                    ..Binding::of(Kind::Plain)
                },
            );
            return;
        }
        if self.bind_local_ident(l, &init.expr, value) {
            return;
        }
        self.bind_pat(&l.pat, value);
        // `let Model { act, .. } = self;`: what a destructured model or field holds is a
        // held value (a function in it is opaque, as `(self.act)(x)`).
        if matches!(value, Kind::Module | Kind::Maybe)
            && !matches!(strip_pat_type(&l.pat), Pat::Ident(_))
        {
            let mut names = Vec::new();
            pat_idents(&l.pat, &mut names);
            for n in names {
                self.mark_held(&n);
            }
        }
    }

    /// `let name = …` of a value read out of the model or a call (held), of a type strict
    /// mode does not know (opaque) or of a fresh cell: bound with that. Whether it was.
    fn bind_local_ident(&mut self, l: &syn::Local, init: &Expr, value: Kind) -> bool {
        if let Pat::Ident(p) = strip_pat_type(&l.pat) {
            let opaque = self.builds_opaque_value(init)
                || matches!(&l.pat, Pat::Type(t) if kind::is_user_type(&t.ty));
            if matches!(
                strip(init),
                Expr::Field(_) | Expr::MethodCall(_) | Expr::Index(_) | Expr::Unary(_)
            ) {
                let b = Binding {
                    held_value: true,
                    opaque,
                    ..Binding::of(value)
                };
                self.bind_full(p.ident.to_string(), b);
                return true;
            }
            if is_fresh_cell(init) {
                self.bind_full(
                    p.ident.to_string(),
                    Binding {
                        fresh_cell: true,
                        ..Binding::of(value)
                    },
                );
                return true;
            }
            if opaque {
                self.bind_full(
                    p.ident.to_string(),
                    Binding {
                        opaque,
                        ..Binding::of(value)
                    },
                );
                return true;
            }
        }
        false
    }

    /// Whether an expression builds a value of a type strict mode does not know: a struct
    /// literal, a tuple-struct constructor or an associated function of a user type.
    fn builds_opaque_value(&self, e: &Expr) -> bool {
        let user_type = |path: &syn::Path| {
            let segs = segment_names(path);
            let owner = match segs.as_slice() {
                [.., owner, last] if starts_upper(owner) && !starts_upper(last) => owner,
                [.., last] if starts_upper(last) => last,
                _ => return false,
            };
            !is_std_type(owner)
                && !TENSOR_ROOTS.contains(&segs[0].as_str())
                && !TENSOR_ROOTS.contains(&owner.as_str())
                && owner != "Self"
                && self.self_name.as_deref() != Some(owner.as_str())
        };
        match strip(e) {
            Expr::Struct(s) => user_type(&s.path),
            // `let o = Opts;`: a unit struct (or an enum's unit variant).
            Expr::Path(p) if p.qself.is_none() => {
                let last = p
                    .path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default();
                starts_upper(&last)
                    && !is_static_name(&last)
                    && last != "None"
                    && p.path.segments.len() <= 2
                    && user_type(&p.path)
            }
            Expr::Call(c) => match strip(&c.func) {
                Expr::Path(p) if p.qself.is_none() => user_type(&p.path),
                Expr::Path(_) => true,
                _ => false,
            },
            _ => false,
        }
    }

    fn mark_opaque(&mut self, name: &str) {
        if let Some(b) = self.scopes.last_mut().and_then(|s| s.get_mut(name)) {
            b.opaque = true;
        }
    }

    fn mark_held(&mut self, name: &str) {
        if let Some(b) = self.scopes.last_mut().and_then(|s| s.get_mut(name)) {
            b.held_value = true;
        }
    }

    /// `let g: Gain = Default::default();`, `= 2.0.into()`: the conversion runs `Gain`'s
    /// code, so the declared type must be one strict export reads.
    fn check_declared_conversion(&mut self, pat: &Pat, init: &Expr) {
        if let Pat::Type(t) = pat {
            if is_conversion(init) && kind::is_user_type(&t.ty) {
                self.receiver_checks
                    .insert(opaque_receiver::declared_key(init));
            }
        }
    }

    /// `let t = &TOTAL;`: an alias of a global, whose methods reach global state. Whether
    /// the `let` was one (and is bound).
    fn bind_global_alias(&mut self, l: &syn::Local, init: &Expr) -> bool {
        let (Pat::Ident(p), Expr::Reference(r)) = (strip_pat_type(&l.pat), init) else {
            return false;
        };
        if !matches!(strip(&r.expr), Expr::Path(_)) || self.global_receiver(&r.expr).is_none() {
            return false;
        }
        let b = Binding {
            global: true,
            ..Binding::of(Kind::Plain)
        };
        self.bind_full(p.ident.to_string(), b);
        true
    }

    /// The kind of a closure is what calling it returns; any other expression is walked.
    fn value_expr(&mut self, e: &Expr) -> Kind {
        match e {
            Expr::Closure(c) => self.closure(c, &[]),
            other => self.expr(other),
        }
    }

    /// The kinds of the elements of a tuple-valued expression, when syntax tells them: a
    /// tuple expression, or a call of a method of this impl declared to return a tuple.
    fn tuple_elems(&mut self, e: &Expr) -> Option<Vec<Kind>> {
        match strip(e) {
            Expr::Tuple(t) => Some(t.elems.iter().map(|e| self.peek_kind(e)).collect()),
            Expr::MethodCall(m) if matches!(strip(&m.receiver), Expr::Path(p) if p.path.is_ident("self")) =>
            {
                let f = self.methods.get(&m.method.to_string())?;
                match &f.sig.output {
                    ReturnType::Type(_, ty) => tuple_type_kinds(ty),
                    ReturnType::Default => None,
                }
            }
            Expr::Call(c) => {
                let Expr::Path(p) = strip(&c.func) else {
                    return None;
                };
                let segs = segment_names(&p.path);
                let is_self = segs.len() == 2
                    && (segs[0] == "Self" || self.self_name.as_deref() == Some(segs[0].as_str()));
                let f = if is_self {
                    self.methods.get(&segs[1])?
                } else {
                    return None;
                };
                match &f.sig.output {
                    ReturnType::Type(_, ty) => tuple_type_kinds(ty),
                    ReturnType::Default => None,
                }
            }
            _ => None,
        }
    }

    /// The kinds of the two sides of the items of `a.zip(b)` (through adaptors that keep
    /// items, like `.take(n)`): `for (x, g) in xs.iter().zip(gains)` binds each side apart.
    fn zip_items(&mut self, e: &Expr) -> Option<Vec<Kind>> {
        match strip(e) {
            Expr::MethodCall(m) if m.method == "zip" && m.args.len() == 1 => {
                let a = self.peek_kind(&m.receiver).item();
                let b = self.peek_kind(&m.args[0]).item();
                Some(vec![a, b])
            }
            Expr::MethodCall(m)
                if matches!(
                    m.method.to_string().as_str(),
                    "take"
                        | "skip"
                        | "rev"
                        | "step_by"
                        | "into_iter"
                        | "iter"
                        | "cloned"
                        | "copied"
                        | "filter"
                        | "inspect"
                        | "take_while"
                        | "skip_while"
                        | "chain"
                ) =>
            {
                self.zip_items(&m.receiver)
            }
            _ => None,
        }
    }

    /// The kind of an expression already walked (for tuple destructuring): paths and
    /// literals only, anything else by a walk that discards its errors.
    fn peek_kind(&mut self, e: &Expr) -> Kind {
        let saved = (self.errors.len(), self.callees.len());
        let k = self.expr(e);
        self.errors.truncate(saved.0);
        self.callees.truncate(saved.1);
        k
    }

    fn item(&mut self, item: &syn::Item) {
        match item {
            syn::Item::Static(s) if matches!(s.mutability, syn::StaticMutability::Mut(_)) => {
                self.errors.push(static_mut::declared(s, &self.function));
            }
            syn::Item::Static(s) if interior_mutability::is_shared_type(&s.ty) => {
                self.errors.push(static_mut::declared(s, &self.function));
            }
            syn::Item::Macro(m) => {
                self.mac(&m.mac);
            }
            syn::Item::Fn(f) => {
                // A local fn is part of the body: analysed here, callable by name.
                let returns = Self::returns_of(&f.sig);
                self.bind_full(
                    f.sig.ident.to_string(),
                    Binding {
                        returns: Some(returns),
                        ..Binding::of(Kind::Plain)
                    },
                );
                let saved = std::mem::take(&mut self.scopes);
                self.function(&f.sig, &f.block);
                self.scopes = saved;
            }
            syn::Item::Use(u) => collect_use_names(&u.tree, &mut self.body_uses),
            _ => {}
        }
    }

    // ----- expressions -----------------------------------------------------------------

    fn cond(&mut self, e: &Expr) -> Kind {
        self.in_cond += 1;
        let k = self.expr(e);
        self.in_cond -= 1;
        k
    }

    fn exprs<'e>(&mut self, es: impl IntoIterator<Item = &'e Expr>) -> Kind {
        es.into_iter()
            .map(|e| self.value_expr(e))
            .fold(Kind::Plain, Kind::join)
    }

    fn expr(&mut self, e: &Expr) -> Kind {
        match e {
            Expr::Lit(_) => Kind::Plain,
            Expr::Path(p) => self.path_expr(p),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Reference(r) => self.expr(&r.expr),
            // `-x`, `!b`, `*r`: the kind of the operand.
            Expr::Unary(u) => {
                if !matches!(u.op, syn::UnOp::Deref(_)) {
                    self.note_operator(&u.expr, None, &u.op);
                }
                self.expr(&u.expr)
            }
            Expr::Binary(b) => self.binary(b),
            Expr::Assign(a) => self.assign(&a.left, &a.right, None),
            Expr::Field(f) => self.field(f),
            Expr::Index(ix) => self.index(ix),
            Expr::MethodCall(m) => self.method_call(m),
            Expr::Call(c) => self.call(c),
            Expr::Macro(m) => self.mac(&m.mac),
            Expr::Block(b) => self.block(&b.block),
            Expr::Unsafe(u) => self.unsafe_block(u),
            Expr::Const(c) => self.block(&c.block),
            Expr::If(i) => self.expr_if(i, None),
            Expr::Match(m) => self.expr_match(m),
            Expr::While(wl) => self.while_loop(wl),
            Expr::Loop(l) => {
                self.block(&l.body);
                Kind::Maybe
            }
            Expr::ForLoop(f) => self.for_loop(f),
            Expr::Let(l) => self.let_expr(l),
            Expr::Closure(c) => {
                self.closure(c, &[]);
                Kind::Plain
            }
            Expr::Try(t) => self.try_expr(t),
            Expr::Return(r) => self.return_expr(r),
            Expr::Break(b) => self.optional_operand(b.expr.as_deref()),
            Expr::Yield(y) => self.optional_operand(y.expr.as_deref()),
            Expr::Cast(c) => self.cast(c),
            Expr::RawAddr(r) => self.raw_addr(r),
            Expr::Tuple(_) | Expr::Array(_) | Expr::Repeat(_) | Expr::Struct(_) => {
                self.container_expr(e)
            }
            Expr::Range(r) => self.range(r),
            Expr::Async(a) => self.block(&a.block),
            Expr::Await(a) => self.expr(&a.base),
            Expr::TryBlock(t) => self.block(&t.block),
            _ => Kind::Plain,
        }
    }

    fn field(&mut self, f: &syn::ExprField) -> Kind {
        let base = self.expr(&f.base);
        // `pair.1` of a tuple whose element kinds are known.
        if let (Some(name), syn::Member::Unnamed(i)) = (local_name(&f.base), &f.member) {
            if let Some(k) = self
                .tuple_fields
                .get(&name)
                .and_then(|ks| ks.get(i.index as usize))
            {
                return *k;
            }
        }
        match base {
            Kind::Module | Kind::Maybe => Kind::Maybe,
            Kind::Tensors | Kind::Enumerated | Kind::EnumItem => Kind::Tensor,
            Kind::Tensor => Kind::Plain,
            other => other,
        }
    }

    // ----- loops and bindings ----------------------------------------------------------

    fn while_loop(&mut self, wl: &syn::ExprWhile) -> Kind {
        let k = self.cond(&wl.cond);
        if k.is_data_like() && !matches!(&*wl.cond, Expr::Let(_)) {
            self.errors.push(data_branch::error(
                &wl.cond,
                data_branch::Construct::While,
                &self.tensor_names(&wl.cond),
                None,
            ));
        }
        self.scoped(|w| {
            if let Expr::Let(l) = &*wl.cond {
                let sk = w.expr(&l.expr);
                w.bind_pat(&l.pat, sk);
            }
            w.stmts(&wl.body.stmts)
        });
        Kind::Plain
    }

    fn for_loop(&mut self, f: &syn::ExprForLoop) -> Kind {
        let it = self.expr(&f.expr);
        if it == Kind::Data {
            self.errors.push(data_branch::error(
                &f.expr,
                data_branch::Construct::ForBound,
                &self.tensor_names(&f.expr),
                None,
            ));
        }
        let elems = self.zip_items(&f.expr);
        self.scoped(|w| {
            match (strip_pat_type(&f.pat), elems) {
                (Pat::Tuple(p), Some(kinds)) if p.elems.len() == kinds.len() => {
                    for (pe, k) in p.elems.iter().zip(kinds) {
                        w.bind_pat(pe, k);
                    }
                }
                _ => w.bind_pat(&f.pat, it.item()),
            }
            w.stmts(&f.body.stmts)
        });
        Kind::Plain
    }

    fn let_expr(&mut self, l: &syn::ExprLet) -> Kind {
        // `if let` / `while let` chains: the scrutinee decides the branch.
        let k = self.expr(&l.expr);
        if k == Kind::Data {
            self.errors.push(data_branch::error(
                &l.expr,
                data_branch::Construct::IfLet,
                &self.tensor_names(&l.expr),
                None,
            ));
        }
        self.bind_pat(&l.pat, k);
        Kind::Plain
    }

    // ----- early exits -----------------------------------------------------------------

    fn try_expr(&mut self, t: &syn::ExprTry) -> Kind {
        // `?` on a value from tensor data (or a tensor's own `Result`) is an error
        // path decided by data; on config or an optional input it is structure,
        // known while exporting.
        let k = self.expr(&t.expr);
        let from_tensor = self
            .idents_of_kind(t.expr.to_token_stream(), Kind::Tensor)
            .next()
            .is_some();
        if k == Kind::Data || k == Kind::Tensor || from_tensor {
            self.errors
                .push(early_return::question_mark(t, &self.function));
        }
        k.item()
    }

    fn return_expr(&mut self, r: &syn::ExprReturn) -> Kind {
        if let Some(v) = &r.expr {
            if is_err_call(v) {
                self.errors
                    .push(early_return::return_err(r, &self.function));
            }
            self.expr(v);
        }
        Kind::Plain
    }

    /// `break v` / `yield v`: the operand is walked, the expression itself is plain.
    fn optional_operand(&mut self, v: Option<&Expr>) -> Kind {
        if let Some(v) = v {
            self.expr(v);
        }
        Kind::Plain
    }

    // ----- casts and pointers ----------------------------------------------------------

    fn cast(&mut self, c: &syn::ExprCast) -> Kind {
        let k = self.expr(&c.expr);
        if matches!(&*c.ty, syn::Type::Ptr(_))
            && (k.holds_tensor() || k == Kind::Module || k == Kind::Maybe)
        {
            self.errors
                .push(pointer_identity::error(c, pointer_identity::What::Cast));
            return Kind::Plain;
        }
        // `n as f64`: a number, derived from data if its operand is.
        if k == Kind::Data {
            Kind::Data
        } else {
            Kind::Plain
        }
    }

    fn raw_addr(&mut self, r: &syn::ExprRawAddr) -> Kind {
        if let Some(name) = static_name(&r.expr) {
            self.errors
                .push(static_mut::access(&r.expr, &name, false, &self.function));
            return Kind::Plain;
        }
        let k = self.expr(&r.expr);
        if k.holds_tensor() {
            self.errors
                .push(pointer_identity::error(r, pointer_identity::What::RawAddr));
        }
        Kind::Plain
    }

    // ----- aggregates ------------------------------------------------------------------

    /// Tuples, arrays, `[x; n]` and struct literals: a container of their elements' kind.
    fn container_expr(&mut self, e: &Expr) -> Kind {
        match e {
            Expr::Tuple(t) => self.exprs(&t.elems).container().join(Kind::Plain),
            Expr::Array(a) => self.exprs(&a.elems).container(),
            Expr::Repeat(r) => {
                self.expr(&r.len);
                self.expr(&r.expr).container()
            }
            Expr::Struct(s) => {
                let k = self.exprs(s.fields.iter().map(|f| &f.expr));
                if let Some(rest) = &s.rest {
                    self.expr(rest);
                }
                k.container()
            }
            _ => Kind::Plain,
        }
    }

    fn range(&mut self, r: &syn::ExprRange) -> Kind {
        let a = r.start.as_ref().map_or(Kind::Plain, |e| self.expr(e));
        let b = r.end.as_ref().map_or(Kind::Plain, |e| self.expr(e));
        if a == Kind::Data || b == Kind::Data {
            Kind::Data
        } else {
            Kind::Plain
        }
    }

    fn path_expr(&mut self, p: &syn::ExprPath) -> Kind {
        if p.qself.is_some() {
            return Kind::Plain;
        }
        if p.path.segments.len() != 1 {
            // `Helper::run` as a value: a method of a type that must be one strict export
            // can see into; `f64::sqrt`, `String::from`, `Some` are values of std.
            let segs = segment_names(&p.path);
            let owner = &segs[segs.len() - 2];
            let last = &segs[segs.len() - 1];
            let module_alias = self.file.is_module(owner);
            if segs.len() == 2 && self.file.is_trait(owner) {
                self.errors
                    .push(opaque_call::trait_value_error(p, owner, last));
                return Kind::Plain;
            }
            if starts_upper(owner)
                && !module_alias
                && !starts_upper(last)
                && !TENSOR_ROOTS.contains(&segs[0].as_str())
                && !is_std_type(owner)
                && !matches!(segs[0].as_str(), "std" | "core" | "alloc" | "Self")
                && self.self_name.as_deref() != Some(segs[0].as_str())
            {
                self.push_callee(Callee::of_type(&p.path));
            }
            // `helpers::scale` as a value: a function of a module, which must be an
            // `export_fn` like one named bare.
            if (!starts_upper(owner) || module_alias)
                && !starts_upper(last)
                && !is_primitive_type(owner)
                && !TENSOR_ROOTS.contains(&segs[0].as_str())
                && !matches!(segs[0].as_str(), "std" | "core" | "alloc")
            {
                self.push_callee(Callee::new(&p.path));
            }
            return Kind::Plain;
        }
        let ident = &p.path.segments[0].ident;
        let name = ident.to_string();
        if name == "self" {
            return self.self_kind;
        }
        if let Some(b) = self.lookup(&name) {
            return b.kind;
        }
        if self.in_unsafe > 0 && !starts_upper(&name) {
            // `unsafe { factor }`: a `static mut`, whatever it is named.
            self.static_accesses += 1;
            self.errors
                .push(static_mut::access(p, &name, false, &self.function));
            return Kind::Plain;
        }
        if !starts_upper(&name) && !is_static_name(&name) {
            // A function used as a value (`xs.iter().map(helper)`, `let f = helper;`): it
            // runs while forward runs, so it must be a `#[ferrex::export_fn]`.
            self.push_callee(Callee::new(&p.path));
            return Kind::Maybe;
        }
        if self.in_unsafe > 0 && is_static_name(&name) {
            self.static_accesses += 1;
            self.errors
                .push(static_mut::access(p, &name, false, &self.function));
        }
        Kind::Plain
    }

    fn binary(&mut self, b: &syn::ExprBinary) -> Kind {
        match b.op {
            _ if unread_impls::is_assign(&b.op) => {
                self.note_operator(&b.left, Some(&b.right), &b.op);
                self.assign(&b.left, &b.right, Some(()))
            }
            BinOp::Eq(_)
            | BinOp::Ne(_)
            | BinOp::Lt(_)
            | BinOp::Le(_)
            | BinOp::Gt(_)
            | BinOp::Ge(_) => {
                let l = self.expr(&b.left);
                let r = self.expr(&b.right);
                l.compare(r)
            }
            BinOp::And(_) | BinOp::Or(_) => {
                let l = self.expr(&b.left);
                let r = self.expr(&b.right);
                l.compare(r)
            }
            _ => {
                let l = self.expr(&b.left);
                let r = self.expr(&b.right);
                self.note_operator(&b.left, Some(&b.right), &b.op);
                l.arith(r)
            }
        }
    }

    /// `a + b`, `-a`, `a += b` with an operand syntax cannot type (a model field, a value
    /// built in forward): the compiler checks that the operator is std's or ferrex's, or
    /// that its impl is marked and read (`opaque_receiver::operator_key`).
    fn note_operator<T: ToTokens>(&mut self, left: &Expr, right: Option<&Expr>, op: &T) {
        if self.untyped_operand(left) || right.is_some_and(|r| self.untyped_operand(r)) {
            self.receiver_checks
                .insert(opaque_receiver::operator_key(op));
        }
    }

    /// Whether syntax cannot tell an operand's type: a value of the model, a value of a
    /// user type built in the body or passed in, or a local of unknown kind.
    fn untyped_operand(&self, e: &Expr) -> bool {
        let opaque_local = |name: &str| {
            name != "self"
                && self
                    .lookup(name)
                    .is_some_and(|b| b.opaque || b.held_value || b.kind == Kind::Maybe)
        };
        match strip(e) {
            Expr::Field(_) | Expr::Index(_) => {
                rooted_at_self_field(e) || place_root(e).is_some_and(|r| opaque_local(&r))
            }
            Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
                opaque_local(&p.path.segments[0].ident.to_string())
            }
            Expr::Struct(_) => true,
            Expr::Call(_) => self.builds_opaque_value(e),
            Expr::MethodCall(m) => self.untyped_operand(&m.receiver),
            Expr::Unary(u) => self.untyped_operand(&u.expr),
            _ => false,
        }
    }

    fn assign(&mut self, left: &Expr, right: &Expr, compound: Option<()>) -> Kind {
        let r = self.value_expr(right);
        match strip(left) {
            Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
                let name = p.path.segments[0].ident.to_string();
                match self.lookup(&name) {
                    Some(b) => {
                        let k = if compound.is_some() {
                            b.kind.arith(r)
                        } else {
                            r
                        };
                        self.rebind(&name, k);
                    }
                    None if self.in_unsafe > 0 && is_static_name(&name) => {
                        self.static_accesses += 1;
                        self.errors
                            .push(static_mut::access(left, &name, true, &self.function));
                    }
                    None => {}
                }
            }
            Expr::Index(ix) => {
                let base = self.expr(&ix.expr);
                self.expr(&ix.index);
                if base.is_tensor() {
                    self.report_access(
                        data_access::Access::IndexWrite {
                            index: text(&ix.index),
                            value: text(right),
                        },
                        left,
                        &ix.expr,
                    );
                }
            }
            other => {
                self.expr(other);
            }
        }
        Kind::Plain
    }

    fn index(&mut self, ix: &syn::ExprIndex) -> Kind {
        let base = self.expr(&ix.expr);
        let i = self.expr(&ix.index);
        match base {
            Kind::Tensor => {
                self.report_access(data_access::Access::Index, ix, &ix.expr);
                Kind::Data
            }
            Kind::Tensors | Kind::Enumerated => Kind::Tensor,
            other if i == Kind::Data => other.join(Kind::Data),
            other => other,
        }
    }

    /// A data read: reported on its own, or, inside a branch condition, as the branch.
    fn report_access<T: ToTokens>(&mut self, access: data_access::Access, node: T, tensor: &Expr) {
        if self.in_cond > 0 {
            return;
        }
        let names = self.tensor_names(tensor);
        self.errors.push(data_access::error(
            node,
            access,
            names.first().map(String::as_str),
        ));
    }

    fn unsafe_block(&mut self, u: &syn::ExprUnsafe) -> Kind {
        let saved = self.static_accesses;
        self.static_accesses = 0;
        self.in_unsafe += 1;
        let k = self.block(&u.block);
        self.in_unsafe -= 1;
        if self.static_accesses == 0 {
            self.errors.push(unsafe_block::error(u, &self.function));
        }
        self.static_accesses = saved;
        k
    }

    // ----- branches --------------------------------------------------------------------

    fn expr_if(&mut self, e: &ExprIf, rest: Option<&[Stmt]>) -> Kind {
        self.scoped(|w| {
            let is_let = matches!(&*e.cond, Expr::Let(_));
            let k = w.cond(&e.cond);
            if k.is_data_like() && !is_let {
                // `break` / `continue` cannot move into a `cond!` branch: the loop itself
                // depends on the data.
                let exits_loop = loop_control(e.then_branch.to_token_stream())
                    || e.else_branch
                        .as_ref()
                        .is_some_and(|(_, b)| loop_control(b.to_token_stream()));
                let ends_program = data_branch::diverges(e.then_branch.to_token_stream())
                    || e.else_branch
                        .as_ref()
                        .is_some_and(|(_, b)| data_branch::diverges(b.to_token_stream()));
                if ends_program && !exits_loop {
                    // `if bad { panic!(..) }`: a check on data, not a branch.
                    w.errors.push(panic_on_data::error(
                        &e.cond,
                        "panic",
                        &w.tensor_names(&e.cond),
                    ));
                    let t = w.block(&e.then_branch);
                    let f = e
                        .else_branch
                        .as_ref()
                        .map_or(Kind::Plain, |(_, o)| w.expr(o));
                    return t.join(f);
                }
                let (construct, suggestion) = if exits_loop {
                    (data_branch::Construct::LoopExit, None)
                } else {
                    (
                        data_branch::Construct::If,
                        Some(w.cond_suggestion(e, k, rest)),
                    )
                };
                w.errors.push(data_branch::error(
                    &e.cond,
                    construct,
                    &w.tensor_names(&e.cond),
                    suggestion,
                ));
            }
            let t = w.block(&e.then_branch);
            let f = match &e.else_branch {
                Some((_, other)) => match &**other {
                    Expr::If(i) => w.expr_if(i, None),
                    other => w.expr(other),
                },
                None => Kind::Plain,
            };
            t.join(f)
        })
    }

    fn expr_match(&mut self, m: &syn::ExprMatch) -> Kind {
        let k = self.cond(&m.expr);
        if k == Kind::Data {
            self.errors.push(data_branch::error(
                &m.expr,
                data_branch::Construct::Match,
                &self.tensor_names(&m.expr),
                None,
            ));
        }
        let mut out = Kind::Plain;
        for arm in &m.arms {
            out = out.join(self.scoped(|w| {
                // A slice pattern takes the items itself (and `rest @ ..` the container).
                let pk = if matches!(arm.pat, Pat::Slice(_)) {
                    k
                } else {
                    k.item()
                };
                w.bind_pat(&arm.pat, pk);
                if let Some((_, guard)) = &arm.guard {
                    let g = w.cond(guard);
                    if g.is_data_like() {
                        let names = w.tensor_names(guard);
                        let ops: Vec<String> = w.tensor_idents(guard.to_token_stream());
                        let pred =
                            data_branch::predicate(guard, g == Kind::Tensor, &w.data_origins);
                        let suggestion =
                            data_branch::cond_call(&pred, &ops, "then_branch", "else_branch");
                        w.errors.push(data_branch::error(
                            guard,
                            data_branch::Construct::Guard,
                            &names,
                            Some(suggestion),
                        ));
                    }
                }
                w.value_expr(&arm.body)
            }));
        }
        out
    }

    /// `cond!(pred, |ops| then, |ops| else, [ops])` written with the user's own code.
    fn cond_suggestion(&mut self, e: &ExprIf, k: Kind, rest: Option<&[Stmt]>) -> String {
        let pred = data_branch::predicate(&e.cond, k == Kind::Tensor, &self.data_origins);
        // Branches that assign locals (`if c { y = y.relu(); }`): `cond!` returns the new
        // values, bound again with `let`.
        let else_stmts: &[Stmt] = match &e.else_branch {
            Some((_, other)) => match &**other {
                Expr::Block(b) => &b.block.stmts,
                _ => &[],
            },
            None => &[],
        };
        let mut names = data_branch::assigned(&e.then_branch.stmts);
        for n in data_branch::assigned(else_stmts) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| self.lookup(n).is_some_and(|b| b.kind.holds_tensor()))
            .collect();
        let has_value = matches!(e.then_branch.stmts.last(), Some(Stmt::Expr(_, None)));
        if !names.is_empty() && !has_value {
            return self.assigning_cond(e, &pred, else_stmts, &names);
        }
        self.valued_cond(e, &pred, rest)
    }

    /// A branch that assigns tensor locals: `let names = cond!(..)` returning their new values.
    fn assigning_cond(
        &mut self,
        e: &ExprIf,
        pred: &str,
        else_stmts: &[Stmt],
        names: &[String],
    ) -> String {
        let then_text = data_branch::assigning_branch_text(&e.then_branch.stmts, names);
        let else_text = if else_stmts.is_empty() {
            data_branch::returned(names)
        } else {
            data_branch::assigning_branch_text(else_stmts, names)
        };
        let mut ops = names.to_vec();
        let mut tokens = e.then_branch.to_token_stream();
        if let Some((_, other)) = &e.else_branch {
            tokens.extend(other.to_token_stream());
        }
        for o in self.tensor_idents(tokens) {
            if !ops.contains(&o) {
                ops.push(o);
            }
        }
        let bound = match names {
            [one] => one.clone(),
            many => format!("({})", many.join(", ")),
        };
        format!(
            "let {bound} = {};",
            data_branch::cond_call(pred, &ops, &then_text, &else_text)
        )
    }

    /// A branch that yields a value (or returns early): `cond!(..)` in its place.
    fn valued_cond(&mut self, e: &ExprIf, pred: &str, rest: Option<&[Stmt]>) -> String {
        let then_text = data_branch::branch_text(&e.then_branch.stmts);
        let (else_text, else_tokens) = match (&e.else_branch, rest) {
            (Some((_, other)), _) => match &**other {
                Expr::Block(b) => (
                    data_branch::branch_text(&b.block.stmts),
                    b.block.to_token_stream(),
                ),
                other => (text(other), other.to_token_stream()),
            },
            // `if c { return a; } b`: the rest of the body is the false branch.
            (None, Some(rest)) if ends_with_return(&e.then_branch) && !rest.is_empty() => {
                let mut tokens = TokenStream::new();
                for s in rest {
                    tokens.extend(s.to_token_stream());
                }
                (data_branch::branch_text(rest), tokens)
            }
            _ => (String::new(), TokenStream::new()),
        };
        let mut ops = self.tensor_idents(e.then_branch.to_token_stream());
        for o in self.tensor_idents(else_tokens) {
            if !ops.contains(&o) {
                ops.push(o);
            }
        }
        if ops.is_empty() {
            ops = self.tensor_idents(e.cond.to_token_stream());
        }
        let else_text = if else_text.is_empty() {
            // No else branch: the false branch hands the operands back unchanged.
            match ops.as_slice() {
                [one] => format!("{one}.clone()"),
                many => format!(
                    "({})",
                    many.iter()
                        .map(|o| format!("{o}.clone()"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        } else {
            else_text
        };
        data_branch::cond_call(pred, &ops, &then_text, &else_text)
    }

    /// The tensors a condition reads, by name (`x`, `self.w`), for the messages.
    fn tensor_names(&self, e: &Expr) -> Vec<String> {
        let mut out = self.tensor_idents(e.to_token_stream());
        // `self.field` receivers of tensor ops count too.
        let mut fields = Vec::new();
        self_fields(e.to_token_stream(), &mut fields);
        for f in fields {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// The tensor an expression is about, for the messages (`x` for `&x`).
    fn first_tensor_name(&self, e: &Expr) -> String {
        self.tensor_names(e)
            .into_iter()
            .next()
            .unwrap_or_else(|| text(e))
    }

    /// Identifiers in `tokens` bound to a value of kind `k` (not after a `.`).
    fn idents_of_kind(&self, tokens: TokenStream, k: Kind) -> impl Iterator<Item = String> + '_ {
        let mut all = Vec::new();
        collect_plain_idents(tokens, &mut all);
        all.into_iter()
            .filter(move |n| self.lookup(n).is_some_and(|b| b.kind == k))
    }

    /// Identifiers in `tokens` bound to tensors, in order of appearance.
    fn tensor_idents(&self, tokens: TokenStream) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_idents(tokens, &mut out);
        out
    }

    fn collect_idents(&self, tokens: TokenStream, out: &mut Vec<String>) {
        let mut prev_dot = false;
        for tt in tokens {
            match tt {
                proc_macro2::TokenTree::Ident(i) => {
                    let name = i.to_string();
                    if !prev_dot
                        && !out.contains(&name)
                        && self.lookup(&name).is_some_and(|b| b.kind.holds_tensor())
                    {
                        out.push(name);
                    }
                    prev_dot = false;
                }
                proc_macro2::TokenTree::Group(g) => {
                    self.collect_idents(g.stream(), out);
                    prev_dot = false;
                }
                proc_macro2::TokenTree::Punct(p) => prev_dot = p.as_char() == '.',
                proc_macro2::TokenTree::Literal(_) => prev_dot = false,
            }
        }
    }

    // ----- calls -----------------------------------------------------------------------

    /// Walks call arguments; closures get `hints` as the kinds of their parameters.
    fn args(
        &mut self,
        args: &Punctuated<Expr, Token![,]>,
        hints: &[Kind],
    ) -> (Vec<Kind>, Option<Kind>) {
        let mut kinds = Vec::new();
        let mut closure = None;
        for a in args {
            match a {
                Expr::Closure(c) => {
                    let k = self.closure(c, hints);
                    closure = Some(closure.map_or(k, |c: Kind| c.join(k)));
                    kinds.push(Kind::Plain);
                }
                other => kinds.push(self.expr(other)),
            }
        }
        (kinds, closure)
    }

    /// Whether any argument holds a tensor (a walk whose errors are discarded).
    fn peek_args_hold_tensor(&mut self, args: &Punctuated<Expr, Token![,]>) -> bool {
        args.iter()
            .filter(|a| !matches!(a, Expr::Closure(_)))
            .any(|a| self.peek_kind(a).holds_tensor())
    }

    fn closure(&mut self, c: &ExprClosure, hints: &[Kind]) -> Kind {
        self.scoped(|w| {
            for (i, p) in c.inputs.iter().enumerate() {
                let k = hints
                    .get(i)
                    .or(hints.last())
                    .copied()
                    .unwrap_or(Kind::Maybe);
                w.bind_pat(p, k);
            }
            w.expr(&c.body)
        })
    }

    fn method_call(&mut self, m: &ExprMethodCall) -> Kind {
        let name = m.method.to_string();
        if let Some(global) = self.global_receiver(&m.receiver) {
            if interior_mutability::access(&name, m.args.len()).is_some() {
                // `COUNTER.fetch_add(..)`, `state::level.load(..)`, `calls.with(..)`, or an
                // alias `let t = &TOTAL; t.load(..)`: whatever the static is called.
                self.errors
                    .push(static_mut::shared_state(m, &global, &self.function));
                self.args(&m.args, &[Kind::Plain]);
                return Kind::Plain;
            }
            if name != "clone" {
                // `STATE.bump()`: a method of a static, judged by its type (a constant
                // array of numbers is plain; a helper holding an atomic is not).
                self.receiver_checks.insert(opaque_receiver::value_key(m));
            }
        }
        let recv = self.expr(&m.receiver);
        self.note_state_and_receiver(m, &name, recv);

        if name == "is_traced" && m.args.is_empty() {
            // Whatever the receiver (`x`, `self.w`): the name is ferrex's.
            self.errors
                .push(pointer_identity::is_traced(m, ".is_traced()"));
            return Kind::Plain;
        }
        if matches!(recv, Kind::Tensors | Kind::Maybe | Kind::Plain) {
            if let Some(k) = self.zip_closure(m) {
                return k;
            }
        }
        match recv {
            Kind::Tensor => self.tensor_method(m, name),
            Kind::Module => self.self_method(m, &name),
            Kind::Tensors | Kind::Enumerated | Kind::EnumItem => {
                self.collection_method(m, &name, recv)
            }
            Kind::Maybe => self.maybe_method(m, name),
            Kind::Data => {
                self.args(&m.args, &[Kind::Data]);
                Kind::Data
            }
            Kind::Sym => {
                self.args(&m.args, &[Kind::Plain]);
                if SYM_TO_PLAIN.contains(&name.as_str()) {
                    Kind::Data
                } else {
                    Kind::Sym
                }
            }
            Kind::Plain => self.plain_method(m, &name),
        }
    }

    /// The name of the global a receiver reaches: a path that is not a local (`COUNTER`,
    /// `state::level`, a `thread_local!` key, a name brought in by `use`), or a local bound
    /// to a reference to one (`let t = &TOTAL;`).
    fn global_receiver(&self, e: &Expr) -> Option<String> {
        let Expr::Path(p) = strip(e) else {
            return None;
        };
        if p.qself.is_some() {
            return None;
        }
        let first = p.path.segments.first()?.ident.to_string();
        let last = p.path.segments.last()?.ident.to_string();
        if first == "self" || first == "Self" {
            return None;
        }
        match self.lookup(&first) {
            Some(b) if p.path.segments.len() == 1 => b.global.then_some(last),
            Some(_) => None,
            None => Some(last),
        }
    }

    /// Shared state touched by the call, and receivers only the compiler can judge.
    fn note_state_and_receiver(&mut self, m: &ExprMethodCall, name: &str, recv: Kind) {
        let nargs = m.args.len();
        // Model attributes (or aliases of them) reached through interior mutability.
        // `self.calls`, `self.cells[0]`, an alias `c` or `s.calls` of one (a local whose
        // kind is unknown: a field of the model, or a parameter of unknown type).
        let model_attribute = rooted_at_self_field(&m.receiver)
            || (recv == Kind::Maybe
                && place_root(&m.receiver).is_some_and(|r| {
                    r != "self" && self.lookup(&r).is_some_and(|b| b.kind == Kind::Maybe)
                }));
        let access = interior_mutability::access(name, nargs);
        if let (true, Some(access)) = (model_attribute, access) {
            self.errors
                .push(interior_mutability::error(m, &text(&m.receiver), access));
        } else if access.is_some()
            && !matches!(recv, Kind::Tensor | Kind::Module)
            && !local_name(&m.receiver)
                .is_some_and(|n| self.lookup(&n).is_some_and(|b| b.fresh_cell))
        {
            // `s.calls.get()` through `let s = self`, `(*self.hits).load(..)`,
            // `self.cell().set(..)`, `STATE[0].fetch_add(..)`: the compiler tells whether
            // the receiver holds shared state.
            self.receiver_checks.insert(opaque_receiver::shared_key(m));
        }
        if !matches!(recv, Kind::Tensor | Kind::Module) {
            let gets_tensor = self.peek_args_hold_tensor(&m.args);
            // A value of a type strict mode does not know: every method is checked by type.
            let opaque = matches!(strip(&m.receiver), Expr::Struct(_))
                || place_root(&m.receiver)
                    .is_some_and(|r| r != "self" && self.lookup(&r).is_some_and(|b| b.opaque));
            if opaque_receiver::needs_check(name, gets_tensor) || (opaque && gets_tensor) {
                self.receiver_checks.insert(opaque_receiver::key(m));
            } else if opaque && name != "clone" && access.is_none() {
                self.receiver_checks.insert(opaque_receiver::value_key(m));
            }
        }
    }

    /// `acc.fold(init, |a, x| …)` over items of kind `item`: the kind of `init` joined with
    /// the closure's.
    fn fold_call(&mut self, m: &ExprMethodCall, item: Kind) -> Kind {
        let init = m.args.first().map_or(Kind::Plain, |a| self.peek_kind(a));
        let (_, closure) = self.args(&m.args, &[init, item]);
        init.join(closure.unwrap_or(Kind::Plain))
    }

    /// A method of a tensor: held to the Tensor API's vocabulary.
    fn tensor_method(&mut self, m: &ExprMethodCall, name: String) -> Kind {
        let (_, closure) = self.args(&m.args, &[Kind::Tensor]);
        // A field of a container guessed to be a tensor may be anything: only a
        // receiver known to be a tensor is held to the vocabulary.
        // `xs.get(0).cloned()`: the item methods of a container give an `Option` of a
        // tensor, whose own methods are std's.
        let of_option = yields_option(&m.receiver);

        let std_of_option = of_option && opaque_receiver::is_std_method(&name);
        let known_tensor = !(matches!(strip(&m.receiver), Expr::Field(_)) || std_of_option);
        if known_tensor && !tensor_api::is_tensor_method(&name) {
            self.errors
                .push(opaque_call::foreign_method_error(m, &name));
            return Kind::Maybe;
        }
        if name == "sym_item" {
            // A symbolic value (`u0`), not the data: see `Kind::Sym`.
            return Kind::Sym;
        }
        if data_access::is_data_read(&name) {
            self.report_access(
                data_access::Access::Method(name, text(&m.receiver)),
                m,
                &m.receiver,
            );
            return Kind::Data;
        }
        if name == "data" && m.args.is_empty() {
            self.report_access(data_access::Access::DataAlias, m, &m.receiver);
            return Kind::Tensor;
        }
        if pointer_identity::is_pointer_method(&name) {
            self.errors.push(pointer_identity::error(
                m,
                pointer_identity::What::Method(name),
            ));
            return Kind::Plain;
        }
        if name == "to_string" {
            self.errors
                .push(tensor_format::to_string(m, &text(&m.receiver)));
            return Kind::Plain;
        }
        if SHAPE_METHODS.contains(&name.as_str()) {
            return Kind::Plain;
        }
        if LIST_OPS.contains(&name.as_str()) {
            return Kind::Tensors;
        }
        closure.map_or(Kind::Tensor, |k| Kind::Tensor.join(k))
    }

    /// A method of a collection of tensors (or of its enumeration).
    fn collection_method(&mut self, m: &ExprMethodCall, name: &str, recv: Kind) -> Kind {
        let item = recv.item();
        if !opaque_receiver::is_std_method(name)
            && !STRUCTURE_METHODS.contains(&name)
            && !ITEM_METHODS.contains(&name)
            && !PUSH_METHODS.contains(&name)
            && !matches!(strip(&m.receiver), Expr::Field(_))
        {
            // `xs.total()` on a `Vec<Tensor>`: an extension trait's method.
            self.errors
                .push(opaque_call::foreign_container_method_error(m, name));
            self.args(&m.args, &[item]);
            return Kind::Maybe;
        }
        if is_fold(name) {
            return self.fold_call(m, item);
        }
        let (_, closure) = self.args(&m.args, &[item]);
        if STRUCTURE_METHODS.contains(&name) {
            return Kind::Plain;
        }
        if PUSH_METHODS.contains(&name) {
            return Kind::Plain;
        }
        if name == "enumerate" {
            return Kind::Enumerated;
        }
        if let Some(k) = closure {
            return if matches!(
                name,
                "filter" | "take_while" | "skip_while" | "inspect" | "for_each"
            ) {
                recv
            } else {
                k.container()
            };
        }
        if ITEM_METHODS.contains(&name) {
            return Kind::Tensor;
        }
        recv
    }

    /// A method of a value that may be a tensor (a model field, a parameter of unknown type).
    fn maybe_method(&mut self, m: &ExprMethodCall, name: String) -> Kind {
        if is_fold(&name) {
            return self.fold_call(m, Kind::Maybe);
        }
        let (kinds, closure) = self.args(&m.args, &[Kind::Maybe]);
        // A field of the model, or a local read out of one (`let k = &self.knob;`).
        let value_of_model = rooted_at_self_field(&m.receiver)
            || place_root(&m.receiver)
                .is_some_and(|r| self.lookup(&r).is_some_and(|b| b.held_value));
        if value_of_model
            && !kinds.iter().any(|k| k.holds_tensor())
            // A std method name is no proof of a std type (`self.stats.next()`): only
            // `clone` is trusted on its own.
            && !matches!(name.as_str(), "forward" | "clone")
            && interior_mutability::access(&name, m.args.len()).is_none()
        {
            // `self.meter.read()`: a method of a value of the model, which may read state
            // the graph would freeze; trusted for modules, tensors and plain values (and
            // std's methods of std containers: `self.stages.first()`).
            self.receiver_checks.insert(opaque_receiver::value_key(m));
        }
        if data_access::is_unmistakable_read(&name) {
            self.report_access(
                data_access::Access::Method(name, text(&m.receiver)),
                m,
                &m.receiver,
            );
            return Kind::Data;
        }
        if data_access::is_data_read(&name) {
            // `self.w.to_vec()`: a read if `self.w` is a tensor, which the compiler
            // decides (`opaque_receiver.rs`).
            self.receiver_checks
                .insert(opaque_receiver::data_read_key(m));
        } else if !tensor_api::is_tensor_method(&name) {
            // `self.w.peek()`: an extension trait's method if `self.w` is a tensor.
            self.receiver_checks
                .insert(opaque_receiver::foreign_method_key(m));
        }
        if name == "forward" {
            return Kind::Tensor;
        }
        if SHAPE_METHODS.contains(&name.as_str()) || STRUCTURE_METHODS.contains(&name.as_str()) {
            return Kind::Plain;
        }
        if let Some(k) = closure {
            return k.container().join(Kind::Maybe);
        }
        if kinds.iter().any(|k| k.is_tensor()) {
            // `self.w.matmul(x)`: a tensor op on a parameter.
            return Kind::Tensor;
        }
        Kind::Maybe
    }

    /// A method of a plain value (config, numbers, a local collection not yet holding tensors).
    fn plain_method(&mut self, m: &ExprMethodCall, name: &str) -> Kind {
        if is_fold(name) {
            return self.fold_call(m, Kind::Plain);
        }
        let (kinds, closure) = self.args(&m.args, &[Kind::Plain]);
        let arg_kind = kinds.iter().copied().fold(Kind::Plain, Kind::join);
        if PUSH_METHODS.contains(&name) && arg_kind.holds_tensor() {
            // `outs.push(y)`: `outs` now holds tensors.
            if let Some(n) = local_name(&m.receiver) {
                self.rebind(&n, Kind::Tensors);
            }
            return Kind::Plain;
        }
        if let Some(k) = closure {
            return k.container();
        }
        if arg_kind == Kind::Data {
            return Kind::Data;
        }
        if arg_kind.holds_tensor() && opaque_receiver::needs_check(name, true) {
            // `helper.apply(&x)`: what it returns is judged as a tensor.
            return Kind::Tensor;
        }
        Kind::Plain
    }

    /// `a.zip(b).map(|(x, g)| …)`: the closure's tuple parameter bound side by side. The
    /// kind of the result, or `None` when the call is not a closure over a zip.
    fn zip_closure(&mut self, m: &ExprMethodCall) -> Option<Kind> {
        let kinds = self.zip_items(&m.receiver)?;
        let [Expr::Closure(c)] = m.args.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let [param] = c.inputs.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let Pat::Tuple(p) = strip_pat_type(param) else {
            return None;
        };
        if p.elems.len() != kinds.len() {
            return None;
        }
        let body = self.scoped(|w| {
            for (pe, k) in p.elems.iter().zip(&kinds) {
                w.bind_pat(pe, *k);
            }
            w.expr(&c.body)
        });
        let name = m.method.to_string();
        Some(match name.as_str() {
            "for_each" => Kind::Plain,
            "filter" | "take_while" | "skip_while" | "inspect" => {
                kinds.into_iter().fold(Kind::Plain, Kind::join).container()
            }
            "any" | "all" | "position" => {
                if body == Kind::Data || body == Kind::Tensor {
                    Kind::Data
                } else {
                    Kind::Plain
                }
            }
            _ => body.container(),
        })
    }

    /// `self.m(..)`: a method of the annotated impl (analysed too), or an opaque call.
    fn self_method(&mut self, m: &ExprMethodCall, name: &str) -> Kind {
        let (kinds, _) = self.args(&m.args, &[Kind::Maybe]);
        if let Some(f) = self.methods.get(name) {
            self.queue.push(name.to_string());
            return Self::returns_of(&f.sig);
        }
        if !MODULE_METHODS.contains(&name) {
            // A method of another impl block, or of a trait: found by the compiler in a
            // block strict mode read, or an error at the call.
            self.other_methods.push((name.to_string(), m.method.span()));
        }
        if kinds.iter().any(|k| k.holds_tensor()) {
            Kind::Tensor
        } else {
            Kind::Maybe
        }
    }

    fn call(&mut self, c: &syn::ExprCall) -> Kind {
        let Expr::Path(p) = strip(&c.func) else {
            return self.value_call(c);
        };
        let path = &p.path;
        let segs = segment_names(path);
        let last = segs.last().cloned().unwrap_or_default();
        let first = segs.first().cloned().unwrap_or_default();

        if last == "is_tracing" && c.args.is_empty() {
            // `ferrex::trace::is_tracing()`, by whatever path: ferrex's own question.
            self.errors
                .push(pointer_identity::is_traced(c, "is_tracing()"));
            return Kind::Plain;
        }
        if catch_unwind::is_catch_unwind(&last) {
            self.errors.push(catch_unwind::error(c, &self.function));
            self.args(&c.args, &[]);
            return Kind::Plain;
        }
        if segs.len() == 1 && p.qself.is_none() {
            if let Some(k) = self.local_fn_call(c, &first) {
                return k;
            }
        }

        let (kinds, closure) = self.args(&c.args, &[Kind::Maybe]);
        let arg_kind = kinds.iter().copied().fold(Kind::Plain, Kind::join);
        let gets_tensor = kinds.iter().any(|k| k.holds_tensor());

        if pointer_identity::is_pointer_fn(&segs) && (gets_tensor || arg_kind == Kind::Maybe) {
            self.errors.push(pointer_identity::error(
                c,
                pointer_identity::What::Function(segs.join("::")),
            ));
            return Kind::Plain;
        }
        if p.qself.is_some() {
            if gets_tensor {
                self.errors
                    .push(opaque_call::assoc_error(c, &text(&c.func)));
            } else {
                // `<G as Gain>::gain()`: the type marked, or a result the graph records.
                self.receiver_checks
                    .insert(opaque_receiver::type_result_key(c));
            }
            return Kind::Maybe;
        }
        // `Self::m(..)`, or the same through the type's name.
        let is_self = first == "Self" || self.self_name.as_deref() == Some(first.as_str());
        if is_self && segs.len() == 2 {
            return self.own_assoc_call(c, &first, &last, gets_tensor);
        }
        // ferrex ops and layers.
        if TENSOR_ROOTS.contains(&first.as_str()) {
            return if matches!(first.as_str(), "SymInt" | "DType") {
                Kind::Plain
            } else if LIST_FNS.contains(&last.as_str()) {
                Kind::Tensors
            } else {
                Kind::Tensor
            };
        }
        // Constructors: `Some(x)`, `Ok(x)`, `Pair(a, b)`, `Out::new(a, b)`, `Box::new(x)`.
        // `Type::new(..)` of a std type; a user type's constructor runs code strict mode has
        // not read, judged below like any associated function.
        let ctor = starts_upper(&last)
            || (segs.len() >= 2
                && (is_std_type(&segs[segs.len() - 2]) || is_std_cell_type(&segs[segs.len() - 2]))
                && matches!(last.as_str(), "new" | "from" | "default"));
        if ctor {
            return arg_kind
                .container()
                .join(closure.unwrap_or(Kind::Plain).container());
        }
        if static_mut::reads_outside(&segs) {
            self.errors
                .push(static_mut::outside(c, &segs.join("::"), &self.function));
            return Kind::Plain;
        }
        // Standard library functions (`std::mem::take`, `std::cmp::max`, `drop`).
        if matches!(first.as_str(), "std" | "core" | "alloc") || is_std_free_fn(&segs) {
            return if arg_kind == Kind::Data {
                Kind::Data
            } else if gets_tensor {
                arg_kind
            } else {
                Kind::Plain
            };
        }
        self.foreign_call(c, path, &segs, arg_kind, gets_tensor)
    }

    /// `(self.f)(x)`, `make()(x)`: a function held in a value, opaque.
    fn value_call(&mut self, c: &syn::ExprCall) -> Kind {
        self.expr(&c.func);
        let (kinds, _) = self.args(&c.args, &[Kind::Maybe]);
        // With or without a tensor: what it returns (`(self.gain)()`) may come from
        // anywhere.
        self.errors.push(opaque_call::value_call_error(c));
        kinds.into_iter().fold(Kind::Maybe, Kind::join)
    }

    /// A closure, local fn or function-typed parameter of the body: every function
    /// value is checked where it is made (a closure is analysed where written, a
    /// function named as a value must be an `export_fn`). `None` when `name` is not local.
    fn local_fn_call(&mut self, c: &syn::ExprCall, name: &str) -> Option<Kind> {
        let b = self.lookup(name)?;
        if b.held_value {
            // `let f = &self.act; f(x)`: the function a field holds, opaque as `(self.act)(x)`.
            return Some(self.value_call(c));
        }
        let (kinds, _) = self.args(&c.args, &[Kind::Maybe]);
        let gets_tensor = kinds.iter().any(|k| k.holds_tensor());
        Some(b.returns.unwrap_or(if gets_tensor {
            Kind::Tensor
        } else {
            Kind::Maybe
        }))
    }

    /// `Self::m(..)` or `Model::m(..)`: a method of the impl being exported, queued for
    /// analysis.
    fn own_assoc_call(
        &mut self,
        c: &syn::ExprCall,
        first: &str,
        last: &str,
        gets_tensor: bool,
    ) -> Kind {
        if let Some(f) = self.methods.get(last) {
            self.queue.push(last.to_string());
            return Self::returns_of(&f.sig);
        }
        if first != "Self" && FORWARD_FNS.contains(&last) {
            // `Model::forward(&self.inner, x)` of another instance of this type.
            return Kind::Tensor;
        }
        if !MODULE_METHODS.contains(&last) {
            let span = match strip(&c.func) {
                Expr::Path(p) => p.path.segments.last().map(|s| s.ident.span()),
                _ => None,
            };
            self.other_methods.push((
                last.to_string(),
                span.unwrap_or_else(proc_macro2::Span::call_site),
            ));
        }
        if gets_tensor {
            Kind::Tensor
        } else {
            Kind::Maybe
        }
    }

    /// An associated function of some other type (`Block::forward(&self.block, x)`,
    /// `T::cat(..)` for `use ferrex::Tensor as T`) or a free function: the type must be
    /// one strict export can see into, which the generated code checks.
    fn foreign_call(
        &mut self,
        c: &syn::ExprCall,
        path: &syn::Path,
        segs: &[String],
        arg_kind: Kind,
        gets_tensor: bool,
    ) -> Kind {
        let first = segs.first().cloned().unwrap_or_default();
        let last = segs.last().cloned().unwrap_or_default();
        let owner = segs.len().checked_sub(2).map(|i| segs[i].as_str());
        if owner.is_some_and(|o| FERREX_TRAITS.contains(&o)) {
            // `Forward::forward_args(&self.inner, …)`: a ferrex trait, implemented by modules.
            return Kind::Tensor;
        }
        if owner.is_some_and(is_std_type) {
            // `Clone::clone(x)`, `Option::unwrap_or(o, x)`, `Rc::clone(&self.hits)`: the
            // standard library, giving back a value of the kind it was given.
            return if gets_tensor || arg_kind == Kind::Maybe {
                arg_kind
            } else {
                Kind::Plain
            };
        }
        if segs.len() == 2 && self.type_params.contains(&first) {
            // `T::func(x)` through a type parameter: which body runs depends on the
            // instantiation.
            if gets_tensor {
                self.errors
                    .push(opaque_call::assoc_error(c, &text(&c.func)));
            }
            return Kind::Maybe;
        }
        if segs.len() == 2 && owner.is_some_and(|o| self.file.is_trait(o)) {
            // `Peek::peek(x)`: a trait's method, whose impls syntax cannot place.
            self.errors
                .push(opaque_call::trait_call_error(c, &segs[0], &last));
            return Kind::Maybe;
        }
        // `use crate::blocks as B; B::f(x)`: a module's function, checked like one named
        // by its module's path.
        let module_alias = owner.is_some_and(|o| self.file.is_module(o));
        if segs.len() >= 2 && starts_upper(&segs[segs.len() - 2]) && !module_alias {
            if FORWARD_FNS.contains(&last.as_str()) && !c.args.is_empty() {
                // `Block::forward(&self.block, x)`: the instance must be a module, checked
                // at the call (the type may be generic, and cannot be named bare).
                self.receiver_checks
                    .insert(opaque_receiver::first_arg_key(c));
                return Kind::Tensor;
            }
            if gets_tensor {
                self.push_callee(Callee::of_type(path));
                return if LIST_FNS.contains(&last.as_str()) {
                    Kind::Tensors
                } else {
                    Kind::Tensor
                };
            }
            if path.segments.iter().all(|s| s.arguments.is_empty()) {
                // `Clock::now()`: the type must be one strict export can see into, or the
                // result something the graph records.
                self.receiver_checks
                    .insert(opaque_receiver::type_result_key(c));
            }
            return Kind::Maybe;
        }
        // A free function given a tensor: it must be a `#[ferrex::export_fn]`, checked by
        // the generated code (the macro cannot see other items).
        if gets_tensor {
            self.push_callee(Callee::new(path));
            return Kind::Maybe;
        }
        // Given no tensor, it may still read state outside the model (`gain()` reading a
        // global): marked, or returning what the graph records (`op().call(..)`).
        if !is_primitive_type(
            segs.get(segs.len().wrapping_sub(2))
                .map_or("", String::as_str),
        ) && !is_std_free_fn(segs)
        {
            self.receiver_checks.insert(opaque_receiver::result_key(c));
        }
        if arg_kind == Kind::Data {
            Kind::Data
        } else {
            Kind::Maybe
        }
    }

    fn push_callee(&mut self, callee: Option<Callee>) {
        if let Some(callee) = callee {
            if !self.callees.iter().any(|c| c.same_path(&callee)) {
                self.callees.push(callee);
            }
        }
    }

    // ----- macros ----------------------------------------------------------------------

    fn mac(&mut self, mac: &syn::Macro) -> Kind {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if name == "thread_local" {
            self.errors
                .push(static_mut::thread_local_declared(mac, &self.function));
            return Kind::Plain;
        }
        if !KNOWN_MACROS.contains(&name.as_str()) {
            // A macro's expansion is not visible: with a tensor (or the model) among its
            // tokens it is an opaque call.
            let mut names = self.tensor_idents(mac.tokens.clone());
            if mentions_self(mac.tokens.clone()) {
                names.push("self".into());
            }
            self.errors
                .push(opaque_call::macro_error(mac, &name, &names));
        }
        let parsed = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated);
        let args: Vec<Expr> = match parsed {
            Ok(p) => p.into_iter().collect(),
            Err(_) => {
                // `vec![x; n]` and friends.
                if let Ok(r) = mac.parse_body::<VecRepeat>() {
                    self.expr(&r.len);
                    return self.expr(&r.elem).container();
                }
                return Kind::Maybe;
            }
        };
        self.macro_args(mac, &name, &args)
    }

    /// A macro whose body parsed as comma-separated expressions, judged by its name.
    fn macro_args(&mut self, mac: &syn::Macro, name: &str, args: &[Expr]) -> Kind {
        match name {
            "cond" | "map" => {
                for a in args {
                    match a {
                        Expr::Closure(c) => {
                            self.closure(c, &[Kind::Tensor]);
                        }
                        other => {
                            self.expr(other);
                        }
                    }
                }
                Kind::Tensor
            }
            "vec" => self.exprs(args).container(),
            "matches" => args.first().map_or(Kind::Plain, |e| {
                let k = self.expr(e);
                if k == Kind::Data {
                    Kind::Data
                } else {
                    Kind::Plain
                }
            }),
            "addr_of" | "addr_of_mut" => self.addr_of_macro(mac, name, args),
            "assert" | "debug_assert" | "assert_eq" | "assert_ne" | "debug_assert_eq"
            | "debug_assert_ne" | "panic" | "unreachable" | "todo" | "unimplemented" => {
                self.panicking_macro(mac, name, args)
            }
            "write" | "writeln" => {
                if let Some((dest, rest)) = args.split_first() {
                    self.expr(dest);
                    self.format_args(rest, name);
                }
                Kind::Plain
            }
            "format" | "print" | "println" | "eprint" | "eprintln" | "format_args" | "trace"
            | "debug" | "info" | "warn" | "error" | "log" => {
                self.format_args(args, name);
                Kind::Plain
            }
            "dbg" => {
                for a in args {
                    if self.expr(a).holds_tensor() {
                        let name = self.first_tensor_name(a);
                        self.errors
                            .push(tensor_format::error(a, &name, "dbg!", None));
                    }
                }
                Kind::Plain
            }
            _ => {
                let k = self.exprs(args);
                if k == Kind::Data {
                    Kind::Data
                } else {
                    Kind::Maybe
                }
            }
        }
    }

    /// `addr_of!(x)` / `addr_of_mut!(x)`: a static's address or a tensor's identity.
    fn addr_of_macro(&mut self, mac: &syn::Macro, name: &str, args: &[Expr]) -> Kind {
        if let Some(e) = args.first() {
            if let Some(n) = static_name(e) {
                self.errors.push(static_mut::access(
                    e,
                    &n,
                    name == "addr_of_mut",
                    &self.function,
                ));
            } else if self.expr(e).holds_tensor() {
                self.errors.push(pointer_identity::error(
                    mac,
                    pointer_identity::What::Function(name.to_string()),
                ));
            }
        }
        Kind::Plain
    }

    /// Asserts and panics: a panic decided by tensor data is a graph break.
    fn panicking_macro(&mut self, mac: &syn::Macro, name: &str, args: &[Expr]) -> Kind {
        match name {
            "assert" | "debug_assert" => {
                if let Some((cond, msg)) = args.split_first() {
                    let k = self.cond(cond);
                    if k.is_data_like() {
                        self.errors.push(panic_on_data::error(
                            cond,
                            name,
                            &self.tensor_names(cond),
                        ));
                    }
                    self.format_args(msg, name);
                }
            }
            "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => {
                if args.len() >= 2 {
                    let a = self.cond(&args[0]);
                    let b = self.cond(&args[1]);
                    if a.compare(b) == Kind::Data {
                        let mut names = self.tensor_names(&args[0]);
                        names.extend(self.tensor_names(&args[1]));
                        self.errors.push(panic_on_data::error(mac, name, &names));
                    }
                    self.format_args(&args[2..], name);
                }
            }
            _ => {
                let data = self.format_args(args, name);
                if data {
                    self.errors.push(panic_on_data::error(mac, name, &[]));
                }
            }
        }
        Kind::Plain
    }

    /// Checks the arguments of a formatting macro (format string first). Returns whether
    /// an argument is derived from tensor data.
    fn format_args(&mut self, args: &[Expr], mac: &str) -> bool {
        let Some((fmt, rest)) = args.split_first() else {
            return false;
        };
        let mut data = false;
        let mac_name = format!("{mac}!");
        // `println!("{x:?}", x = x.sizes())`: a named argument shadows the binding; it is
        // judged below as an argument.
        let named: Vec<String> = rest
            .iter()
            .filter_map(|a| match a {
                Expr::Assign(n) => local_name(&n.left),
                _ => None,
            })
            .collect();
        if let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) = fmt
        {
            for (name, spec) in tensor_format::placeholders(&s.value()) {
                if let Some(name) = name.filter(|n| !named.contains(n)) {
                    if let Some(b) = self.lookup(&name) {
                        if b.kind.holds_tensor() {
                            if spec == "p" {
                                self.errors.push(pointer_identity::error(
                                    s,
                                    pointer_identity::What::Format,
                                ));
                            } else {
                                let fix = if rest.is_empty() {
                                    tensor_format::sizes_instead(s, None, Some(&name))
                                } else {
                                    None
                                };
                                self.errors
                                    .push(tensor_format::error(s, &name, &mac_name, fix));
                            }
                        } else if b.kind == Kind::Data {
                            data = true;
                        }
                    }
                }
            }
        } else {
            self.expr(fmt);
        }
        let positional = positional_specs(fmt);
        for (i, a) in rest.iter().enumerate() {
            let value = match a {
                Expr::Assign(named) => &*named.right,
                other => other,
            };
            let k = self.expr(value);
            if k.holds_tensor() || k == Kind::Module {
                if positional.get(i).is_some_and(|spec| spec == "p") {
                    self.errors.push(pointer_identity::error(
                        value,
                        pointer_identity::What::Format,
                    ));
                } else if k.holds_tensor() {
                    let name = self.first_tensor_name(value);
                    let fix = match (fmt, local_name(a), positional.get(i)) {
                        (Expr::Lit(lit), Some(arg), Some(spec)) => match &lit.lit {
                            syn::Lit::Str(s) => {
                                tensor_format::sizes_instead(s, Some((&arg, spec)), None)
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    self.errors
                        .push(tensor_format::error(value, &name, &mac_name, fix));
                }
            } else if k == Kind::Data {
                data = true;
            }
        }
        data
    }
}

/// Macros whose expansion the walker knows (it reads their arguments as expressions).
const KNOWN_MACROS: &[&str] = &[
    "cond",
    "map",
    "vec",
    "matches",
    "addr_of",
    "addr_of_mut",
    "assert",
    "debug_assert",
    "assert_eq",
    "assert_ne",
    "debug_assert_eq",
    "debug_assert_ne",
    "panic",
    "unreachable",
    "todo",
    "unimplemented",
    "write",
    "writeln",
    "format",
    "print",
    "println",
    "eprint",
    "eprintln",
    "format_args",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "log",
    "dbg",
    "stringify",
    "concat",
    "line",
    "column",
    "file",
    "module_path",
    "cfg",
    "env",
    "option_env",
    "include_str",
    "include_bytes",
    "compile_error",
];

/// The names of the type parameters of `generics`.
fn type_params(generics: &syn::Generics) -> HashSet<String> {
    generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect()
}

/// The kinds of the elements of a tuple type (`(Tensor, usize)` → tensor, plain).
fn tuple_type_kinds(ty: &syn::Type) -> Option<Vec<Kind>> {
    match ty {
        syn::Type::Tuple(t) => Some(t.elems.iter().map(kind::of_type).collect()),
        syn::Type::Paren(p) => tuple_type_kinds(&p.elem),
        syn::Type::Group(g) => tuple_type_kinds(&g.elem),
        _ => None,
    }
}

/// Identifiers of `tokens` that are not field or method names (not after a `.`).
fn collect_plain_idents(tokens: TokenStream, out: &mut Vec<String>) {
    let mut prev_dot = false;
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Ident(i) => {
                if !prev_dot {
                    out.push(i.to_string());
                }
                prev_dot = false;
            }
            proc_macro2::TokenTree::Group(g) => {
                collect_plain_idents(g.stream(), out);
                prev_dot = false;
            }
            proc_macro2::TokenTree::Punct(p) => prev_dot = p.as_char() == '.',
            proc_macro2::TokenTree::Literal(_) => prev_dot = false,
        }
    }
}

/// Whether tokens mention `self`.
fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => i == "self",
        proc_macro2::TokenTree::Group(g) => mentions_self(g.stream()),
        _ => false,
    })
}

/// `vec![elem; len]`.
struct VecRepeat {
    elem: Expr,
    len: Expr,
}

impl syn::parse::Parse for VecRepeat {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let elem = input.parse()?;
        input.parse::<Token![;]>()?;
        let len = input.parse()?;
        Ok(VecRepeat { elem, len })
    }
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        Expr::Group(g) => strip(&g.expr),
        Expr::Reference(r) => strip(&r.expr),
        other => other,
    }
}

fn strip_pat_type(p: &Pat) -> &Pat {
    match p {
        Pat::Type(t) => strip_pat_type(&t.pat),
        other => other,
    }
}

fn starts_upper(s: &str) -> bool {
    s.trim_start_matches("r#")
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
}

/// `COUNTER`, `CACHE_SIZE`: how a `static` is named.
fn is_static_name(s: &str) -> bool {
    s.len() > 1
        && s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn static_name(e: &Expr) -> Option<String> {
    match strip(e) {
        Expr::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?.ident.to_string();
            is_static_name(&last).then_some(last)
        }
        _ => None,
    }
}

/// The specs of a format string's positional placeholders (`{:?}` → `?`).
fn positional_specs(fmt: &Expr) -> Vec<String> {
    match fmt {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => tensor_format::placeholders(&s.value())
            .into_iter()
            .filter(|(n, _)| n.is_none())
            .map(|(_, spec)| spec)
            .collect(),
        _ => Vec::new(),
    }
}

fn local_name(e: &Expr) -> Option<String> {
    match strip(e) {
        Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.to_string())
        }
        _ => None,
    }
}

/// `self.field`, `self.a.b`: a model attribute.
fn rooted_at_self_field(e: &Expr) -> bool {
    match strip(e) {
        Expr::Field(f) => match strip(&f.base) {
            Expr::Path(p) => p.path.is_ident("self"),
            other => rooted_at_self_field(other),
        },
        Expr::Index(ix) => rooted_at_self_field(&ix.expr),
        _ => false,
    }
}

/// The local a place expression starts from (`s` for `s.calls[0]`).
fn place_root(e: &Expr) -> Option<String> {
    match strip(e) {
        Expr::Field(f) => place_root(&f.base),
        Expr::Index(ix) => place_root(&ix.expr),
        Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.to_string())
        }
        _ => None,
    }
}

/// `self.w` occurrences in tokens, as text.
fn self_fields(tokens: TokenStream, out: &mut Vec<String>) {
    let toks: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    for (i, tt) in toks.iter().enumerate() {
        match tt {
            proc_macro2::TokenTree::Ident(id) if id == "self" => {
                if let (
                    Some(proc_macro2::TokenTree::Punct(p)),
                    Some(proc_macro2::TokenTree::Ident(f)),
                ) = (toks.get(i + 1), toks.get(i + 2))
                {
                    let is_call = matches!(toks.get(i + 3), Some(proc_macro2::TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Parenthesis);
                    if p.as_char() == '.' && !is_call {
                        let s = format!("self.{f}");
                        if !out.contains(&s) {
                            out.push(s);
                        }
                    }
                }
            }
            proc_macro2::TokenTree::Group(g) => self_fields(g.stream(), out),
            _ => {}
        }
    }
}

fn is_fold(name: &str) -> bool {
    matches!(name, "fold" | "try_fold" | "rfold")
}

/// Types of the standard prelude, whose associated functions (`String::from`) may be
/// passed as values.
fn is_std_type(name: &str) -> bool {
    matches!(
        name,
        "String"
            | "Vec"
            | "Option"
            | "Result"
            | "Box"
            | "Rc"
            | "Arc"
            | "HashMap"
            | "BTreeMap"
            | "HashSet"
            | "BTreeSet"
            | "VecDeque"
            | "Default"
            | "Iterator"
            | "IntoIterator"
            | "Into"
            | "From"
            | "ToString"
            | "Clone"
            | "Ord"
            | "PartialOrd"
            | "PartialEq"
            | "Some"
            | "Ok"
            | "Err"
            | "Cow"
            | "ToOwned"
    )
}

/// Whether a method chain gives an `Option` of a container's item (`xs.get(0)`,
/// `m.get("a").cloned()`), whose methods are std's even when the item is a tensor.
fn yields_option(e: &Expr) -> bool {
    let Expr::MethodCall(m) = strip(e) else {
        return false;
    };
    match m.method.to_string().as_str() {
        "get" | "first" | "last" | "next" | "pop" | "nth" | "pop_front" | "pop_back"
        | "get_mut" | "first_mut" | "last_mut" | "next_back" | "find" => true,
        "cloned" | "copied" | "as_ref" | "as_mut" | "map" | "and_then" | "or" | "or_else"
        | "filter" | "take" | "xor" => yields_option(&m.receiver),
        _ => false,
    }
}

/// The function a std conversion runs on its target type (`Default::default()`: `default`,
/// `.into()`: `from`, `.parse()`: `from_str`), which a marked impl of that type defines.
pub(crate) fn conversion_fn(e: &Expr) -> &'static str {
    let name = match strip(e) {
        Expr::Call(c) => match strip(&c.func) {
            Expr::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        },
        Expr::MethodCall(m)
            if matches!(
                m.method.to_string().as_str(),
                "unwrap" | "expect" | "unwrap_or_default"
            ) =>
        {
            return conversion_fn(&m.receiver)
        }
        Expr::MethodCall(m) => Some(m.method.to_string()),
        _ => None,
    };
    match name.as_deref() {
        Some("default") => "default",
        Some("try_from" | "try_into") => "try_from",
        Some("from_str" | "parse") => "from_str",
        _ => "from",
    }
}

/// A std conversion whose body is the target type's: `Default::default()`,
/// `From::from(..)`, `T::try_from(..)` through a trait path, `x.into()`, `s.parse()`.
fn is_conversion(e: &Expr) -> bool {
    match strip(e) {
        Expr::Call(c) => matches!(strip(&c.func), Expr::Path(p)
            if p.path.segments.len() == 2
                && matches!(p.path.segments[0].ident.to_string().as_str(),
                    "Default" | "From" | "Into" | "TryFrom" | "TryInto" | "FromStr")),
        Expr::MethodCall(m) => match m.method.to_string().as_str() {
            "into" | "try_into" | "parse" => true,
            "unwrap" | "expect" | "unwrap_or_default" => is_conversion(&m.receiver),
            _ => false,
        },
        _ => false,
    }
}

/// The identifiers of a path, in order (`std::cell::Cell` → `["std", "cell", "Cell"]`).
pub(crate) fn segment_names(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// `Cell::new(..)`, `RefCell::default()`: a cell built where it is bound.
fn is_fresh_cell(e: &Expr) -> bool {
    let Expr::Call(c) = strip(e) else {
        return false;
    };
    let Expr::Path(p) = strip(&c.func) else {
        return false;
    };
    let segs = segment_names(&p.path);
    matches!(segs.as_slice(), [.., owner, f] if is_std_cell_type(owner) && matches!(f.as_str(), "new" | "default"))
}

/// Generic std types whose constructors build a fresh value (`Cell::new(0.0)` in forward
/// holds no state between calls); their other functions are judged like any type's.
fn is_std_cell_type(name: &str) -> bool {
    matches!(
        name,
        "Cell"
            | "RefCell"
            | "Mutex"
            | "RwLock"
            | "OnceCell"
            | "PhantomData"
            | "Wrapping"
            | "Reverse"
            | "BinaryHeap"
            | "LinkedList"
    )
}

/// The names a pattern binds.
fn pat_idents(p: &Pat, out: &mut Vec<String>) {
    match p {
        Pat::Ident(i) => out.push(i.ident.to_string()),
        Pat::Type(t) => pat_idents(&t.pat, out),
        Pat::Reference(r) => pat_idents(&r.pat, out),
        Pat::Paren(p) => pat_idents(&p.pat, out),
        Pat::Tuple(t) => t.elems.iter().for_each(|e| pat_idents(e, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|e| pat_idents(e, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| pat_idents(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|e| pat_idents(e, out)),
        _ => {}
    }
}

/// The traits of ferrex that modules implement (`Forward::forward_args(&m, …)`).
const FERREX_TRAITS: &[&str] = &["Forward", "Module", "Layer", "ModuleExt"];

/// Methods every module has (ferrex's `Module` / `ModuleExt` / `Forward`, and derivable
/// std traits), which a strict body may call on `self` without reading their bodies.
const MODULE_METHODS: &[&str] = &[
    "named_parameters",
    "named_buffers",
    "named_constants",
    "state_dict",
    "visit",
    "visit_tensors",
    "get_parameter",
    "get_buffer",
    "arg_names",
    "source_lines",
    "type_name",
    "clone",
    "to_owned",
    "eq",
    "ne",
    "fmt",
];

/// `forward` and its trait forms.
const FORWARD_FNS: &[&str] = &["forward", "forward_args", "forward_layer"];

/// Free functions of the standard library, in the prelude or commonly imported by name
/// (`use std::cmp::max;`).
fn is_std_free_fn(segs: &[String]) -> bool {
    segs.len() == 1
        && matches!(
            segs[0].as_str(),
            "drop"
                | "identity"
                | "max"
                | "min"
                | "max_by"
                | "min_by"
                | "max_by_key"
                | "min_by_key"
                | "swap"
                | "replace"
                | "take"
                | "size_of"
                | "align_of"
                | "size_of_val"
                | "from_fn"
                | "repeat"
                | "repeat_n"
                | "once"
                | "empty"
                | "zip"
        )
}

/// The primitive types, whose associated functions (`f64::max`, `usize::pow`) are std's.
fn is_primitive_type(name: &str) -> bool {
    matches!(
        name,
        "bool"
            | "char"
            | "str"
            | "f32"
            | "f64"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
    )
}

fn is_err_call(e: &Expr) -> bool {
    match strip(e) {
        Expr::Call(c) => {
            matches!(strip(&c.func), Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Err"))
        }
        _ => false,
    }
}

fn ends_with_return(b: &Block) -> bool {
    matches!(b.stmts.last(), Some(Stmt::Expr(Expr::Return(_), _)))
}

fn collect_use_names(tree: &syn::UseTree, out: &mut HashSet<String>) {
    match tree {
        syn::UseTree::Path(p) => collect_use_names(&p.tree, out),
        syn::UseTree::Name(n) => {
            out.insert(n.ident.to_string());
        }
        syn::UseTree::Rename(r) => {
            out.insert(r.rename.to_string());
        }
        syn::UseTree::Glob(_) => {
            out.insert("*".into());
        }
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| collect_use_names(t, out)),
    }
}

/// Whether tokens contain `break` or `continue` (outside closures, which cannot hold them
/// for an enclosing loop anyway).
fn loop_control(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => i == "break" || i == "continue",
        proc_macro2::TokenTree::Group(g) => loop_control(g.stream()),
        _ => false,
    })
}
