//! `#[export_module]` on a struct: implements `ferrex::Module`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemStruct;

use crate::model::{parse_struct, FieldRole};

pub fn expand(attr: TokenStream, mut item: ItemStruct) -> TokenStream {
    let (fields, mut errors) = parse_struct(&mut item);
    if !attr.is_empty() {
        let strict_ok = syn::parse2::<crate::expand_impl::ModuleArgs>(attr.clone()).is_ok();
        if !strict_ok {
            errors.push(syn::Error::new_spanned(
                &attr,
                "#[export_module] on a struct takes no arguments (`strict = false` goes on the impl block)",
            ));
        }
    }
    let name = &item.ident;
    let name_str = name.to_string();
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let visits = fields.iter().map(|f| {
        let member = &f.member;
        let n = &f.name;
        match f.role {
            FieldRole::Parameter => quote! { ::ferrex::__private::visit_parameter(&self.#member, #n, __visitor); },
            FieldRole::Buffer { persistent } => {
                quote! { ::ferrex::__private::visit_buffer(&self.#member, #n, #persistent, __visitor); }
            }
            FieldRole::Constant => quote! { ::ferrex::__private::visit_constant(&self.#member, #n, __visitor); },
            FieldRole::Submodule => quote! { __visitor.submodule(#n, &self.#member); },
            FieldRole::Probe => quote! {
                {
                    #[allow(unused_imports)]
                    use ::ferrex::__private::{ViaConfig as _, ViaModule as _};
                    (&&::ferrex::__private::Probe(&self.#member)).__ferrex_visit(#n, __visitor);
                }
            },
            FieldRole::Config => quote! {},
        }
    });
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote! {
        #item
        #(#errors)*
        impl #impl_generics ::ferrex::Module for #name #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn visit(&self, __visitor: &mut dyn ::ferrex::__private::ModuleVisitor) {
                #(#visits)*
            }
            fn type_name(&self) -> &'static str {
                #name_str
            }
            fn source_lines(&self) -> &'static [::ferrex::__private::SourceLine] {
                #[allow(unused_imports)]
                use ::ferrex::__private::{NoSources as _, ViaSources as _};
                (&&::ferrex::__private::SourceProbe::<Self>(::core::marker::PhantomData)).__ferrex_sources()
            }
        }
    }
}
