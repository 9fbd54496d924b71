//! Scenario files: where they come from (a path, or compiled in), how they
//! are parsed strictly, resolved into typed values and validated, with every
//! problem reported at once and located (`file:line:col: field: message`).

pub mod builtin;
mod model;
mod raw;
mod resolve;
pub mod topology;

pub use model::*;
pub use resolve::{apply_param, LOCAL_FLOWS};

use crate::diag::Diagnostic;
use std::path::{Path, PathBuf};

/// A scenario compiled into the binary, with the files it refers to.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub yaml: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

/// Where a scenario's text and its sibling files (rule sets) come from.
#[derive(Debug, Clone)]
enum Origin {
    Builtin(&'static Builtin),
    Dir(PathBuf),
}

/// A scenario file, read but not yet parsed.
#[derive(Debug, Clone)]
pub struct Source {
    /// What messages call it: the path, or `scenarios/NAME/scenario.yaml`
    /// for a built-in one.
    pub file: String,
    pub text: String,
    origin: Origin,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("no scenario file or built-in scenario named `{name}` (built in: {})", builtin::names().join(", "))]
    NotFound { name: String },
    #[error("{0}")]
    BadOverride(String),
}

fn render(diags: &[Diagnostic]) -> String {
    let mut s = diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    s.push_str(&format!(
        "\n{} problem{} found",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    ));
    s
}

impl Source {
    /// A path to a scenario file (or a directory holding `scenario.yaml`),
    /// else the name of a built-in scenario.
    pub fn open(arg: &str) -> Result<Source, ScenarioError> {
        let path = Path::new(arg);
        if path.exists() {
            let file = if path.is_dir() {
                path.join("scenario.yaml")
            } else {
                path.to_path_buf()
            };
            let name = file.display().to_string();
            let bytes = std::fs::read(&file).map_err(|source| ScenarioError::Io {
                path: name.clone(),
                source,
            })?;
            let text = utf8(&name, bytes).map_err(|d| ScenarioError::Invalid(vec![d]))?;
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok(Source {
                file: file.display().to_string(),
                text,
                origin: Origin::Dir(dir),
            });
        }
        match builtin::find(arg) {
            Some(b) => Ok(Source::builtin(b)),
            None => Err(ScenarioError::NotFound {
                name: arg.to_string(),
            }),
        }
    }

    pub fn builtin(b: &'static Builtin) -> Source {
        Source {
            file: format!("scenarios/{}/scenario.yaml", b.name),
            text: b.yaml.to_string(),
            origin: Origin::Builtin(b),
        }
    }

    /// A scenario given as text, with sibling files looked up in `dir`.
    pub fn from_text(file: impl Into<String>, text: impl Into<String>, dir: PathBuf) -> Source {
        Source {
            file: file.into(),
            text: text.into(),
            origin: Origin::Dir(dir),
        }
    }

    /// Reads a file named relative to the scenario: (display name, text).
    pub fn sibling(&self, rel: &str) -> Result<(String, String), String> {
        match &self.origin {
            Origin::Builtin(b) => b
                .files
                .iter()
                .find(|(n, _)| *n == rel)
                .map(|(n, t)| (format!("scenarios/{}/{n}", b.name), t.to_string()))
                .ok_or_else(|| format!("file `{rel}` not found beside the built-in scenario")),
            Origin::Dir(dir) => {
                let p = dir.join(rel);
                let name = p.display().to_string();
                let bytes = std::fs::read(&p).map_err(|e| format!("cannot read `{name}`: {e}"))?;
                utf8(&name, bytes)
                    .map(|t| (name, t))
                    .map_err(|d| d.to_string())
            }
        }
    }

    /// Parses, resolves and validates, with `params` (KEY=VALUE) overriding
    /// the file's parameters.
    pub fn load(&self, params: &[(String, String)]) -> Result<Scenario, ScenarioError> {
        resolve::load(self, params)
    }
}

/// The text of a file, or where its first byte that is not UTF-8 is: line,
/// column (in characters) and byte offset, so that an editor can go there.
fn utf8(file: &str, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // Everything before `bad` is valid UTF-8.
        let before = std::str::from_utf8(&bytes[..bad]).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Diagnostic {
            file: file.to_string(),
            pos: crate::diag::Pos {
                line: before.matches('\n').count() as u64 + 1,
                col: before[line_start..].chars().count() as u64 + 1,
            },
            field: String::new(),
            message: format!(
                "byte 0x{:02x} at offset {bad} is not UTF-8 (seglab reads UTF-8 text only)",
                bytes[bad]
            ),
        }
    })
}

/// Loads a scenario by path or built-in name with default parameters.
pub fn load(arg: &str) -> Result<Scenario, ScenarioError> {
    Source::open(arg)?.load(&[])
}
