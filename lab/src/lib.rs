//! seglab turns a network segmentation design into a live lab on Docker and
//! proves, probe by probe, that only the permitted flows succeed.
//!
//! Pure parts: [`scenario`] (parse, resolve, validate), [`catalog`],
//! [`plan`] (the expected matrix), [`render`] and [`nft`] (rule set text),
//! [`verify::judge`] and [`report`]. Side effects live behind two seams:
//! [`runtime`] (the Docker engine, the only module that uses bollard) and
//! [`netns`] (the only one that enters a container's network namespace).
//!
//! The lab itself: [`lab`] brings a scenario up, finds it again on the
//! engine (its `inventory`) and takes it down; [`verify`] probes it
//! ([`probe`]) and [`testrun`] runs up, verify and down as one test.
//! [`node_contract`] is what seglab and the node agent ([`agent`], PID 1 of
//! every lab container) agree on: its configuration and its identity lines.
//!
//! The binary: [`cli`] holds only the argument definitions; [`commands`]
//! has one module per command or group (`design` for list, validate, plan
//! and render, which need no lab; `lab` for up, down and exec; `status`;
//! `verify` for verify and test) and `commands::run` dispatches to them.

pub mod addressing;
pub mod agent;
pub mod builtin;
pub mod cancel;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod error;
pub mod health;
pub mod lab;
pub mod netns;
pub mod nft;
pub mod node_contract;
pub mod plan;
pub mod ports;
pub mod probe;
pub mod render;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod testrun;
pub mod verify;
