//! What the file of the macro call declares, for the paths whose meaning syntax cannot
//! decide from the annotated item alone: `Owner::f(x)` with `Owner` a trait of this file
//! (`Peek::peek(x)`, a trait's method called on a tensor) or a module alias of this file
//! (`use crate::blocks as B; B::f(x)`). A type path and a trait or module path are spelled
//! alike, and no generated check compiles for all three, so the file is read once per
//! compilation (`proc_macro::Span::local_file`). Anything not declared in the file keeps
//! the type reading (checked by the compiler, `OwnerCheck`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use quote::ToTokens;
use syn::visit::Visit;

/// The names the file declares that a path `Name::f` may start with.
#[derive(Default)]
pub struct FileItems {
    /// `trait Name` anywhere in the file (nested modules included).
    pub traits: HashSet<String>,
    /// `use path::module as Name` (the renamed item starts lowercase, so it is a module
    /// or a function; used as `Name::f`, a module) and `mod Name`.
    pub module_aliases: HashSet<String>,
    /// `struct`, `enum`, `union`, `type` names: a name that is also one of these keeps the
    /// type reading.
    pub types: HashSet<String>,
    /// Every `impl` block of the file, in file order.
    pub impls: Vec<ImplBlock>,
    /// The module (a path of `mod` names from the file's top) that declares each type, and
    /// each free function; `None` for a name declared in several.
    pub type_modules: HashMap<String, Option<Vec<String>>>,
    pub fn_modules: HashMap<String, Option<Vec<String>>>,
    /// The module the visitor is in.
    module: Vec<String>,
}

/// An `impl` block of the file, as text.
pub struct ImplBlock {
    self_ty: String,
    /// The trait's path, `None` for an inherent block.
    trait_path: Option<String>,
    /// Marked `#[ferrex::export_fn]` or `#[export_module(…)]`: strict mode reads it.
    marked: bool,
    methods: Vec<String>,
    /// The module that holds the block.
    pub module: Vec<String>,
    /// The trait's name (last segment), the impl's generics and the self type's name.
    pub trait_name: Option<String>,
    pub generics: String,
    pub type_name: Option<String>,
}

impl ImplBlock {
    fn of(item: &syn::ItemImpl) -> ImplBlock {
        ImplBlock {
            self_ty: item.self_ty.to_token_stream().to_string(),
            trait_path: item
                .trait_
                .as_ref()
                .map(|(_, p, _)| p.to_token_stream().to_string()),
            marked: item.attrs.iter().any(|a| {
                a.path()
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "export_fn" || s.ident == "export_module")
            }),
            module: Vec::new(),
            trait_name: item
                .trait_
                .as_ref()
                .and_then(|(_, p, _)| p.segments.last())
                .map(|s| s.ident.to_string()),
            generics: item.generics.to_token_stream().to_string(),
            type_name: match &*item.self_ty {
                syn::Type::Path(p) if p.qself.is_none() => {
                    p.path.segments.last().map(|s| s.ident.to_string())
                }
                _ => None,
            },
            methods: item
                .items
                .iter()
                .filter_map(|i| match i {
                    syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
                    _ => None,
                })
                .collect(),
        }
    }

    pub fn is_marked(&self) -> bool {
        self.marked
    }

    pub fn self_ty(&self) -> &str {
        &self.self_ty
    }

    fn same_block(&self, other: &ImplBlock) -> bool {
        self.self_ty == other.self_ty
            && self.trait_path == other.trait_path
            && self.methods == other.methods
    }
}

impl FileItems {
    /// `Name` is only a trait of this file.
    pub fn is_trait(&self, name: &str) -> bool {
        self.traits.contains(name) && !self.types.contains(name)
    }

    /// Whether the marked block `item` emits the marker that strict mode read `method` of
    /// its type (`CheckedMethod<hash>`): one block per type and method name, so two marked
    /// blocks defining one name (`impl From<f64>` and `impl From<i32>`) do not collide. The
    /// first in the file emits it, and none does when a block of the file defining that
    /// name for the type is not marked (which of them a call runs is the compiler's
    /// choice). A block the file does not hold (written by a macro) emits its own.
    pub fn emits_method_marker(&self, item: &syn::ItemImpl, method: &str) -> bool {
        let this = ImplBlock::of(item);
        let mut defining = self
            .impls
            .iter()
            .filter(|b| b.self_ty == this.self_ty && b.methods.iter().any(|m| m == method));
        if !self.impls.iter().any(|b| b.same_block(&this)) {
            return true;
        }
        let all_marked = defining.clone().all(|b| b.marked);
        all_marked && defining.next().is_some_and(|b| b.same_block(&this))
    }

    /// The unmarked impls of the file's trait `tr` whose impls the file holds: the self
    /// type as written and the first function it defines (`(Ticking, gain)`).
    pub fn unmarked_impls_of(&self, tr: &str) -> Vec<(String, Option<String>)> {
        if !self.is_trait(tr) {
            return Vec::new();
        }
        self.impls
            .iter()
            .filter(|b| !b.marked && b.trait_name.as_deref() == Some(tr))
            .map(|b| (b.self_ty.clone(), b.methods.first().cloned()))
            .collect()
    }

    /// Whether the marked inherent block `item` emits its type's `TracedReceiver`: the
    /// first marked inherent block of the type in the file does.
    pub fn emits_receiver_marker(&self, item: &syn::ItemImpl) -> bool {
        let this = ImplBlock::of(item);
        if !self.impls.iter().any(|b| b.same_block(&this)) {
            return true;
        }
        self.impls
            .iter()
            .find(|b| b.self_ty == this.self_ty && b.trait_path.is_none() && b.marked)
            .is_none_or(|b| b.same_block(&this))
    }

    /// `Name` is only a module (or a module alias) of this file.
    pub fn is_module(&self, name: &str) -> bool {
        self.module_aliases.contains(name)
            && !self.types.contains(name)
            && !self.traits.contains(name)
    }
}

impl FileItems {
    fn declare_type(&mut self, ident: &syn::Ident) {
        self.types.insert(ident.to_string());
        let at = Some(self.module.clone());
        self.type_modules
            .entry(ident.to_string())
            .and_modify(|m| *m = None)
            .or_insert(at);
    }

    /// The module of the block `item` in the file, if the file holds it once.
    pub fn module_of_block(&self, item: &syn::ItemImpl) -> Option<Vec<String>> {
        let this = ImplBlock::of(item);
        let mut found = self.impls.iter().filter(|b| b.same_block(&this));
        let first = found.next()?;
        found.next().is_none().then(|| first.module.clone())
    }
}

impl<'ast> Visit<'ast> for FileItems {
    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        self.traits.insert(t.ident.to_string());
        syn::visit::visit_item_trait(self, t);
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let mut block = ImplBlock::of(i);
        block.module.clone_from(&self.module);
        self.impls.push(block);
        syn::visit::visit_item_impl(self, i);
    }

    fn visit_item_struct(&mut self, t: &'ast syn::ItemStruct) {
        self.declare_type(&t.ident);
    }

    fn visit_item_enum(&mut self, t: &'ast syn::ItemEnum) {
        self.declare_type(&t.ident);
    }

    fn visit_item_union(&mut self, t: &'ast syn::ItemUnion) {
        self.declare_type(&t.ident);
    }

    fn visit_item_type(&mut self, t: &'ast syn::ItemType) {
        self.declare_type(&t.ident);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.module_aliases.insert(m.ident.to_string());
        self.module.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        let at = Some(self.module.clone());
        self.fn_modules
            .entry(f.sig.ident.to_string())
            .and_modify(|m| *m = None)
            .or_insert(at);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_use_rename(&mut self, r: &'ast syn::UseRename) {
        let from = r.ident.to_string();
        if from
            .trim_start_matches("r#")
            .starts_with(|c: char| c.is_lowercase())
            && from != "self"
        {
            self.module_aliases.insert(r.rename.to_string());
        }
    }
}

thread_local! {
    /// One parse per file and compilation: the macros of a file share it.
    static PARSED: RefCell<HashMap<PathBuf, Rc<FileItems>>> = RefCell::new(HashMap::new());
}

/// The declarations of the file of the current macro call; empty outside a macro call or
/// when the file cannot be read or parsed (then every `Owner::f` keeps the type reading).
pub fn of_call_site() -> Rc<FileItems> {
    if !proc_macro::is_available() {
        return Rc::default();
    }
    let Some(path) = proc_macro::Span::call_site().local_file() else {
        return Rc::default();
    };
    PARSED.with(|cache| {
        if let Some(found) = cache.borrow().get(&path) {
            return found.clone();
        }
        let items = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| syn::parse_file(&text).ok())
            .map(|file| {
                let mut items = FileItems::default();
                items.visit_file(&file);
                items
            })
            .unwrap_or_default();
        let items = Rc::new(items);
        cache.borrow_mut().insert(path, items.clone());
        items
    })
}
