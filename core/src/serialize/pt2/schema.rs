//! PyTorch's export schema 8.x (`torch/_export/serde/schema.py`, `SCHEMA_VERSION = (8, 20)`
//! in PyTorch 2.15) as serde types, with PyTorch's field names, for both reading and
//! writing `models/*.json` and the payload configs of a `.pt2` archive.
//!
//! Conventions, as in PyTorch's JSON (`serialize.py: _dataclass_to_dict`):
//! - a union (`Argument`, `SymInt`, `InputSpec`, …) is an object with one key, the tag
//!   (`{"as_tensor": {"name": "x"}}`) — serde's externally tagged enums;
//! - enums (`ScalarType`, `Layout`, `MemoryFormat`, `ArgumentKind`) are their integer
//!   codes, kept as integer newtypes here so unknown codes still parse (and are refused
//!   where they are used, with the code in the message);
//! - floats that are not finite are written as the strings `"Infinity"`, `"-Infinity"`,
//!   `"NaN"` ([`JsonFloat`]);
//! - every field is written, `None` as `null`; fields that PyTorch gives a default are
//!   optional when read.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The schema version PyTorch 2.15 writes: `(major, minor)`.
pub const SCHEMA_VERSION: (i64, i64) = (8, 20);

// ---------------------------------------------------------------------------------------
// Scalars

/// A float as PyTorch writes it: a JSON number, or `"Infinity"` / `"-Infinity"` / `"NaN"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsonFloat(pub f64);

impl Serialize for JsonFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(v)
        }
    }
}

struct JsonFloatVisitor;

impl Visitor<'_> for JsonFloatVisitor {
    type Value = JsonFloat;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or \"Infinity\", \"-Infinity\", \"NaN\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonFloat, E> {
        Ok(JsonFloat(v))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonFloat, E> {
        Ok(JsonFloat(v as f64))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonFloat, E> {
        Ok(JsonFloat(v as f64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonFloat, E> {
        match v {
            "Infinity" | "inf" => Ok(JsonFloat(f64::INFINITY)),
            "-Infinity" | "-inf" => Ok(JsonFloat(f64::NEG_INFINITY)),
            "NaN" | "nan" => Ok(JsonFloat(f64::NAN)),
            other => Err(E::custom(format!("`{other}` is not a float"))),
        }
    }
}

impl<'de> Deserialize<'de> for JsonFloat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonFloat, D::Error> {
        d.deserialize_any(JsonFloatVisitor)
    }
}

/// An integer code of one of PyTorch's `IntEnum`s (kept open: unknown codes parse).
macro_rules! int_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $c:ident = $v:expr,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
        #[allow(missing_docs)]
        impl $name {
            $($(#[$vm])* pub const $c: $name = $name($v);)*
        }
    };
}

int_enum!(
    /// `ScalarType`: the dtype code of a tensor.
    ScalarType {
        UNKNOWN = 0, BYTE = 1, CHAR = 2, SHORT = 3, INT = 4, LONG = 5, HALF = 6, FLOAT = 7,
        DOUBLE = 8, COMPLEXHALF = 9, COMPLEXFLOAT = 10, COMPLEXDOUBLE = 11, BOOL = 12,
        BFLOAT16 = 13, UINT16 = 28, FLOAT8E4M3FN = 29, FLOAT8E5M2 = 30, FLOAT8E4M3FNUZ = 31,
        FLOAT8E5M2FNUZ = 32, FLOAT8E8M0FNU = 33, UINT32 = 34, UINT64 = 35,
    }
);

int_enum!(
    /// `Layout` (`Strided` = 7 for ordinary tensors).
    Layout {
        UNKNOWN = 0, SPARSE_COO = 1, SPARSE_CSR = 2, SPARSE_CSC = 3, SPARSE_BSR = 4,
        SPARSE_BSC = 5, MKLDNN = 6, STRIDED = 7,
    }
);

int_enum!(
    /// `MemoryFormat`.
    MemoryFormat {
        UNKNOWN = 0, CONTIGUOUS_FORMAT = 1, CHANNELS_LAST = 2, CHANNELS_LAST_3D = 3,
        PRESERVE_FORMAT = 4,
    }
);

int_enum!(
    /// `ArgumentKind`: how a node argument was passed.
    ArgumentKind { UNKNOWN = 0, POSITIONAL = 1, KEYWORD = 2, }
);

/// `Device`: `{"type": "cpu", "index": null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub index: Option<i64>,
}

// ---------------------------------------------------------------------------------------
// Symbolic values

/// `SymExprHint`: the example value of a symbolic expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymExprHint {
    AsInt(i64),
    AsBool(bool),
    AsFloat(JsonFloat),
}

/// `SymExpr`: a sympy expression in sympy's `srepr` spelling
/// (`Symbol('s77', positive=True, integer=True)`, `Add(…)`), and its hint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymExpr {
    pub expr_str: String,
    #[serde(default)]
    pub hint: Option<SymExprHint>,
}

/// `SymInt`: a size in a tensor meta or a `sym_int_values` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymInt {
    AsExpr(SymExpr),
    AsInt(i64),
}

/// `SymFloat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymFloat {
    AsExpr(SymExpr),
    AsFloat(JsonFloat),
}

/// `SymBool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymBool {
    AsExpr(SymExpr),
    AsBool(bool),
}

/// `TensorMeta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorMeta {
    pub dtype: ScalarType,
    pub sizes: Vec<SymInt>,
    pub requires_grad: bool,
    pub device: Device,
    pub strides: Vec<SymInt>,
    pub storage_offset: SymInt,
    pub layout: Layout,
}

/// `SymIntArgument`: a named SymInt value, or a plain int in a mixed list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymIntArgument {
    AsName(String),
    AsInt(i64),
}

/// `SymFloatArgument`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymFloatArgument {
    AsName(String),
    AsFloat(JsonFloat),
}

/// `SymBoolArgument`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymBoolArgument {
    AsName(String),
    AsBool(bool),
}

// ---------------------------------------------------------------------------------------
// Arguments

/// `TensorArgument`: a reference to a tensor value by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorArgument {
    pub name: String,
}

/// `TokenArgument`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenArgument {
    pub name: String,
}

/// `OptionalTensorArgument`: an element of a `Tensor?[]` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum OptionalTensorArgument {
    AsTensor(TensorArgument),
    AsNone(bool),
}

/// `GraphArgument`: a subgraph (a `cond` branch, a `map` body) passed to a
/// higher-order op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphArgument {
    pub name: String,
    pub graph: Box<Graph>,
}

/// `CustomObjArgument`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomObjArgument {
    pub name: String,
    pub class_fqn: String,
}

/// `ComplexValue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplexValue {
    pub real: JsonFloat,
    pub imag: JsonFloat,
}

/// `Argument`: PyTorch's union of every argument kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs, clippy::enum_variant_names)]
pub enum Argument {
    AsNone(bool),
    AsTensor(TensorArgument),
    AsTensors(Vec<TensorArgument>),
    AsInt(i64),
    AsInts(Vec<i64>),
    AsFloat(JsonFloat),
    AsFloats(Vec<JsonFloat>),
    AsString(String),
    AsStrings(Vec<String>),
    AsSymInt(SymIntArgument),
    AsSymInts(Vec<SymIntArgument>),
    AsScalarType(ScalarType),
    AsMemoryFormat(MemoryFormat),
    AsLayout(Layout),
    AsDevice(Device),
    AsBool(bool),
    AsBools(Vec<bool>),
    AsSymBool(SymBoolArgument),
    AsSymBools(Vec<SymBoolArgument>),
    AsGraph(GraphArgument),
    AsOptionalTensors(Vec<OptionalTensorArgument>),
    AsCustomObj(CustomObjArgument),
    AsOperator(String),
    AsSymFloat(SymFloatArgument),
    AsSymFloats(Vec<SymFloatArgument>),
    AsOptionalTensor(OptionalTensorArgument),
    AsComplex(ComplexValue),
    AsNestedTensors(Vec<Vec<TensorArgument>>),
    AsIntLists(Vec<Vec<i64>>),
    AsStringToArgument(BTreeMap<String, Argument>),
    AsFloatLists(Vec<Vec<JsonFloat>>),
}

/// `NamedArgument`: a node input, named by the op schema's argument name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedArgument {
    pub name: String,
    pub arg: Argument,
    #[serde(default)]
    pub kind: Option<ArgumentKind>,
}

// ---------------------------------------------------------------------------------------
// Graphs

/// `Node`: one call (`target` is `torch.ops.aten.add.Tensor`, `_operator.getitem`,
/// `torch.ops.higher_order.cond`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub target: String,
    pub inputs: Vec<NamedArgument>,
    pub outputs: Vec<Argument>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub is_hop_single_tensor_return: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `Graph`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub inputs: Vec<Argument>,
    pub outputs: Vec<Argument>,
    pub nodes: Vec<Node>,
    pub tensor_values: BTreeMap<String, TensorMeta>,
    #[serde(default)]
    pub sym_int_values: BTreeMap<String, SymInt>,
    #[serde(default)]
    pub sym_bool_values: BTreeMap<String, SymBool>,
    #[serde(default)]
    pub is_single_tensor_return: bool,
    #[serde(default)]
    pub custom_obj_values: BTreeMap<String, CustomObjArgument>,
    #[serde(default)]
    pub sym_float_values: BTreeMap<String, SymFloat>,
}

// ---------------------------------------------------------------------------------------
// Signature

/// `UserInputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInputSpec {
    pub arg: Argument,
}

/// `ConstantValue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ConstantValue {
    AsNone(bool),
    AsInt(i64),
    AsFloat(JsonFloat),
    AsString(String),
    AsBool(bool),
}

/// `InputToConstantInputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputToConstantInputSpec {
    pub name: String,
    pub value: ConstantValue,
}

/// `InputToParameterSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputToParameterSpec {
    pub arg: TensorArgument,
    pub parameter_name: String,
}

/// `InputToBufferSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputToBufferSpec {
    pub arg: TensorArgument,
    pub buffer_name: String,
    pub persistent: bool,
}

/// `InputToTensorConstantSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputToTensorConstantSpec {
    pub arg: TensorArgument,
    pub tensor_constant_name: String,
}

/// `InputToCustomObjSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputToCustomObjSpec {
    pub arg: CustomObjArgument,
    pub custom_obj_name: String,
}

/// `InputTokenSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputTokenSpec {
    pub arg: TokenArgument,
}

/// `InputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum InputSpec {
    UserInput(UserInputSpec),
    Parameter(InputToParameterSpec),
    Buffer(InputToBufferSpec),
    TensorConstant(InputToTensorConstantSpec),
    CustomObj(InputToCustomObjSpec),
    Token(InputTokenSpec),
    ConstantInput(InputToConstantInputSpec),
}

/// `UserOutputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserOutputSpec {
    pub arg: Argument,
}

/// `LossOutputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossOutputSpec {
    pub arg: TensorArgument,
}

/// `BufferMutationSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferMutationSpec {
    pub arg: TensorArgument,
    pub buffer_name: String,
}

/// `ParameterMutationSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterMutationSpec {
    pub arg: TensorArgument,
    pub parameter_name: String,
}

/// `GradientToParameterSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientToParameterSpec {
    pub arg: TensorArgument,
    pub parameter_name: String,
}

/// `GradientToUserInputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientToUserInputSpec {
    pub arg: TensorArgument,
    pub user_input_name: String,
}

/// `UserInputMutationSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInputMutationSpec {
    pub arg: TensorArgument,
    pub user_input_name: String,
}

/// `OutputTokenSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputTokenSpec {
    pub arg: TokenArgument,
}

/// `OutputSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum OutputSpec {
    UserOutput(UserOutputSpec),
    LossOutput(LossOutputSpec),
    BufferMutation(BufferMutationSpec),
    GradientToParameter(GradientToParameterSpec),
    GradientToUserInput(GradientToUserInputSpec),
    UserInputMutation(UserInputMutationSpec),
    Token(OutputTokenSpec),
    ParameterMutation(ParameterMutationSpec),
}

/// `GraphSignature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphSignature {
    pub input_specs: Vec<InputSpec>,
    pub output_specs: Vec<OutputSpec>,
}

/// `RangeConstraint`: `null` is unbounded (PyTorch writes `None` for `±int_oo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeConstraint {
    #[serde(default, deserialize_with = "bound")]
    pub min_val: Option<i64>,
    #[serde(default, deserialize_with = "bound")]
    pub max_val: Option<i64>,
}

/// A range bound: an integer, `null`, or an infinite float spelling (`"Infinity"`,
/// `"-Infinity"`, an out-of-range number), all but the integer meaning "unbounded".
fn bound<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match &v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None if n
                .as_f64()
                .is_some_and(|f| f.is_infinite() || f.abs() >= 9.2e18) =>
            {
                Ok(None)
            }
            None => Err(de::Error::custom(format!(
                "range bound {n} is not an integer"
            ))),
        },
        serde_json::Value::String(s)
            if matches!(
                s.as_str(),
                "Infinity" | "-Infinity" | "inf" | "-inf" | "oo" | "-oo" | "int_oo" | "-int_oo"
            ) =>
        {
            Ok(None)
        }
        other => Err(de::Error::custom(format!(
            "range bound {other} is not an integer"
        ))),
    }
}

/// `ModuleCallSignature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleCallSignature {
    pub inputs: Vec<Argument>,
    pub outputs: Vec<Argument>,
    pub in_spec: String,
    pub out_spec: String,
    #[serde(default)]
    pub forward_arg_names: Option<Vec<String>>,
}

/// `ModuleCallEntry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleCallEntry {
    pub fqn: String,
    #[serde(default)]
    pub signature: Option<ModuleCallSignature>,
}

/// `NamedTupleDef`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTupleDef {
    pub field_names: Vec<String>,
}

/// `GraphModule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphModule {
    pub graph: Graph,
    pub signature: GraphSignature,
    pub module_call_graph: Vec<ModuleCallEntry>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub treespec_namedtuple_fields: BTreeMap<String, NamedTupleDef>,
}

/// `SchemaVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaVersion {
    pub major: i64,
    pub minor: i64,
}

/// `ExportedProgram`: the content of `models/NAME.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedProgram {
    pub graph_module: GraphModule,
    pub opset_version: BTreeMap<String, i64>,
    pub range_constraints: OrderedMap<RangeConstraint>,
    pub schema_version: SchemaVersion,
    #[serde(default)]
    pub verifiers: Vec<String>,
    #[serde(default = "default_torch_version")]
    pub torch_version: String,
    #[serde(default)]
    pub guards_code: Vec<String>,
}

fn default_torch_version() -> String {
    "<=2.4".to_string()
}

// ---------------------------------------------------------------------------------------
// Payload configs (`data/weights/model_weights_config.json`,
// `data/constants/model_constants_config.json`)

/// `PayloadMeta`: one weight or constant file (`path_name` under the config's folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadMeta {
    pub path_name: String,
    pub is_param: bool,
    pub use_pickle: bool,
    #[serde(default)]
    pub tensor_meta: Option<TensorMeta>,
}

/// `PayloadConfig`: fully qualified name → payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadConfig {
    pub config: BTreeMap<String, PayloadMeta>,
}

/// A JSON object read and written in its own key order (PyTorch's range constraints are
/// a dict, printed in insertion order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> OrderedMap<V> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<V> FromIterator<(String, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        OrderedMap(iter.into_iter().collect())
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct OrderedMapVisitor<V>(std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<V> {
    type Value = OrderedMap<V>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<M: de::MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
        let mut entries: Vec<(String, V)> = Vec::new();
        while let Some((k, v)) = access.next_entry::<String, V>()? {
            if entries.iter().any(|(seen, _)| *seen == k) {
                return Err(de::Error::custom(format!("the key `{k}` appears twice")));
            }
            entries.push((k, v));
        }
        Ok(OrderedMap(entries))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(OrderedMapVisitor(std::marker::PhantomData))
    }
}

/// The dtype of a PyTorch `ScalarType` code.
pub(crate) fn dtype_of(code: i64) -> Result<crate::tensor::DType, String> {
    use crate::tensor::DType;
    Ok(match code {
        1 => DType::U8,
        4 => DType::I32,
        5 => DType::I64,
        7 => DType::F32,
        8 => DType::F64,
        12 => DType::Bool,
        other => {
            return Err(format!(
                "scalar type {other} is not supported (ferrex has f32 = 7, f64 = 8, i64 = 5, \
                 i32 = 4, u8 = 1, bool = 12)"
            ))
        }
    })
}
