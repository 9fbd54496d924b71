//! Located diagnostics: every problem in a scenario or catalog is reported as
//! `file:line:col: field: message`, and all problems are collected before any
//! is reported, so a user fixes a file in one pass.

use std::fmt;

/// A position in a source file (1-based; 0 means unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub col: u64,
}

impl Pos {
    pub fn of(loc: &serde_saphyr::Location) -> Pos {
        Pos {
            line: loc.line(),
            col: loc.column(),
        }
    }
}

/// One problem, located in a file and naming the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    /// Field path, e.g. `hosts[2].segment`; empty for whole-file problems.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.col)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A list of diagnostics for one file, with a helper to add located entries.
#[derive(Debug, Default)]
pub struct Diagnostics {
    file: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: impl Into<String>) -> Self {
        Diagnostics {
            file: file.into(),
            items: Vec::new(),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn push(&mut self, pos: Pos, field: impl Into<String>, message: impl Into<String>) {
        self.items.push(Diagnostic {
            file: self.file.clone(),
            pos,
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorted by position so the report reads top to bottom.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items
            .sort_by(|a, b| (&a.file, a.pos, &a.field).cmp(&(&b.file, b.pos, &b.field)));
        self.items.dedup();
        self.items
    }
}

/// Turns a YAML parse error into a located diagnostic with a one-line message.
pub fn from_yaml_error(file: &str, err: &serde_saphyr::Error) -> Diagnostic {
    let pos = err.location().map(|l| Pos::of(&l)).unwrap_or_default();
    Diagnostic {
        file: file.to_string(),
        pos,
        field: String::new(),
        message: one_line_message(&err.to_string()),
    }
}

/// serde-saphyr renders errors with a source snippet; keep only the message
/// line so that our own `file:line:col:` prefix stays the single location.
fn one_line_message(rendered: &str) -> String {
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid YAML");
    let msg = first.trim_start_matches("error: ");
    // serde-saphyr writes the location as a leading "line X column Y: ";
    // other renderings end in " at line X, column Y". Either duplicates our
    // own prefix.
    let msg = match msg
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((loc, tail)) if loc.contains(" column ") => tail,
        _ => msg,
    };
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    msg.to_string()
}
