//! The inputs file: a safetensors file holding `{P}in0, {P}in1, …` and, optionally, the
//! expected `{P}out0, …` and `{P}mut0, …`.

use std::collections::BTreeMap;
use std::path::Path;

use ferrex::Tensor;

use crate::CliError;

pub struct IoFile {
    tensors: BTreeMap<String, Tensor>,
    prefix: String,
    path: String,
}

impl IoFile {
    pub fn open(path: &Path, prefix: &str) -> Result<IoFile, CliError> {
        if !path.exists() {
            return Err(CliError::new(format!("no such file: {}", path.display())));
        }
        let tensors = ferrex::serialize::safetensors::load_file(path)?
            .into_iter()
            .collect();
        Ok(IoFile {
            tensors,
            prefix: prefix.to_string(),
            path: path.display().to_string(),
        })
    }

    /// A fresh copy of input `i` (calls mutate their inputs in place).
    pub fn input(&self, i: usize, name: &str) -> Result<Tensor, CliError> {
        let key = format!("{}in{i}", self.prefix);
        match self.tensors.get(&key) {
            Some(t) => Ok(t.copy()),
            None => Err(CliError::new(format!(
                "{} has no tensor `{key}` for input {i} (`{name}`){}",
                self.path,
                self.prefixes_hint()
            ))),
        }
    }

    /// The expected value `{P}{kind}{i}` (`out0`, `mut1`), if the file holds it.
    pub fn expected(&self, kind: &str, i: usize) -> Option<&Tensor> {
        self.tensors.get(&format!("{}{kind}{i}", self.prefix))
    }

    /// Names the prefixes the file does hold, when the asked one is not among them.
    fn prefixes_hint(&self) -> String {
        let prefixes: Vec<String> = self
            .tensors
            .keys()
            .filter_map(|k| k.strip_suffix("in0"))
            .map(|p| format!("`{p}`"))
            .collect();
        if prefixes.is_empty() || prefixes.iter().any(|p| p == &format!("`{}`", self.prefix)) {
            String::new()
        } else {
            format!("; its input sets have the prefixes {}", prefixes.join(", "))
        }
    }
}
