//! What went wrong while tracing, as the export error a user reads.

use super::{TraceIssue, TraceState};
use crate::error::{CodeSnippet, DataDependentValue, ExportError, SourceLocation, TensorError};
use crate::module::SourceLine;

/// The code of a source line, when a module's macro recorded it.
pub(crate) fn code_at(sources: &[SourceLine], at: SourceLocation) -> CodeSnippet {
    CodeSnippet(
        sources
            .iter()
            .find(|l| l.file == at.file && l.line == at.line)
            .map(|l| l.code.to_string()),
    )
}

pub(crate) fn report_issues(trace: &TraceState, sources: &[SourceLine]) -> Result<(), ExportError> {
    // Data-dependence is the root cause when both occur: report it first.
    for issue in &trace.issues {
        if let TraceIssue::DataAccess { access, at } = issue {
            return Err(ExportError::DataDependent {
                access,
                location: *at,
                code: code_at(sources, *at),
            });
        }
    }
    match trace.issues.first() {
        Some(issue) => Err(issue_error(issue, sources)),
        None => Ok(()),
    }
}

/// The export error for something that went wrong while tracing.
pub(crate) fn issue_error(issue: &TraceIssue, sources: &[SourceLine]) -> ExportError {
    match issue {
        TraceIssue::Op(TensorError::DataDependent { access, at })
        | TraceIssue::DataAccess { access, at } => ExportError::DataDependent {
            access,
            location: *at,
            code: code_at(sources, *at),
        },
        TraceIssue::Op(other) => ExportError::Op(other.clone()),
        TraceIssue::Reentrant => ExportError::Verify(
            "the trace state was used re-entrantly, so part of the trace was not recorded \
             (a bug in ferrex: please report it)"
                .into(),
        ),
        TraceIssue::DataDependentGuard {
            expr,
            size_like,
            detail,
            at,
        } => ExportError::GuardOnDataDependent(Box::new(DataDependentValue {
            expr: expr.clone(),
            size_like: size_like.clone(),
            location: *at,
            code: code_at(sources, *at),
            detail: detail.clone(),
        })),
        TraceIssue::DataDependentInt {
            expr,
            size_like,
            detail,
            at,
        } => ExportError::DataDependentInt(Box::new(DataDependentValue {
            expr: expr.clone(),
            size_like: size_like.clone(),
            location: *at,
            code: code_at(sources, *at),
            detail: detail.clone(),
        })),
    }
}
