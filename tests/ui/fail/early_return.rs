// `?` and `return Err(..)`: error paths in what forward calls.
use ferrex::prelude::*;

#[export_module]
struct Model {
    enabled: bool,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.checked(x).unwrap_or_else(|_| x.clone())
    }

    fn checked(&self, x: &Tensor) -> Result<Tensor, String> {
        if !self.enabled {
            return Err("disabled".to_string());
        }
        let x = x.check().map_err(|e| e.to_string())?;
        Ok(x.relu())
    }
}

fn main() {}
