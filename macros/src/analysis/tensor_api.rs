//! The method vocabulary of `ferrex::Tensor`: every method a tensor receiver can call that
//! ferrex itself defines (inherent methods, and methods of the traits ferrex implements
//! for `Tensor` and `&Tensor`). A method outside it is a trait method of another crate,
//! opaque to strict mode (`opaque_call.rs`).
//!
//! The list between the markers is generated from the real API, `core/src`, by the test
//! below: `FERREX_BLESS=1 cargo test -p ferrex-macros tensor_api` rewrites it, and the test
//! fails when the list and the API disagree, or when a method that a rule names
//! (`data_access`, `SHAPE_METHODS`, `LIST_OPS`, …) does not exist.

// BEGIN GENERATED
pub const TENSOR_METHODS: &[&str] = &[
    "abs",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "add",
    "add_",
    "add_scaled",
    "addmm",
    "addmm_scaled",
    "all_dim",
    "allclose",
    "amax",
    "amin",
    "any_dim",
    "argmax",
    "argmin",
    "atan2",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "bmm",
    "bucketize",
    "ceil",
    "check",
    "chunk",
    "clamp",
    "clone",
    "clone_from",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose2d",
    "copy",
    "copy_",
    "cos",
    "cummax",
    "cummin",
    "cumsum",
    "data",
    "diag_embed",
    "dim",
    "div",
    "div_",
    "div_rounding",
    "dtype",
    "elu",
    "eq",
    "erf",
    "erfinv",
    "error",
    "exp",
    "expand",
    "expm1",
    "flatten",
    "flatten_into",
    "flatten_outputs",
    "flip",
    "floor",
    "fmt",
    "full_like",
    "gather",
    "ge",
    "gelu",
    "grid_sample",
    "group_norm",
    "gt",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "id",
    "index",
    "index_copy",
    "index_copy_",
    "index_put",
    "index_put_",
    "index_select",
    "instance_norm",
    "into_tensors",
    "item",
    "layer_norm",
    "le",
    "leaky_relu",
    "lerp",
    "linear",
    "log",
    "log1p",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_dtype",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "lt",
    "masked_fill",
    "masked_select",
    "matmul",
    "max_abs_diff",
    "max_dim",
    "max_pool2d",
    "max_pool3d",
    "max_pool3d_with_indices",
    "maximum",
    "mean",
    "mean_dim",
    "meta",
    "min_dim",
    "minimum",
    "mish",
    "mm",
    "mul",
    "mul_",
    "narrow",
    "native_batch_norm_legit_no_training",
    "native_group_norm",
    "native_layer_norm",
    "ne",
    "neg",
    "nonzero",
    "numel",
    "ones_like",
    "pad",
    "pad_mode",
    "permute",
    "pixel_shuffle",
    "pixel_unshuffle",
    "pow",
    "prod_dim",
    "reciprocal",
    "relu",
    "relu_",
    "remainder",
    "repeat",
    "reshape",
    "roll",
    "round",
    "rsqrt",
    "same_tensor",
    "scaled_dot_product_attention",
    "select",
    "set_item_",
    "shape",
    "sigmoid",
    "sign",
    "silu",
    "sin",
    "size",
    "sizes",
    "slice",
    "slice_from",
    "softmax",
    "softmax_dtype",
    "softplus",
    "split",
    "sqrt",
    "square",
    "squeeze_dim",
    "std",
    "std_dim",
    "sub",
    "sub_",
    "sum",
    "sum_dim",
    "sym_item",
    "t",
    "tan",
    "tanh",
    "to_dtype",
    "to_ndarray",
    "to_vec",
    "topk",
    "transpose",
    "tril",
    "triu",
    "try_storage",
    "unfold",
    "unsqueeze",
    "upsample_antialiased",
    "upsample_bicubic2d",
    "upsample_bilinear2d",
    "upsample_nearest2d",
    "var",
    "var_dim",
    "view",
    "visit_tensors",
    "zeros_like",
];
// END GENERATED

/// Methods of the standard traits every `Tensor` has through blanket impls, which only
/// hand the handle back (`x.to_owned()` is `x.clone()`).
const STD_IDENTITY: &[&str] = &["to_owned", "borrow", "as_ref"];

/// Whether `x.name(..)` on a tensor is ferrex's own method.
pub fn is_tensor_method(name: &str) -> bool {
    TENSOR_METHODS.binary_search(&name).is_ok() || STD_IDENTITY.contains(&name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use syn::visit::Visit;

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// `Tensor`, `&Tensor`, `&'a Tensor`.
    fn is_tensor_type(ty: &syn::Type) -> bool {
        match ty {
            syn::Type::Reference(r) => is_tensor_type(&r.elem),
            syn::Type::Path(p) => p.qself.is_none() && p.path.is_ident("Tensor"),
            _ => false,
        }
    }

    #[derive(Default)]
    struct Api {
        methods: BTreeSet<String>,
    }

    impl<'ast> Visit<'ast> for Api {
        fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
            if is_tensor_type(&i.self_ty) {
                let inherent = i.trait_.is_none();
                for item in &i.items {
                    if let syn::ImplItem::Fn(f) = item {
                        let public = matches!(f.vis, syn::Visibility::Public(_));
                        let hidden = f.attrs.iter().any(|a| {
                            a.path().is_ident("doc")
                                && a.meta.to_token_stream_string().contains("hidden")
                        });
                        if (!inherent || public) && !hidden && f.sig.receiver().is_some() {
                            self.methods.insert(f.sig.ident.to_string());
                        }
                    }
                }
            }
            syn::visit::visit_item_impl(self, i);
        }

        fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
            // `binary_operator!(Add, add)` implements `Add` for `Tensor`: its method.
            let name = m.mac.path.segments.last().map(|s| s.ident.to_string());
            if name.as_deref() == Some("binary_operator") {
                let toks: Vec<String> = m
                    .mac
                    .tokens
                    .clone()
                    .into_iter()
                    .map(|t| t.to_string())
                    .collect();
                if let Some(method) = toks.last() {
                    self.methods.insert(method.clone());
                }
            }
        }

        fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
            // `#[derive(Clone)]` on `Tensor`.
            if s.ident == "Tensor" {
                for a in &s.attrs {
                    if a.path().is_ident("derive")
                        && a.meta.to_token_stream_string().contains("Clone")
                    {
                        self.methods.insert("clone".into());
                        self.methods.insert("clone_from".into());
                    }
                }
            }
        }
    }

    trait TokenString {
        fn to_token_stream_string(&self) -> String;
    }

    impl TokenString for syn::Meta {
        fn to_token_stream_string(&self) -> String {
            quote::ToTokens::to_token_stream(self).to_string()
        }
    }

    fn core_src() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src")
    }

    fn real_api() -> BTreeSet<String> {
        let mut files = Vec::new();
        rust_files(&core_src(), &mut files);
        files.sort();
        let mut api = Api::default();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if let Ok(file) = syn::parse_file(&text) {
                api.visit_file(&file);
            }
        }
        api.methods
    }

    fn generated(api: &BTreeSet<String>) -> String {
        let mut out = String::from("pub const TENSOR_METHODS: &[&str] = &[\n");
        for m in api {
            out.push_str(&format!("    \"{m}\",\n"));
        }
        out.push_str("];\n");
        out
    }

    #[test]
    fn tensor_api_list_is_the_real_api() {
        let api = real_api();
        assert!(
            api.contains("matmul") && api.contains("item"),
            "core/src was not found"
        );
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/analysis/tensor_api.rs");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (head, rest) = text.split_once("// BEGIN GENERATED\n").unwrap_or_default();
        let (_, tail) = rest.split_once("// END GENERATED\n").unwrap_or_default();
        let want = generated(&api);
        if std::env::var_os("FERREX_BLESS").is_some() {
            let new = format!("{head}// BEGIN GENERATED\n{want}// END GENERATED\n{tail}");
            std::fs::write(&path, new).unwrap_or_default();
            return;
        }
        let listed: BTreeSet<String> = super::TENSOR_METHODS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let missing: Vec<&String> = listed.difference(&api).collect();
        let unlisted: Vec<&String> = api.difference(&listed).collect();
        assert!(
            missing.is_empty() && unlisted.is_empty(),
            "TENSOR_METHODS is out of date (regenerate with FERREX_BLESS=1 cargo test -p \
             ferrex-macros tensor_api): listed but not in the API: {missing:?}; in the API but \
             not listed: {unlisted:?}"
        );
        let mut sorted = super::TENSOR_METHODS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, super::TENSOR_METHODS, "the list must stay sorted");
    }

    #[test]
    fn every_method_a_rule_names_exists() {
        let api = real_api();
        let named = super::super::named_tensor_methods();
        let unknown: Vec<&&str> = named.iter().filter(|m| !api.contains(**m)).collect();
        assert!(
            unknown.is_empty(),
            "rules name tensor methods that do not exist: {unknown:?}"
        );
    }
}
