//! What PyTorch 2.15 does with its ExportDB cases: its verdict and printed program for
//! each, from the reference run copied into the crate (`pytorch/exportdb_results.txt`),
//! and each case's Python original (`pytorch/examples/<name>.py`, PyTorch's code under
//! its BSD license, see the README there), so that the catalogue shows PyTorch beside
//! ferrex and lists where their ops differ.

/// The reference output of PyTorch 2.15's ExportDB run.
const RESULTS: &str = include_str!("../pytorch/exportdb_results.txt");

/// `(name, source)` of each file of `pytorch/examples/`, named once.
macro_rules! python_originals {
    ($($name:ident),* $(,)?) => {
        [$((
            stringify!($name),
            include_str!(concat!("../pytorch/examples/", stringify!($name), ".py")),
        )),*]
    };
}

/// PyTorch 2.15's Python source of each of its ExportDB cases
/// (`torch/_export/db/examples/<name>.py`).
const PYTHON_ORIGINALS: [(&str, &str); 36] = python_originals!(
    assume_constant_result,
    autograd_function,
    class_method,
    cond_branch_class_method,
    cond_branch_nested_function,
    cond_branch_nonlocal_variables,
    cond_closed_over_variable,
    cond_operands,
    cond_predicate,
    constrain_as_size_example,
    constrain_as_value_example,
    decorator,
    dictionary,
    dynamic_shape_assert,
    dynamic_shape_constructor,
    dynamic_shape_if_guard,
    dynamic_shape_map,
    dynamic_shape_round,
    dynamic_shape_slicing,
    dynamic_shape_view,
    fn_with_kwargs,
    list_contains,
    list_unpack,
    model_attr_mutation,
    nested_function,
    null_context_manager,
    optional_input,
    pytree_flatten,
    scalar_output,
    specialized_attribute,
    static_for_loop,
    static_if,
    tensor_setattr,
    type_reflection_method,
    unsupported_operator,
    user_input_mutation,
);

/// PyTorch's Python source of the case called `name`, if it is one of PyTorch's.
pub fn python_original(name: &str) -> Option<&'static str> {
    PYTHON_ORIGINALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
}

/// One of PyTorch's cases as PyTorch 2.15 exports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyTorchCase {
    pub name: &'static str,
    /// PyTorch's support level: `SUPPORTED`, `NOT_SUPPORTED_YET`.
    pub support: &'static str,
    pub tags: Vec<&'static str>,
    /// The printed `ExportedProgram`, or the export error PyTorch reported.
    pub output: &'static str,
    /// The case's Python source in PyTorch (`torch/_export/db/examples/<name>.py`).
    pub python: Option<&'static str>,
}

impl PyTorchCase {
    pub fn is_supported(&self) -> bool {
        self.support == "SUPPORTED"
    }

    /// The op targets of PyTorch's program, spelt as ferrex prints them
    /// (`torch.ops.aten.add.Tensor` → `aten::add.Tensor`), in order.
    pub fn op_targets(&self) -> Vec<String> {
        let mut ops = Vec::new();
        for line in self.output.lines() {
            let mut rest = line;
            while let Some(at) = rest.find("torch.ops.") {
                let target = &rest[at + "torch.ops.".len()..];
                let end = target.find('(').unwrap_or(target.len());
                if let Some((namespace, op)) = target[..end].split_once('.') {
                    ops.push(format!("{namespace}::{op}"));
                }
                rest = &target[end..];
            }
        }
        ops
    }

    /// Where PyTorch's documentation shows the case.
    pub fn docs_url(&self) -> String {
        format!(
            "https://pytorch.org/docs/stable/generated/exportdb/index.html#{}",
            self.name.replace('_', "-")
        )
    }
}

/// Every case of PyTorch's reference run, in its order.
pub fn pytorch_cases() -> Vec<PyTorchCase> {
    let mut out = Vec::new();
    for block in
        RESULTS.split("======================================================================")
    {
        let block = block.trim_matches('\n');
        let Some(header) = block.lines().next() else {
            continue;
        };
        let Some(header) = header.strip_prefix("CASE ") else {
            continue;
        };
        let mut fields = header.split(" | ");
        let name = fields.next().unwrap_or_default().trim();
        let mut support = "";
        let mut tags = Vec::new();
        for field in fields {
            if let Some(s) = field.strip_prefix("support: ") {
                support = s.trim();
            } else if let Some(t) = field.strip_prefix("tags:") {
                tags = t
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect();
            }
        }
        let output = block
            .split_once('\n')
            .map(|(_, rest)| rest.trim_end())
            .unwrap_or_default();
        out.push(PyTorchCase {
            name,
            support,
            tags,
            output,
            python: python_original(name),
        });
    }
    out
}

/// PyTorch's reference for the case called `name`, if it is one of PyTorch's.
pub fn pytorch_case(name: &str) -> Option<PyTorchCase> {
    pytorch_cases().into_iter().find(|c| c.name == name)
}

/// How two lists of op targets differ: the ops (with repeats) only PyTorch records, and
/// those only ferrex records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpDifference {
    pub only_pytorch: Vec<String>,
    pub only_ferrex: Vec<String>,
}

impl OpDifference {
    pub fn between(pytorch: &[String], ferrex: &[String]) -> OpDifference {
        let mut only_ferrex: Vec<String> = ferrex.to_vec();
        let mut only_pytorch = Vec::new();
        for op in pytorch {
            match only_ferrex.iter().position(|f| f == op) {
                Some(i) => {
                    only_ferrex.remove(i);
                }
                None => only_pytorch.push(op.clone()),
            }
        }
        OpDifference {
            only_pytorch,
            only_ferrex,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.only_pytorch.is_empty() && self.only_ferrex.is_empty()
    }
}

impl std::fmt::Display for OpDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return write!(f, "the same ops as PyTorch");
        }
        let list = |ops: &[String]| {
            if ops.is_empty() {
                "none".to_string()
            } else {
                ops.join(", ")
            }
        };
        write!(
            f,
            "only in PyTorch: {}\nonly in ferrex: {}",
            list(&self.only_pytorch),
            list(&self.only_ferrex)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_holds_36_cases_35_supported() {
        let all = pytorch_cases();
        assert_eq!(all.len(), 36);
        assert_eq!(all.iter().filter(|c| c.is_supported()).count(), 35);
        let round = pytorch_case("dynamic_shape_round").unwrap();
        assert_eq!(round.support, "NOT_SUPPORTED_YET");
        assert!(round
            .output
            .starts_with("EXPORT FAILED (strict): UserError Constraints violated"));
        let size = pytorch_case("constrain_as_size_example").unwrap();
        assert_eq!(size.tags, ["torch.dynamic-value", "torch.escape-hatch"]);
        assert_eq!(
            size.op_targets(),
            [
                "aten::item.default",
                "aten::_assert_scalar.default",
                "aten::_assert_scalar.default",
                "aten::zeros.default"
            ]
        );
        assert!(size
            .output
            .ends_with("Range constraints: {u0: VR[0, 5], u1: VR[0, 5]}"));
    }

    #[test]
    fn every_case_has_its_python_original() {
        for case in pytorch_cases() {
            let python = case.python.unwrap_or_default();
            assert!(
                python.contains("class ") && python.contains("def forward(self"),
                "{} has its Python original",
                case.name
            );
        }
        let size = pytorch_case("constrain_as_size_example").unwrap();
        assert_eq!(
            size.python
                .map(|p| p.lines().skip(11).take(4).collect::<Vec<_>>()),
            Some(vec![
                "        a = x.item()",
                "        torch._check(a >= 0)",
                "        torch._check(a <= 5)",
                "        return torch.zeros((a, 5))",
            ])
        );
        assert_eq!(python_original("mut_self_forward"), None);
    }

    #[test]
    fn op_differences_count_repeats() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let d = OpDifference::between(
            &s(&[
                "aten::linear.default",
                "aten::add.Tensor",
                "aten::add.Tensor",
            ]),
            &s(&["aten::t.default", "aten::addmm.default", "aten::add.Tensor"]),
        );
        assert_eq!(d.only_pytorch, ["aten::linear.default", "aten::add.Tensor"]);
        assert_eq!(d.only_ferrex, ["aten::t.default", "aten::addmm.default"]);
        assert_eq!(
            d.to_string(),
            "only in PyTorch: aten::linear.default, aten::add.Tensor\nonly in ferrex: aten::t.default, aten::addmm.default"
        );
    }
}
