//! seglab turns a network segmentation design into a live lab on Docker and
//! proves, probe by probe, that only the permitted flows succeed.

pub mod agent;
pub mod netns;
pub mod node;
pub mod probe;
pub mod runtime;
