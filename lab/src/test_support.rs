//! Helpers that the unit tests of several modules share, so that building
//! a value every test needs is written once (and a new field of its type
//! is one change here, not one per test module).

use crate::scenario::RuleFile;

/// A rule file as a scenario names it (`name`), with `text`: the files
/// that rulefile, rulesource, watch, pinned and status tests load.
pub fn rule_file(name: &str, text: &str) -> RuleFile {
    RuleFile {
        file: name.into(),
        text: text.into(),
    }
}
