//! Comparisons and logical ops (bool results), `where`, `clamp`.

use super::OpDef;

pub static OPS: &[&OpDef] = &[];
