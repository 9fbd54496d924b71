//! From the raw file to a [`Scenario`]: resolve every name, assign every
//! address, check everything, and report all problems at once.
//!
//! One resolver per section of the file, each in its own module. A resolver
//! takes its raw section and what it needs of the sections resolved before
//! it, and pushes located problems into the one shared [`Diagnostics`]
//! instead of stopping at the first, so that a user fixes a file in one
//! pass. The list is sorted by position at the end, so the report reads in
//! file order whatever the call order; the call order below still matters,
//! because problems at the same position and field keep the order they
//! were found in.

mod firewalls;
mod gateways;
mod hosts;
mod params;
mod phases;
mod policy;
mod reach;
mod routers;
mod segments;
mod selectors;

pub use params::apply_param;
pub use policy::LOCAL_FLOWS;

use super::model::*;
use super::raw::*;
use super::{ScenarioError, Source};
use crate::catalog::{Catalog, Params, BUILTIN_CATALOG};
use crate::diag::{Diagnostics, Pos};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn at<T>(s: &S<T>) -> Pos {
    Pos::of(&s.referenced)
}

fn check_name(d: &mut Diagnostics, name: &S<String>, field: String) {
    let n = &name.value;
    let ok = n.len() <= 24
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.ends_with('-');
    if !ok {
        d.push(
            at(name),
            field,
            format!("`{n}` is not a valid name (lowercase letters, digits and `-`, starting with a letter, at most 24 characters)"),
        );
    }
}

fn parse_basis(d: &mut Diagnostics, b: &S<String>, field: String) -> Basis {
    match b.value.as_str() {
        "stated" => Basis::Stated,
        "modelled" => Basis::Modelled,
        other => {
            d.push(
                at(b),
                field,
                format!("unknown basis `{other}` (expected `stated` or `modelled`)"),
            );
            Basis::Modelled
        }
    }
}

fn nth(net: &Ipv4Net, offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + offset)
}

/// Gateways and hosts share one namespace (each becomes a container named
/// after it); the value is the kind that took the name first, for the
/// message about the second.
type Names = BTreeMap<String, &'static str>;

/// Parses, resolves and validates: the scenario, or every problem found.
pub(super) fn load(
    src: &Source,
    overrides: &[(String, String)],
) -> Result<Scenario, ScenarioError> {
    let file = src.file.as_str();
    let mut d = Diagnostics::new(file);
    // Nothing but blank lines and comments: say so, rather than the YAML
    // parser's "unexpected end of input" at the end of the file.
    if let Some(what) = blank(&src.text) {
        d.push(Pos { line: 1, col: 1 }, "", what);
        return Err(ScenarioError::Invalid(d.into_sorted()));
    }
    let raw: RawScenario = serde_saphyr::from_str(&src.text)
        .map_err(|e| ScenarioError::Invalid(vec![crate::diag::from_yaml_error(file, &e)]))?;

    check_name(&mut d, &raw.name, "name".into());
    let params = params::resolve(&mut d, &raw.params, overrides)?;
    let catalog = catalog(&mut d, &raw.catalog, src, &params)?;

    let raw_segments = &raw.segments.value;
    let mut segments = segments::resolve(&mut d, &raw.segments);
    let mut names = Names::new();
    let mut gateways = gateways::resolve(&mut d, &raw.gateways, raw_segments, src, &mut names);
    let mut used = routers::place(&mut d, raw_segments, &mut segments, &mut gateways);
    let mut hosts = hosts::resolve(
        &mut d,
        &raw.hosts,
        raw_segments,
        &segments,
        &catalog,
        &mut names,
        &mut used,
    );

    // Refs copies what selectors read of the hosts (names and roles, which
    // no later section changes), so that the firewalls can be set on the
    // hosts while their selectors are checked.
    let refs = selectors::Refs::new(raw_segments, &catalog, &params, &hosts);
    firewalls::resolve(&mut d, &raw.host_firewalls, &refs, &mut hosts);
    let policy = policy::resolve(&mut d, &raw.policy, &refs, &hosts);
    let phases = phases::resolve(&mut d, &raw.phases, &refs, &hosts, &gateways, src);
    let block = block(&mut d, &raw.block);

    let scenario = Scenario {
        name: raw.name.value.clone(),
        block,
        title: raw.title.clone(),
        file: file.to_string(),
        params,
        catalog,
        segments,
        gateways,
        hosts,
        policy,
        phases,
    };

    // Reachability needs a whole, valid topology: on top of other problems
    // it would only repeat them.
    if d.is_empty() {
        reach::check(&mut d, &scenario, &raw.hosts.value);
    }

    if !d.is_empty() {
        return Err(ScenarioError::Invalid(d.into_sorted()));
    }
    Ok(scenario)
}

/// Why a file holding no YAML document is empty, or None if it holds one.
fn blank(text: &str) -> Option<&'static str> {
    let blank = text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    });
    if !blank {
        None
    } else if text.trim().is_empty() {
        Some("the scenario file is empty")
    } else {
        Some("the scenario file is empty (it holds only comments)")
    }
}

/// The `catalog` key: the built-in catalog, or a file beside the scenario.
/// Every later section names its roles and flows, so a catalog that cannot
/// be read or is invalid ends the resolution here, with the problems found
/// so far; the catalog's own problems come first (they are in another file).
fn catalog(
    d: &mut Diagnostics,
    raw: &Option<S<String>>,
    src: &Source,
    params: &Params,
) -> Result<Catalog, ScenarioError> {
    let loaded = match raw {
        None => Catalog::load("scenarios/catalog.yaml", BUILTIN_CATALOG, params),
        Some(c) => match src.sibling(&c.value) {
            Ok((name, text)) => Catalog::load(&name, &text, params),
            Err(e) => {
                d.push(at(c), "catalog", e);
                return Err(ScenarioError::Invalid(std::mem::take(d).into_sorted()));
            }
        },
    };
    loaded.map_err(|mut errs| {
        errs.extend(std::mem::take(d).into_sorted());
        ScenarioError::Invalid(errs)
    })
}

/// The `block` key: how blocked flows must be blocked, if the file says.
fn block(d: &mut Diagnostics, raw: &Option<S<String>>) -> Option<BlockStyle> {
    let b = raw.as_ref()?;
    match b.value.as_str() {
        "drop" => Some(BlockStyle::Drop),
        "reject" => Some(BlockStyle::Reject),
        other => {
            d.push(
                at(b),
                "block",
                format!("unknown block style `{other}` (expected `drop` or `reject`)"),
            );
            None
        }
    }
}
