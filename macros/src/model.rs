//! The typed model of a `#[export_module]` struct: each field and what it holds. Parsing
//! validates the helper attributes and strips them from the emitted struct.

use syn::spanned::Spanned;
use syn::{Attribute, Fields, ItemStruct, Member, Type};

/// What a field holds.
pub enum FieldRole {
    Parameter,
    Buffer {
        persistent: bool,
    },
    Constant,
    /// Forced by `#[module]`.
    Submodule,
    /// Decided by the field's type: a module is visited, anything else is configuration.
    Probe,
    /// `#[config]`: never visited.
    Config,
}

pub struct Field {
    pub member: Member,
    pub name: String,
    pub role: FieldRole,
}

const HELPERS: &[&str] = &["param", "buffer", "module", "config"];

fn is_helper(a: &Attribute) -> bool {
    HELPERS.iter().any(|h| a.path().is_ident(h))
}

/// Whether the type is `Tensor` or a container of tensors (`Option`, `Vec`, arrays).
pub fn holds_tensors(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            if last.ident == "Tensor" {
                return true;
            }
            if last.ident == "Option" || last.ident == "Vec" {
                if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
                    if let Some(syn::GenericArgument::Type(inner)) = a.args.first() {
                        return holds_tensors(inner);
                    }
                }
            }
            false
        }
        Type::Array(a) => holds_tensors(&a.elem),
        _ => false,
    }
}

fn role_of(attrs: &[Attribute], ty: &Type, errors: &mut Vec<syn::Error>) -> FieldRole {
    let helpers: Vec<&Attribute> = attrs.iter().filter(|a| is_helper(a)).collect();
    if helpers.len() > 1 {
        errors.push(syn::Error::new(
            helpers[1].span(),
            "a field takes at most one of #[param], #[buffer], #[module], #[config]",
        ));
    }
    let Some(attr) = helpers.first() else {
        return if holds_tensors(ty) {
            FieldRole::Constant
        } else {
            FieldRole::Probe
        };
    };
    let tensor_only = |what: &str, errors: &mut Vec<syn::Error>| {
        if !holds_tensors(ty) {
            errors.push(syn::Error::new(
                ty.span(),
                format!("#[{what}] fields hold tensors: `Tensor`, `Option<Tensor>`, `Vec<Tensor>` or `[Tensor; N]`"),
            ));
        }
    };
    if attr.path().is_ident("param") {
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.push(syn::Error::new(attr.span(), "#[param] takes no arguments"));
        }
        tensor_only("param", errors);
        FieldRole::Parameter
    } else if attr.path().is_ident("buffer") {
        tensor_only("buffer", errors);
        let mut persistent = true;
        if let syn::Meta::List(_) = &attr.meta {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("persistent") {
                    let v: syn::LitBool = meta.value()?.parse()?;
                    persistent = v.value;
                    Ok(())
                } else {
                    Err(meta.error("expected `persistent = true` or `persistent = false`"))
                }
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
        FieldRole::Buffer { persistent }
    } else if attr.path().is_ident("module") {
        FieldRole::Submodule
    } else {
        FieldRole::Config
    }
}

/// Classifies the fields and strips the helper attributes from `item`.
/// Whether `ty` mentions one of the struct's type parameters.
fn mentions_generic(ty: &Type, params: &[syn::Ident]) -> bool {
    struct Finder<'a> {
        params: &'a [syn::Ident],
        found: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, p: &'ast syn::Path) {
            if let Some(first) = p.segments.first() {
                if p.segments.len() == 1 && self.params.contains(&first.ident) {
                    self.found = true;
                }
            }
            syn::visit::visit_path(self, p);
        }
    }
    let mut f = Finder {
        params,
        found: false,
    };
    syn::visit::Visit::visit_type(&mut f, ty);
    f.found
}

pub fn parse_struct(item: &mut ItemStruct) -> (Vec<Field>, Vec<syn::Error>) {
    let mut errors = Vec::new();
    let mut fields = Vec::new();
    let params: Vec<syn::Ident> = item
        .generics
        .type_params()
        .map(|p| p.ident.clone())
        .collect();
    let list: Vec<&mut syn::Field> = match &mut item.fields {
        Fields::Named(n) => n.named.iter_mut().collect(),
        Fields::Unnamed(u) => u.unnamed.iter_mut().collect(),
        Fields::Unit => Vec::new(),
    };
    for (i, f) in list.into_iter().enumerate() {
        let mut role = role_of(&f.attrs, &f.ty, &mut errors);
        // A field of a generic type cannot be classified by its type at the definition:
        // whether `M` is a module is only known per instantiation. Ask.
        if matches!(role, FieldRole::Probe) && mentions_generic(&f.ty, &params) {
            errors.push(syn::Error::new(
                f.ty.span(),
                "this field's type is generic, so #[export_module] cannot tell whether it is a submodule or configuration\n\
                 help: mark it `#[module]` (and bound the parameter by `ferrex::Module`) or `#[config]`",
            ));
            role = FieldRole::Config;
        }
        f.attrs.retain(|a| !is_helper(a));
        let (member, name) = match &f.ident {
            Some(id) => (
                Member::Named(id.clone()),
                id.to_string().trim_start_matches("r#").to_string(),
            ),
            None => (Member::Unnamed(syn::Index::from(i)), i.to_string()),
        };
        fields.push(Field { member, name, role });
    }
    (fields, errors)
}
