//! `op_def!`: an ATen op defined once. From the schema string literal, at compile time:
//! the typed argument struct (fields named after the schema's arguments, defaults from
//! the schema, one decode whose errors name the argument), the `OpDef` whose meta, eager
//! call, decomposition and lowering hook decode through that struct, and its registration
//! (`inventory`). A malformed schema, an unknown type or a default that does not fit its
//! type is a compile error on the string.
//!
//! ```ignore
//! op_def! {
//!     /// `max(x, 0)`.
//!     pub static RELU: struct Unary = "aten::relu(Tensor self) -> Tensor" {
//!         meta: same_meta,            // fn(&Unary) -> Result<Vec<TensorMeta>, OpError>
//!         kernel: relu_kernel,        // fn(&Unary, &[TensorMeta]) -> Result<Vec<Storage>, OpError>
//!         pointwise: relu_fn,         // fn<T>(&Unary<T>) -> Result<pointwise::Unary, OpError>
//!     }
//!     pub static RELU_: Unary = "aten::relu_(Tensor(a!) self) -> Tensor(a!)" {
//!         meta: same_meta, kernel: relu_kernel, inplace_of: RELU,
//!     }
//! }
//! ```
//!
//! `struct Name` generates the argument struct; `Name` alone reuses one generated for an
//! op with the same argument list (checked at compile time). Keys: `meta`, `kernel` or
//! `composite` (the decomposition is also the eager implementation), `decomposition`,
//! `pointwise`, `lowering`, `inplace_of`, `output0` (the op computing output 0 alone from the same
//! arguments), `wrapped_numbers: [self, other]` (`Tensor`
//! arguments that may be plain numbers, decoded as `TensorOrNumber`), `accept_none: [name]`
//! (a required argument ferrex also accepts as `None`, decoded as an `Option`), `raw: [name]`
//! (an argument kept as the `Argument` the call gave: `arange`'s bounds, which may be
//! symbolic sizes where a `Scalar` field would hold their example value), and the flags `core_aten`, `random`,
//! `composite_implicit`.

use ferrex_schema::{ArgType, BaseType, DefaultValue};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{braced, Attribute, Expr, Ident, LitStr, Token, Visibility};

pub struct OpDefs(Vec<OpDefInput>);

struct OpDefInput {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    define_struct: bool,
    args_ty: Ident,
    schema: LitStr,
    keys: Vec<(Ident, Option<Expr>)>,
}

impl Parse for OpDefs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut defs = Vec::new();
        while !input.is_empty() {
            defs.push(input.parse()?);
        }
        Ok(OpDefs(defs))
    }
}

impl Parse for OpDefInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![static]>()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let define_struct = input.parse::<Option<Token![struct]>>()?.is_some();
        let args_ty: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let schema: LitStr = input.parse()?;
        let body;
        braced!(body in input);
        let mut keys = Vec::new();
        while !body.is_empty() {
            let key: Ident = body.parse()?;
            let value = if body.parse::<Option<Token![:]>>()?.is_some() {
                Some(body.parse::<Expr>()?)
            } else {
                None
            };
            keys.push((key, value));
            if body.parse::<Option<Token![,]>>()?.is_none() {
                break;
            }
        }
        if !body.is_empty() {
            return Err(body.error("expected `key: value,` or a flag"));
        }
        Ok(OpDefInput {
            attrs,
            vis,
            name,
            define_struct,
            args_ty,
            schema,
            keys,
        })
    }
}

/// One schema argument as a struct field.
struct Field {
    ident: Ident,
    name: String,
    ty: TokenStream,
    decode: TokenStream,
    default: TokenStream,
    is_tensor: bool,
    /// The field's type names the tensor type `T`.
    uses_t: bool,
}

const KEYWORDS: &[&str] = &[
    "self", "type", "in", "fn", "match", "where", "loop", "move", "ref", "mod", "use", "impl",
    "struct", "enum", "let", "const", "static", "for", "if", "else", "while", "return", "as",
    "crate", "super", "trait", "pub", "mut", "true", "false", "box", "dyn", "async", "await",
];

fn field_ident(name: &str) -> Ident {
    if KEYWORDS.contains(&name) {
        format_ident!("{}_", name)
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// The field type and the decode function of an argument type (`T` is the tensor type).
fn field_type(ty: &ArgType) -> (TokenStream, TokenStream) {
    let d = quote!(::ferrex::ops::decode);
    let (base_ty, base_fn) = match (ty.base, ty.list.is_some(), ty.optional_elements) {
        (BaseType::Tensor, true, true) => (quote!(Vec<Option<T>>), quote!(#d::opt_tensor_list)),
        (BaseType::Tensor, true, false) => (quote!(Vec<T>), quote!(#d::tensor_list)),
        (BaseType::Tensor, false, _) => (quote!(T), quote!(#d::tensor)),
        (BaseType::Int, true, _) => (quote!(Vec<i64>), quote!(#d::int_list)),
        (BaseType::Int, false, _) => (quote!(i64), quote!(#d::int)),
        (BaseType::SymInt, true, _) => (quote!(Vec<::ferrex::SymInt>), quote!(#d::sym_int_list)),
        (BaseType::SymInt, false, _) => (quote!(::ferrex::SymInt), quote!(#d::sym_int)),
        (BaseType::Float, true, _) => (quote!(Vec<f64>), quote!(#d::float_list)),
        (BaseType::Float, false, _) => (quote!(f64), quote!(#d::float)),
        (BaseType::Scalar, _, _) => (quote!(::ferrex::tensor::Scalar), quote!(#d::scalar)),
        (BaseType::Bool, _, _) => (quote!(bool), quote!(#d::bool)),
        (BaseType::Str, _, _) => (quote!(String), quote!(#d::str)),
        (BaseType::ScalarType, _, _) => (quote!(::ferrex::DType), quote!(#d::dtype)),
        (BaseType::Opaque, _, _) => {
            return (quote!(::ferrex::ops::Argument<T>), quote!(#d::opaque));
        }
    };
    if ty.optional {
        (
            quote!(Option<#base_ty>),
            quote!(|v, n| #d::optional(v, n, #base_fn)),
        )
    } else {
        (base_ty, base_fn)
    }
}

/// A schema default as an `Argument` expression.
fn default_tokens(d: Option<&DefaultValue>) -> TokenStream {
    let a = quote!(::ferrex::ops::Argument);
    let int = |i: &i64| quote!(::ferrex::SymInt::Int(#i));
    match d {
        None | Some(DefaultValue::None) => quote!(#a::None),
        Some(DefaultValue::Bool(b)) => quote!(#a::Bool(#b)),
        Some(DefaultValue::Int(i)) => {
            let i = int(i);
            quote!(#a::Int(#i))
        }
        Some(DefaultValue::Float(f)) => quote!(#a::Float(#f)),
        Some(DefaultValue::IntList(l)) => {
            let items = l.iter().map(int);
            quote!(#a::IntList(vec![#(#items),*]))
        }
        Some(DefaultValue::FloatList(l)) => quote!(#a::FloatList(vec![#(#l),*])),
        Some(DefaultValue::Str(s)) => quote!(#a::Str(String::from(#s))),
    }
}

/// The argument names listed by `wrapped_numbers: [self, other]`: `Tensor` arguments that
/// may be plain numbers.
fn wrapped_numbers(def: &OpDefInput) -> syn::Result<Vec<String>> {
    name_list(def, "wrapped_numbers")
}

/// The argument names a key lists (`key: [a, b]`).
fn name_list(def: &OpDefInput, key: &str) -> syn::Result<Vec<String>> {
    let Some(expr) = key_expr(def, key)? else {
        return Ok(Vec::new());
    };
    let Expr::Array(list) = expr else {
        return Err(syn::Error::new_spanned(
            expr,
            "expected a list of argument names",
        ));
    };
    list.elems
        .iter()
        .map(|e| match e {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                Ok(p.path.segments[0].ident.to_string())
            }
            other => Err(syn::Error::new_spanned(other, "expected an argument name")),
        })
        .collect()
}

fn fields(
    schema: &ferrex_schema::Schema,
    types: &[ArgType],
    numbers: &[String],
    accept_none: &[String],
    raw: &[String],
) -> Vec<Field> {
    schema
        .args
        .iter()
        .zip(types)
        .map(|(arg, ty)| {
            let plain_tensor = ty.base == BaseType::Tensor && ty.list.is_none() && !ty.optional;
            // A `Scalar` may arrive as a 0-d tensor standing for it (`_assert_scalar`).
            let plain_scalar = ty.base == BaseType::Scalar && ty.list.is_none() && !ty.optional;
            let (ty_tokens, decode) = if raw.contains(&arg.name) {
                field_type(&ArgType {
                    base: BaseType::Opaque,
                    ..*ty
                })
            } else if (plain_tensor || plain_scalar) && numbers.contains(&arg.name) {
                (
                    quote!(::ferrex::ops::TensorOrNumber<T>),
                    quote!(::ferrex::ops::decode::tensor_or_number),
                )
            } else if accept_none.contains(&arg.name) {
                field_type(&ArgType {
                    optional: true,
                    ..*ty
                })
            } else {
                field_type(ty)
            };
            Field {
                ident: field_ident(&arg.name),
                name: arg.name.clone(),
                ty: ty_tokens,
                decode,
                default: default_tokens(arg.default.as_ref()),
                is_tensor: plain_tensor && !numbers.contains(&arg.name),
                uses_t: matches!(ty.base, BaseType::Tensor | BaseType::Opaque)
                    || raw.contains(&arg.name),
            }
        })
        .collect()
}

fn args_struct(def: &OpDefInput, schema: &ferrex_schema::Schema, fields: &[Field]) -> TokenStream {
    let vis = &def.vis;
    let ty = &def.args_ty;
    let signature = schema.signature();
    let doc = format!(
        "The arguments of `{}` (and of every op with the argument list `{signature}`), \
         decoded once per call; generated from the schema by `op_def!`.",
        schema.qualified_name()
    );
    let idents: Vec<&Ident> = fields.iter().map(|f| &f.ident).collect();
    let types = fields.iter().map(|f| &f.ty);
    let decodes = fields.iter().enumerate().map(|(i, f)| {
        let (ident, decode, default, name) = (&f.ident, &f.decode, &f.default, &f.name);
        quote! {
            let #ident = (#decode)(
                match __values.get(#i) { Some(v) => v.clone(), None => #default },
                #name,
            )?;
        }
    });
    let phantom = (!fields.iter().any(|f| f.uses_t))
        .then(|| quote!(#[doc(hidden)] pub _tensor: ::core::marker::PhantomData<fn() -> T>,));
    let phantom_init = phantom
        .as_ref()
        .map(|_| quote!(_tensor: ::core::marker::PhantomData,));
    quote! {
        #[doc = #doc]
        #[derive(Clone)]
        #vis struct #ty<T = ::ferrex::Tensor> {
            #(pub #idents: #types,)*
            #phantom
        }

        impl<T: Clone> #ty<T> {
            /// The schema's argument list, in normal form.
            pub const SIGNATURE: &'static str = #signature;

            /// Decodes a call's arguments (missing ones take the schema's defaults).
            pub fn decode(
                __values: &[::ferrex::ops::Argument<T>],
            ) -> ::core::result::Result<Self, ::ferrex::error::OpError> {
                #(#decodes)*
                Ok(#ty { #(#idents,)* #phantom_init })
            }
        }

        impl<T: Clone> ::ferrex::ops::OpArguments<T> for #ty<T> {
            const SIGNATURE: &'static str = #signature;
            fn decode(
                values: &[::ferrex::ops::Argument<T>],
            ) -> ::core::result::Result<Self, ::ferrex::error::OpError> {
                #ty::<T>::decode(values)
            }
        }
    }
}

fn key<'a>(def: &'a OpDefInput, name: &str) -> Option<&'a Option<Expr>> {
    def.keys.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn key_expr<'a>(def: &'a OpDefInput, name: &str) -> syn::Result<Option<&'a Expr>> {
    match key(def, name) {
        None => Ok(None),
        Some(Some(e)) => Ok(Some(e)),
        Some(None) => Err(syn::Error::new(
            def.name.span(),
            format!("`{name}` needs a value (`{name}: …`)"),
        )),
    }
}

fn check_keys(def: &OpDefInput) -> syn::Result<()> {
    const KNOWN: &[&str] = &[
        "meta",
        "kernel",
        "composite",
        "decomposition",
        "pointwise",
        "lowering",
        "inplace_of",
        "output0",
        "wrapped_numbers",
        "accept_none",
        "raw",
        "core_aten",
        "random",
        "composite_implicit",
    ];
    for (k, _) in &def.keys {
        if !KNOWN.contains(&k.to_string().as_str()) {
            return Err(syn::Error::new(
                k.span(),
                format!("unknown key `{k}`; expected one of: {}", KNOWN.join(", ")),
            ));
        }
    }
    if key(def, "meta").is_none() {
        return Err(syn::Error::new(def.name.span(), "an op needs `meta: …`"));
    }
    match (key(def, "kernel"), key(def, "composite")) {
        (Some(_), None) | (None, Some(_)) => Ok(()),
        _ => Err(syn::Error::new(
            def.name.span(),
            "an op needs exactly one of `kernel: …` and `composite: …`",
        )),
    }
}

fn lowering_fn(def: &OpDefInput, fields: &[Field]) -> syn::Result<Option<TokenStream>> {
    let ty = &def.args_ty;
    let lowering = quote!(::ferrex::ops::lowering);
    let body = match (key_expr(def, "pointwise")?, key_expr(def, "lowering")?) {
        (Some(f), None) => {
            let input = fields
                .iter()
                .find(|f| f.is_tensor)
                .map(|f| &f.ident)
                .ok_or_else(|| {
                    syn::Error::new(def.name.span(), "a pointwise op needs a tensor argument")
                })?;
            quote!(Ok(#lowering::Lowering::Unary { input: decoded.#input, f: (#f)(&decoded)? }))
        }
        (None, Some(f)) => quote!((#f)(&decoded)),
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(syn::Error::new(
                def.name.span(),
                "`pointwise` is a lowering: give one of `pointwise` and `lowering`",
            ))
        }
    };
    Ok(Some(quote! {
        fn __lower(
            values: &[::ferrex::ops::Argument<#lowering::ArgRef>],
        ) -> ::core::result::Result<#lowering::Lowering<#lowering::ArgRef>, ::ferrex::error::OpError> {
            let decoded = #ty::<#lowering::ArgRef>::decode(values)?;
            #body
        }
    }))
}

fn op_static(def: &OpDefInput, fields: &[Field]) -> syn::Result<TokenStream> {
    check_keys(def)?;
    let (attrs, vis, name, ty, schema) =
        (&def.attrs, &def.vis, &def.name, &def.args_ty, &def.schema);
    let tensor_args = quote!(#ty::<::ferrex::Tensor>);
    let meta = key_expr(def, "meta")?;
    let r = quote!(::core::result::Result);
    let e = quote!(::ferrex::error::OpError);
    let mut builder = quote!(::ferrex::ops::OpDef::typed(#schema, __meta, __eager));
    let (eager, decomp_fn) = match (key_expr(def, "kernel")?, key_expr(def, "composite")?) {
        (Some(k), _) => (
            quote!(::ferrex::ops::run_typed(args, #tensor_args::decode, #meta, #k)),
            key_expr(def, "decomposition")?,
        ),
        (None, Some(c)) => {
            builder = quote!(#builder.with_implementation(__decomposition));
            (
                quote!(::ferrex::ops::run_composite(args, #tensor_args::decode, #meta, #c)),
                Some(c),
            )
        }
        (None, None) => {
            return Err(syn::Error::new(
                name.span(),
                "an op needs `kernel: …` or `composite: …`",
            ))
        }
    };
    let decomposition = decomp_fn.map(|f| {
        quote! {
            fn __decomposition(args: &::ferrex::ops::OpArgs) -> #r<Vec<::ferrex::Tensor>, #e> {
                (#f)(&#tensor_args::decode(args.values)?)
            }
        }
    });
    if decomposition.is_some() {
        builder = quote!(#builder.with_decomposition(__decomposition));
    }
    let lower = lowering_fn(def, fields)?;
    if lower.is_some() {
        builder = quote!(#builder.with_lowering(__lower));
    }
    if let Some(f) = key_expr(def, "inplace_of")? {
        builder = quote!(#builder.inplace_of(&#f));
    }
    if let Some(f) = key_expr(def, "output0")? {
        builder = quote!(#builder.with_output0(&#f));
    }
    for (flag, method) in [
        ("core_aten", "core_aten"),
        ("random", "random"),
        ("composite_implicit", "composite_implicit"),
    ] {
        if key(def, flag).is_some() {
            let m = Ident::new(method, Span::call_site());
            builder = quote!(#builder.#m());
        }
    }
    let reuse_check = reuse_check(def);
    Ok(quote! {
        #(#attrs)*
        #vis static #name: ::ferrex::ops::OpDef = {
            fn __meta(args: &::ferrex::ops::OpArgs) -> #r<Vec<::ferrex::tensor::TensorMeta>, #e> {
                (#meta)(&#tensor_args::decode(args.values)?)
            }
            fn __eager(
                args: &::ferrex::ops::OpArgs,
            ) -> #r<Vec<::ferrex::Tensor>, ::ferrex::ops::EagerError> {
                #eager
            }
            #decomposition
            #lower
            #builder
        };
        #reuse_check
        ::ferrex::ops::inventory::submit! { ::ferrex::ops::BuiltinOp(&#name) }
    })
}

/// For a reused argument struct: a compile-time check that the schema's argument list
/// is the struct's.
fn reuse_check(def: &OpDefInput) -> Option<TokenStream> {
    let (ty, schema) = (&def.args_ty, &def.schema);
    (!def.define_struct).then(|| {
        let signature = ferrex_schema::parse(&schema.value())
            .map(|s| s.signature())
            .unwrap_or_default();
        let msg = format!("the schema's arguments differ from those of `{ty}`; use `struct Name` for a new argument struct");
        quote_spanned! {schema.span()=>
            const _: () = ::core::assert!(
                ::ferrex::ops::decode::same_signature(#ty::<::ferrex::Tensor>::SIGNATURE, #signature),
                #msg
            );
        }
    })
}

fn expand_one(def: &OpDefInput) -> syn::Result<TokenStream> {
    let (schema, types) = ferrex_schema::parse_typed(&def.schema.value())
        .map_err(|e| syn::Error::new(def.schema.span(), format!("invalid op schema: {e}")))?;
    let numbers = wrapped_numbers(def)?;
    if let Some(n) = numbers.iter().find(|n| schema.position(n).is_none()) {
        return Err(syn::Error::new(
            def.schema.span(),
            format!("`wrapped_numbers` names `{n}`, which the schema does not declare"),
        ));
    }
    let accept_none = name_list(def, "accept_none")?;
    let raw = name_list(def, "raw")?;
    if let Some(n) = raw.iter().find(|n| schema.position(n).is_none()) {
        return Err(syn::Error::new(
            def.schema.span(),
            format!("`raw` names `{n}`, which the schema does not declare"),
        ));
    }
    let fields = fields(&schema, &types, &numbers, &accept_none, &raw);
    let args = def
        .define_struct
        .then(|| args_struct(def, &schema, &fields));
    let op = op_static(def, &fields)?;
    Ok(quote!(#args #op))
}

pub fn expand(input: TokenStream) -> TokenStream {
    let defs = match syn::parse2::<OpDefs>(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let mut out = TokenStream::new();
    for def in &defs.0 {
        match expand_one(def) {
            Ok(t) => out.extend(t),
            Err(e) => out.extend(e.to_compile_error()),
        }
    }
    out
}
