//! The JSON schema of `models/model.json` (PyTorch's `torch._export.serde.schema`
//! names), and the small conversions between it and ferrex's types.

use super::*;

// ---------------------------------------------------------------------------------------
// The JSON schema

#[derive(Serialize, Deserialize)]
pub(super) struct SchemaVersionJ {
    pub(super) major: u32,
    pub(super) minor: u32,
}

#[derive(Serialize, Deserialize)]
pub(super) struct ModelJ {
    pub(super) schema_version: SchemaVersionJ,
    pub(super) producer: String,
    pub(super) model_name: String,
    pub(super) arg_names: Vec<String>,
    pub(super) graph_module: GraphModuleJ,
    pub(super) range_constraints: Vec<RangeConstraintJ>,
    pub(super) guards: Vec<GuardJ>,
    pub(super) shape_env: Vec<SymbolJ>,
    pub(super) source_lines: Vec<SourceLineJ>,
    /// The state-dict keys, in order (the tensors are in `data/weights/`).
    pub(super) state_dict: Vec<String>,
    /// The constant names, in order (the tensors are in `data/constants/`).
    pub(super) constants: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct GraphModuleJ {
    pub(super) graph: GraphJ,
    pub(super) signature: SignatureJ,
}

#[derive(Serialize, Deserialize)]
pub(super) struct GraphJ {
    pub(super) inputs: Vec<ArgumentJ>,
    pub(super) nodes: Vec<NodeJ>,
    pub(super) outputs: Vec<ArgumentJ>,
    pub(super) tensor_values: BTreeMap<String, TensorMetaJ>,
    #[serde(default)]
    pub(super) subgraphs: Vec<SubgraphJ>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SubgraphJ {
    pub(super) name: String,
    pub(super) graph: GraphJ,
}

#[derive(Serialize, Deserialize)]
pub(super) struct NodeJ {
    pub(super) name: String,
    pub(super) target: String,
    pub(super) inputs: Vec<NamedArgumentJ>,
    pub(super) outputs: Vec<ArgumentJ>,
    #[serde(default)]
    pub(super) metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct NamedArgumentJ {
    pub(super) name: String,
    pub(super) arg: ArgumentJ,
}

// The variants are PyTorch's union tags (`as_tensor`, `as_int`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ArgumentJ {
    AsNone(bool),
    AsTensor(TensorArgJ),
    AsTensors(Vec<TensorArgJ>),
    AsOptionalTensors(Vec<OptionalTensorJ>),
    AsInt(i64),
    AsInts(Vec<i64>),
    AsSymInt(SymIntJ),
    AsSymInts(Vec<SymIntJ>),
    AsFloat(FloatJ),
    AsFloats(Vec<FloatJ>),
    AsString(String),
    AsScalarType(i64),
    AsBool(bool),
    AsGraph(GraphArgJ),
}

#[derive(Serialize, Deserialize)]
pub(super) struct TensorArgJ {
    pub(super) name: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct GraphArgJ {
    pub(super) name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum OptionalTensorJ {
    AsTensor(TensorArgJ),
    AsNone(bool),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SymIntJ {
    AsInt(i64),
    AsExpr(SymExprJ),
}

#[derive(Serialize, Deserialize)]
pub(super) struct SymExprJ {
    pub(super) expr_str: String,
    #[serde(default)]
    pub(super) hint: Option<SymExprHintJ>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SymExprHintJ {
    AsInt(i64),
}

/// A float; JSON has no infinities or NaN, so those are the strings `inf`, `-inf`, `nan`.
#[derive(Clone, Copy)]
pub(super) struct FloatJ(pub(super) f64);

impl Serialize for FloatJ {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("nan")
        } else if v.is_infinite() {
            s.serialize_str(if v > 0.0 { "inf" } else { "-inf" })
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for FloatJ {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FloatJ, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Num(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(FloatJ(v)),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(FloatJ(f64::INFINITY)),
                "-inf" => Ok(FloatJ(f64::NEG_INFINITY)),
                "nan" => Ok(FloatJ(f64::NAN)),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not a number (expected a number, \"inf\", \"-inf\" or \"nan\")"
                ))),
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct TensorMetaJ {
    pub(super) dtype: i64,
    pub(super) sizes: Vec<SymIntJ>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SignatureJ {
    pub(super) input_specs: Vec<InputSpecJ>,
    pub(super) output_specs: Vec<OutputSpecJ>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum InputSpecJ {
    UserInput {
        arg: SpecArgJ,
    },
    ConstantInput {
        name: String,
        value: ConstantValueJ,
    },
    Parameter {
        arg: TensorArgJ,
        parameter_name: String,
    },
    Buffer {
        arg: TensorArgJ,
        buffer_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        persistent: Option<bool>,
    },
    TensorConstant {
        arg: TensorArgJ,
        tensor_constant_name: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum OutputSpecJ {
    UserOutput {
        arg: SpecArgJ,
    },
    BufferMutation {
        arg: TensorArgJ,
        buffer_name: String,
    },
    UserInputMutation {
        arg: TensorArgJ,
        user_input_name: String,
    },
}

// The variants are PyTorch's union tags (`as_tensor`, `as_int`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SpecArgJ {
    AsTensor(TensorArgJ),
    AsSymInt(SymIntArgJ),
    AsConstant { name: String, value: ConstantValueJ },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SymIntArgJ {
    AsName(String),
}

// The variants are PyTorch's union tags (`as_tensor`, `as_int`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ConstantValueJ {
    AsNone(bool),
    AsInt(i64),
    AsFloat(FloatJ),
    AsString(String),
    AsBool(bool),
}

#[derive(Serialize, Deserialize)]
pub(super) struct RangeConstraintJ {
    pub(super) expr: String,
    pub(super) min_val: i64,
    pub(super) max_val: Option<i64>,
}

// Guards, symbols and source lines have the same JSON as the `.pt2` extras' entries.
pub(super) use crate::serialize::pt2::extras::{
    GuardEntry as GuardJ, SourceLineEntry as SourceLineJ, SymbolEntry as SymbolJ,
};

// ---------------------------------------------------------------------------------------
// Small conversions

/// PyTorch's `ScalarType` codes (`torch._export.serde.schema.ScalarType`).
pub(super) fn scalar_type(d: DType) -> i64 {
    match d {
        DType::I32 => 4,
        DType::I64 => 5,
        DType::F32 => 7,
        DType::F64 => 8,
        DType::Bool => 12,
    }
}

pub(crate) fn dtype_of(code: i64) -> Result<DType, String> {
    Ok(match code {
        4 => DType::I32,
        5 => DType::I64,
        7 => DType::F32,
        8 => DType::F64,
        12 => DType::Bool,
        other => {
            return Err(format!(
                "scalar type {other} is not supported (ferrex has f32 = 7, f64 = 8, i64 = 5, \
                 i32 = 4, bool = 12)"
            ))
        }
    })
}

pub(super) fn cmp_from(op: &str) -> Result<CmpOp, String> {
    CmpOp::from_symbol(op).ok_or_else(|| format!("`{op}` is not a comparison"))
}

pub(super) fn symint_j(s: &SymInt) -> SymIntJ {
    match s {
        SymInt::Int(v) => SymIntJ::AsInt(*v),
        SymInt::Sym { expr, hint } => SymIntJ::AsExpr(SymExprJ {
            expr_str: expr.to_string(),
            hint: Some(SymExprHintJ::AsInt(*hint)),
        }),
    }
}

pub(super) fn constant_j(c: &ConstantValue) -> ConstantValueJ {
    match c {
        ConstantValue::Int(v) => ConstantValueJ::AsInt(*v),
        ConstantValue::Float(v) => ConstantValueJ::AsFloat(FloatJ(*v)),
        ConstantValue::Bool(v) => ConstantValueJ::AsBool(*v),
        ConstantValue::Str(v) => ConstantValueJ::AsString(v.clone()),
        ConstantValue::None => ConstantValueJ::AsNone(true),
    }
}

pub(super) fn constant_from(c: ConstantValueJ) -> ConstantValue {
    match c {
        ConstantValueJ::AsInt(v) => ConstantValue::Int(v),
        ConstantValueJ::AsFloat(v) => ConstantValue::Float(v.0),
        ConstantValueJ::AsBool(v) => ConstantValue::Bool(v),
        ConstantValueJ::AsString(v) => ConstantValue::Str(v),
        ConstantValueJ::AsNone(_) => ConstantValue::None,
    }
}

/// The longest string [`intern`] keeps whole (a source line, a file path); longer ones
/// are cut, with `…`.
const MAX_INTERNED_LEN: usize = 1024;

/// The most bytes [`intern`] ever keeps. Loading programs with ever new strings (each
/// generated or damaged file has its own) would otherwise grow the table without end;
/// past this, new strings read as `…`.
const MAX_INTERNED_BYTES: usize = 16 << 20;

/// `'static` copies of the strings source locations and lines hold (their type is
/// `&'static str`, as `#[track_caller]` locations are), one per distinct string:
/// loading the same program twice adds nothing, and the table is bounded in total
/// ([`MAX_INTERNED_BYTES`]) so that no sequence of loads grows memory without end.
pub(crate) fn intern(s: &str) -> &'static str {
    static TABLE: OnceLock<Mutex<InternTable>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    table.intern(s, MAX_INTERNED_BYTES)
}

#[derive(Default)]
struct InternTable {
    strings: HashSet<&'static str>,
    bytes: usize,
}

impl InternTable {
    fn intern(&mut self, s: &str, max_bytes: usize) -> &'static str {
        let cut;
        let s = match s.char_indices().nth(MAX_INTERNED_LEN) {
            Some((end, _)) => {
                cut = format!("{}…", &s[..end]);
                cut.as_str()
            }
            None => s,
        };
        if let Some(k) = self.strings.get(s) {
            return k;
        }
        if self.bytes.saturating_add(s.len()) > max_bytes {
            return "…";
        }
        let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
        self.bytes += leaked.len();
        self.strings.insert(leaked);
        leaked
    }
}

#[cfg(test)]
mod intern_tests {
    use super::*;

    #[test]
    fn interned_strings_are_shared_cut_and_bounded() {
        let a = intern("core/src/intern_test.rs");
        assert!(std::ptr::eq(a, intern("core/src/intern_test.rs")));
        let cut = intern(&"x".repeat(5000));
        assert_eq!(cut.len(), MAX_INTERNED_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        // A table of 10,000 bytes keeps ten distinct 1000-byte strings, then none.
        let mut table = InternTable::default();
        let kept: Vec<&str> = (0..20)
            .map(|i| table.intern(&format!("{i:01000}"), 10_000))
            .collect();
        assert!(kept[..10].iter().all(|s| s.len() == 1000));
        assert!(kept[10..].iter().all(|s| *s == "…"));
        assert_eq!(table.bytes, 10_000);
        assert!(std::ptr::eq(
            kept[3],
            table.intern(&format!("{:01000}", 3), 10_000)
        ));
    }
}
