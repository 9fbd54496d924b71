//! seglab turns a network segmentation design into a live lab on Docker and
//! proves, probe by probe, that only the permitted flows succeed.
//!
//! Pure parts: [`scenario`] (parse, resolve section by section, validate;
//! the built-in scenarios in [`scenario::builtin`]), [`catalog`],
//! [`plan`] (the expected matrix), [`render`] and [`nft`] (rule set text),
//! [`verify::judge`] and [`report`], and [`health`]'s comparisons;
//! [`trace`] turns the kernel's trace events into each probe's walks
//! through the traced nodes, its drop evidence and its explanation, and
//! [`rulesource`] maps a listed rule's handle back to the user's file and
//! line.
//!
//! Orchestration, generic over the backend: [`lab`] (up: claim, segments,
//! nodes, routes and rule sets), [`verify`] (probe, re-check the path,
//! judge, phases), [`testrun`] (`seglab test`), [`health`] (is every node
//! on a path as seglab left it).
//!
//! Side effects live behind seams: [`runtime::LabBackend`] (a lab's
//! segments and nodes, finding and removing labs, and running programs and
//! probes inside a node) with its Docker implementation in
//! [`runtime::docker`] (the only module that uses bollard) and an
//! in-memory fake for tests; [`netns`] (the only module that enters a
//! network namespace, used by the Docker backend); [`probe`] (the sockets).
//!
//! [`node_contract`] is what seglab and the node agent ([`agent`], PID 1 of
//! every lab node) agree on: its configuration and its identity lines.
//!
//! The binary: [`cli`] holds only the argument definitions; [`commands`]
//! has one module per command or group (`design` for list, validate, plan
//! and render, which need no lab; `lab` for up, down and exec; `status`;
//! `verify` for verify and test) and `commands::run` dispatches to them.

pub mod addressing;
pub mod agent;
pub mod cancel;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod diff;
pub mod error;
pub mod graph;
pub mod health;
pub mod lab;
pub mod netns;
pub mod nft;
pub mod node_contract;
pub mod observe;
pub mod pinned;
pub mod plan;
pub mod ports;
pub mod probe;
pub mod render;
pub mod report;
pub mod rulefile;
pub mod rulesource;
pub mod runtime;
pub mod scan;
pub mod scenario;
pub mod testrun;
pub mod trace;
pub mod verify;
pub mod watch;

/// Helpers the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod test_support;

/// The test tiers (pure, live), shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/live.rs"]
pub(crate) mod tier;
