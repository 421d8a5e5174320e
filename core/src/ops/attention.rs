//! Attention: `scaled_dot_product_attention`.

use super::OpDef;

pub static OPS: &[&OpDef] = &[];
