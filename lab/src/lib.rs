//! seglab turns a network segmentation design into a live lab on Docker and
//! proves, probe by probe, that only the permitted flows succeed.
//!
//! Pure parts: [`scenario`] (parse, resolve, validate), [`catalog`],
//! [`plan`] (the expected matrix), [`render`] and [`nft`] (rule set text),
//! [`verify::judge`] and [`report`]. Side effects live behind two seams:
//! [`runtime`] (the Docker engine, the only module that uses bollard) and
//! [`netns`] (the only one that enters a container's network namespace).

pub mod addressing;
pub mod agent;
pub mod builtin;
pub mod cancel;
pub mod catalog;
pub mod cli;
pub mod diag;
pub mod error;
pub mod health;
pub mod lab;
pub mod netns;
pub mod nft;
pub mod node;
pub mod offline;
pub mod plan;
pub mod ports;
pub mod probe;
pub mod render;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod testrun;
pub mod verify;

/// The test tiers (pure, live), shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/live.rs"]
pub(crate) mod tier;
