//! What each subcommand does with the library; `cli.rs` holds only the
//! argument definitions.

pub mod design;
