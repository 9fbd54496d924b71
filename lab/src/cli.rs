//! The command line: argument definitions only. What each command does is
//! in [`crate::commands`]; `main.rs` only parses, runs and maps errors to
//! exit codes.

use crate::commands::design::PlanFormat;
use crate::commands::graph::GraphFormat;
use crate::lab::RulesetOverride;
use crate::report::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "seglab",
    version,
    about = "Turn a network segmentation design into a live Docker lab and prove, probe by probe, that only the permitted flows succeed"
)]
pub struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in scenarios.
    List,
    /// Check scenario files (or built-in names); report every problem, located.
    Validate {
        #[arg(required = true, value_name = "FILE|NAME")]
        scenarios: Vec<String>,
    },
    /// Print the expected probe matrix of a scenario.
    Plan {
        scenario: String,
        #[arg(long)]
        phase: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Print a reference nft rule set derived from the policy.
    Render {
        scenario: String,
        #[arg(long)]
        gateway: Option<String>,
        #[arg(long)]
        phase: Option<String>,
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Draw the topology of a scenario, or of a running lab as placed:
    /// segments, transit networks, gateways with their interfaces, hosts.
    Graph {
        /// A scenario file or built-in name, else the name of a running lab.
        #[arg(value_name = "SCENARIO|LAB")]
        target: String,
        #[arg(long, value_enum, default_value_t = GraphFormat::Svg)]
        format: GraphFormat,
        /// Scenario parameters (not for a lab: it shows what it runs).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Write the drawing to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Bring a scenario up as a live lab.
    Up {
        scenario: String,
        /// Lab name (default: the scenario's name and a random suffix).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        inputs: LabInputs,
    },
    /// Remove a lab (or all labs) by label; safe to repeat.
    Down {
        #[arg(required_unless_present_any = ["all", "images"], conflicts_with = "all")]
        lab: Option<String>,
        #[arg(long)]
        all: bool,
        /// Also remove seglab's node images.
        #[arg(long)]
        images: bool,
    },
    /// List labs, or show one lab's segments, gateways and hosts.
    Status { lab: Option<String> },
    /// Run a host program inside a lab node's network namespace.
    Exec {
        lab: String,
        node: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Replace gateway rule sets in a running lab: every file is checked in
    /// its gateway first, each gateway's replacement is one nft transaction,
    /// and a refused file changes nothing.
    Apply {
        lab: String,
        /// GATEWAY=FILE (GATEWAY@PHASE[:close]=FILE only changes what the phase loads).
        #[arg(long = "ruleset", value_name = "GATEWAY=FILE", required = true)]
        rulesets: Vec<RulesetOverride>,
    },
    /// Watch a lab's rule files (and scenario file): on each save apply,
    /// verify again and print the cells that changed.
    Watch {
        lab: String,
        /// Watch these files for these gateways (default: the lab's own rule files).
        #[arg(long = "ruleset", value_name = "GATEWAY=FILE")]
        rulesets: Vec<RulesetOverride>,
        /// Probe timeout in milliseconds (50 to 60000).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(TIMEOUT_MS))]
        timeout: u64,
        /// Do not trace probes in the gateways (see verify --no-trace).
        #[arg(long)]
        no_trace: bool,
    },
    /// Probe a running lab and judge every cell against the plan.
    Verify {
        lab: String,
        #[arg(long)]
        phase: Option<String>,
        /// Judge GATEWAY alone: every other gateway forwards everything meanwhile.
        #[arg(long, value_name = "GATEWAY")]
        isolate: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Probe one cell and say why it ends as it does: what was observed,
    /// what the plan expects (and the flow that permits it), and the path hop
    /// by hop with the rule or policy that decided in each gateway.
    Explain {
        lab: String,
        /// Source host (name or address).
        src: String,
        /// Destination host (name or address).
        dst: String,
        /// tcp/PORT or udp/PORT, any port (not only the catalog's).
        #[arg(value_name = "PROTO/PORT")]
        port: crate::ports::PortKey,
        /// Open this phase for the probe (and close it again).
        #[arg(long)]
        phase: Option<String>,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
        /// Probe timeout in milliseconds, when no drop is seen.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(TIMEOUT_MS))]
        timeout: u64,
    },
    /// Scan every TCP and UDP port of host pairs and judge each against the
    /// plan: a port that no flow permits and that opens is a leak.
    Scan {
        lab: String,
        /// Sources: a host, role:R, segment:S or any.
        #[arg(long, default_value = "any", value_name = "SEL")]
        from: crate::scan::select::Selector,
        /// Destinations: a host, role:R, segment:S or any.
        #[arg(long, default_value = "any", value_name = "SEL")]
        to: crate::scan::select::Selector,
        /// Protocols to scan.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "tcp,udp",
            value_name = "tcp,udp"
        )]
        proto: Vec<crate::node_contract::Proto>,
        /// Ports to scan: ranges and ports, e.g. 1-1024,8080.
        #[arg(long, default_value = "1-65535", value_name = "RANGES")]
        ports: crate::scan::PortSet,
        /// Open this phase for the scan (and close it again).
        #[arg(long)]
        phase: Option<String>,
        #[command(flatten)]
        output: ReportArgs,
    },
    /// Up, verify every phase, down: the CI verb. No scenario: all built-in ones.
    Test(TestArgs),
    /// Probe every host pair of a running lab and show what is reachable,
    /// judged against no policy: the open ports of each host pair and a
    /// segment x segment summary.
    Observe {
        lab: String,
        /// Open this phase for the observation (and close it again).
        #[arg(long)]
        phase: Option<String>,
        /// Scan these ports (e.g. 1-1024,8080) with the scan engine instead
        /// of probing the catalog's ports (host pairs that nothing filters are not scanned).
        #[arg(long, value_name = "RANGES")]
        ports: Option<crate::scan::PortSet>,
        #[arg(long, value_enum, default_value_t = ObserveFormat::Table)]
        format: ObserveFormat,
        /// Write the observation to FILE (in --format); the table still goes to standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Probe timeout in milliseconds (50 to 60000).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(TIMEOUT_MS))]
        timeout: u64,
        /// Write a `policy:` section permitting exactly what was observed open
        /// to FILE (never overwrites: an existing FILE is refused).
        #[arg(long, value_name = "FILE")]
        write_policy: Option<PathBuf>,
    },
    /// Compare two reports or observations (JSON): the cells whose observed
    /// result changed.
    Diff {
        before: PathBuf,
        after: PathBuf,
        #[arg(long, value_enum, default_value_t = DocFormat::Table)]
        format: DocFormat,
        /// Exit 1 when any cell changed.
        #[arg(long)]
        fail_on_change: bool,
    },
}

/// Output of `observe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObserveFormat {
    Table,
    Json,
    /// One self-contained page: the topology and a host x host matrix of open ports.
    Html,
}

/// Output of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocFormat {
    Table,
    Json,
}

/// `test --baseline`: compare the run with an earlier report or observation.
#[derive(Debug, Default, clap::Args)]
pub struct BaselineArgs {
    /// After the run, show the cells whose observed result changed since FILE
    /// (a report or observation, JSON); read before any lab is made.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: exit 1 when any cell changed.
    #[arg(long, requires = "baseline")]
    pub fail_on_change: bool,
}

/// What `seglab test` runs and how.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    pub scenarios: Vec<String>,
    #[command(flatten)]
    pub inputs: LabInputs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Leave the labs running.
    #[arg(long)]
    pub keep: bool,
    /// Also verify the base policy with each gateway judged alone (see verify --isolate).
    #[arg(long)]
    pub each_gateway: bool,
    /// Also scan every port of every filtered host pair, in every phase (see scan).
    #[arg(long)]
    pub scan: bool,
    #[command(flatten)]
    pub baseline: BaselineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct LabInputs {
    /// Your own rule file (nft, or iptables-save for GATEWAY=FILE): GATEWAY=FILE, GATEWAY@PHASE=FILE, GATEWAY@PHASE:close=FILE.
    #[arg(long = "ruleset", value_name = "GATEWAY=FILE")]
    pub rulesets: Vec<RulesetOverride>,
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

/// Where a report goes and in which format.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// table, json, junit, markdown (a CI job summary) or html (one self-contained page).
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// Write the report to FILE (in --format); the table still goes to standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// `-v`: the table and Markdown list every failing host pair (set from
    /// the global flag, not an argument of its own).
    #[arg(skip)]
    pub verbose: bool,
    /// The topologies and parameters an HTML report shows (set by the
    /// command, not an argument).
    #[arg(skip)]
    pub page: crate::report::html::Context,
}

/// Where a report goes, and how the cells are probed (`verify`, `test`).
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Probe timeout in milliseconds (50 to 60000): a dropped probe costs exactly this.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(TIMEOUT_MS))]
    pub timeout: u64,
    /// Do not trace probes in the gateways: the same verdicts, but every
    /// dropped probe waits for the timeout and failing cells are not explained.
    #[arg(long)]
    pub no_trace: bool,
}

/// Bounds of `--timeout` in milliseconds. Below 50 ms a leak whose answer
/// is merely slow (a busy engine, a loaded CI runner) looks blocked, and a
/// cell that must be blocked then passes (`--timeout 1` passed 60 of 358
/// leaks); above a minute, a run with dropped probes never seems to end.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 50..=60_000;
