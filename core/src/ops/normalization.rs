//! Normalisation: batch norm (inference), layer norm, group norm.

use super::OpDef;

pub static OPS: &[&OpDef] = &[];
