// ExportDB `early_return_err`: `?` and `return Err(..)` in what forward calls.
use ferrex::prelude::*;

#[export_module]
struct EarlyReturnErr {
    max_rows: i64,
}

#[export_module]
impl EarlyReturnErr {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self.checked(x) {
            Ok(y) => y,
            Err(_) => x.clone(),
        }
    }

    fn checked(&self, x: &Tensor) -> Result<Tensor, String> {
        if x.size(0) > self.max_rows {
            return Err(format!("at most {} rows", self.max_rows));
        }
        let y = x.relu().check().map_err(|e| e.to_string())?.clone();
        Ok(y * 2)
    }
}

fn main() {}
