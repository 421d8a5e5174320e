//! Printing tensors, in PyTorch's `tensor([[...]])` style.

use std::fmt;

use super::{Storage, Tensor, TensorState};

fn write_nested(
    f: &mut fmt::Formatter<'_>,
    data: &[String],
    shape: &[usize],
    indent: usize,
) -> fmt::Result {
    match shape {
        [] => write!(f, "{}", data.first().map(String::as_str).unwrap_or("")),
        [_] => write!(f, "[{}]", data.join(", ")),
        [n, rest @ ..] => {
            let chunk: usize = rest.iter().product();
            write!(f, "[")?;
            for i in 0..*n {
                if i > 0 {
                    write!(f, ",")?;
                    for _ in 1..rest.len() {
                        writeln!(f)?;
                    }
                    write!(f, "\n{}", " ".repeat(indent + 1))?;
                }
                let part = if chunk == 0 {
                    &data[0..0]
                } else {
                    &data[i * chunk..(i + 1) * chunk]
                };
                write_nested(f, part, rest, indent + 1)?;
            }
            write!(f, "]")
        }
    }
}

fn format_elements(s: &Storage) -> Vec<String> {
    match s {
        Storage::F32(_) | Storage::F64(_) => {
            let vals = s.to_f64_vec();
            let all_int = vals.iter().all(|v| v.fract() == 0.0 && v.abs() < 1e8);
            vals.iter()
                .map(|v| {
                    if v.is_nan() {
                        "nan".to_string()
                    } else if v.is_infinite() {
                        if *v > 0.0 {
                            "inf".into()
                        } else {
                            "-inf".into()
                        }
                    } else if all_int {
                        format!("{v:.0}.")
                    } else {
                        format!("{v:.4}")
                    }
                })
                .collect()
        }
        Storage::Bool(a) => a
            .iter()
            .map(|b| if *b { "True".into() } else { "False".into() })
            .collect(),
        Storage::U8(a) => a.iter().map(|v| v.to_string()).collect(),
        Storage::I32(a) => a.iter().map(|v| v.to_string()).collect(),
        Storage::I64(a) => a.iter().map(|v| v.to_string()).collect(),
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state() {
            TensorState::Eager(s) => {
                let mut elems = format_elements(&s);
                let width = elems.iter().map(|e| e.len()).max().unwrap_or(0);
                for e in &mut elems {
                    *e = format!("{e:>width$}");
                }
                write!(f, "tensor(")?;
                write_nested(f, &elems, s.shape(), "tensor(".len())?;
                match s.dtype() {
                    crate::DType::F32 | crate::DType::I64 | crate::DType::Bool => write!(f, ")"),
                    d => write!(f, ", dtype={d})"),
                }
            }
            TensorState::Traced(t) => write!(f, "TracedTensor({}, node {})", t.meta, t.node.0),
            TensorState::Failed(e) => write!(f, "FailedTensor({e})"),
        }
    }
}
