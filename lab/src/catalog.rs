//! The Appendix A port catalog: every flow of the whitepaper (who opens it,
//! to whom, on which ports) and, derived from it, which stub services each
//! role runs. Parsed strictly from `scenarios/catalog.yaml` (compiled in) and
//! resolved for one release and one set of parameters.

use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::ports::{parse_port_spec, ParamLookup, PortKey, PortSpec};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};

/// The catalog shipped with seglab.
pub const BUILTIN_CATALOG: &str = include_str!("../../scenarios/catalog.yaml");

/// Product release, which changes flow 6 (remote installation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    /// Backup 12.5 Update 2 and later.
    #[default]
    U2,
    /// Backup 12.5 Update 1 and earlier.
    U1,
}

impl std::str::FromStr for Release {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "u2" => Ok(Release::U2),
            "u1" => Ok(Release::U1),
            _ => Err(format!("unknown release `{s}` (expected u2 or u1)")),
        }
    }
}

/// Scenario parameters that catalog ports and rule sets may refer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The management server's web console port (default 9877); the
    /// whitepaper says it "can be changed".
    pub console_port: u16,
    pub release: Release,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            console_port: 9877,
            release: Release::U2,
        }
    }
}

impl Params {
    /// The parameters of `self` that differ from `file`'s, as `--param`
    /// pairs: what a lab was given on the command line at `up` beyond its
    /// scenario file.
    pub fn overrides_of(&self, file: &Params) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.console_port != file.console_port {
            out.push(("console_port".to_string(), self.console_port.to_string()));
        }
        if self.release != file.release {
            let r = match self.release {
                Release::U2 => "u2",
                Release::U1 => "u1",
            };
            out.push(("release".to_string(), r.to_string()));
        }
        out
    }
}

impl ParamLookup for Params {
    fn port_param(&self, name: &str) -> Option<u16> {
        (name == "console_port").then_some(self.console_port)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    flows: Vec<RawFlow>,
    roles: Vec<RawRole>,
    #[serde(default)]
    probe_extra: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    id: Spanned<u32>,
    title: String,
    from: Spanned<String>,
    to: Spanned<String>,
    ports: Vec<Spanned<String>>,
    #[serde(default)]
    release: Option<Spanned<String>>,
    quote: String,
    /// For people reading the catalog; parsed so that it is allowed.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: Spanned<String>,
    title: String,
    #[serde(default)]
    serves: Vec<Spanned<u32>>,
    #[serde(default)]
    ports: Vec<Spanned<String>>,
}

/// One Appendix A flow, resolved for a release and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFlow {
    pub id: u32,
    pub title: String,
    pub from: String,
    pub to: String,
    pub ports: Vec<PortSpec>,
    pub quote: String,
}

/// A role and the stub services it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub title: String,
    pub services: Vec<PortSpec>,
}

/// The catalog resolved for one release and parameter set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub flows: Vec<CatalogFlow>,
    pub roles: BTreeMap<String, Role>,
    /// Ports outside the catalog that are probed too, so that a gateway that
    /// lets everything through shows leaks beyond the documented ports.
    pub probe_extra: Vec<PortSpec>,
    /// Ports of flows of the other releases: probed as well, so that a rule
    /// set written for another release shows up (e.g. 43234 still open
    /// under U1).
    pub other_release_ports: Vec<PortSpec>,
}

impl Catalog {
    pub fn flow(&self, id: u32) -> Option<&CatalogFlow> {
        self.flows.iter().find(|f| f.id == id)
    }

    /// Every port the probe matrix runs over: all catalog ports, every
    /// role's services and the extra probe ports.
    pub fn probe_ports(&self) -> BTreeSet<PortKey> {
        let flows = self.flows.iter().flat_map(|f| f.ports.iter());
        let roles = self.roles.values().flat_map(|r| r.services.iter());
        flows
            .chain(roles)
            .chain(self.probe_extra.iter())
            .chain(self.other_release_ports.iter())
            .map(|p| p.key)
            .collect()
    }

    /// Parses and resolves a catalog; all problems are reported at once.
    pub fn load(file: &str, text: &str, params: &Params) -> Result<Catalog, Vec<Diagnostic>> {
        if text.trim().is_empty() {
            let mut d = Diagnostics::new(file);
            d.push(Pos { line: 1, col: 1 }, "", "the catalog file is empty");
            return Err(d.into_sorted());
        }
        let raw: RawCatalog = serde_saphyr::from_str(text)
            .map_err(|e| vec![crate::diag::from_yaml_error(file, &e)])?;
        let mut d = Diagnostics::new(file);
        let mut flows = Vec::new();
        let mut other_release_ports = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, f) in raw.flows.iter().enumerate() {
            let release = match &f.release {
                None => None,
                Some(r) => match r.value.parse::<Release>() {
                    Ok(r) => Some(r),
                    Err(e) => {
                        d.push(Pos::of(&r.referenced), format!("flows[{i}].release"), e);
                        None
                    }
                },
            };
            if !seen.insert((f.id.value, release)) {
                d.push(
                    Pos::of(&f.id.referenced),
                    format!("flows[{i}].id"),
                    format!("flow {} is listed twice for the same release", f.id.value),
                );
            }
            let mut ports = Vec::new();
            for (j, p) in f.ports.iter().enumerate() {
                match parse_port_spec(&p.value, params) {
                    Ok(spec) => ports.push(spec),
                    Err(e) => d.push(Pos::of(&p.referenced), format!("flows[{i}].ports[{j}]"), e),
                }
            }
            if release.is_some() && release != Some(params.release) {
                other_release_ports.extend(ports);
            } else {
                flows.push(CatalogFlow {
                    id: f.id.value,
                    title: f.title.clone(),
                    from: f.from.value.clone(),
                    to: f.to.value.clone(),
                    ports,
                    quote: f.quote.clone(),
                });
            }
        }
        let role_names: BTreeSet<&str> = raw.roles.iter().map(|r| r.name.value.as_str()).collect();
        for (i, f) in raw.flows.iter().enumerate() {
            for (field, v) in [("from", &f.from), ("to", &f.to)] {
                if !role_names.contains(v.value.as_str()) {
                    d.push(
                        Pos::of(&v.referenced),
                        format!("flows[{i}].{field}"),
                        format!("unknown role `{}`", v.value),
                    );
                }
            }
        }
        let mut roles = BTreeMap::new();
        for (i, r) in raw.roles.iter().enumerate() {
            let mut services: Vec<PortSpec> = Vec::new();
            let mut add = |spec: &PortSpec| {
                if !services.iter().any(|s| s.key == spec.key) {
                    services.push(spec.clone());
                }
            };
            for (j, id) in r.serves.iter().enumerate() {
                let matching: Vec<&CatalogFlow> =
                    flows.iter().filter(|f| f.id == id.value).collect();
                if matching.is_empty() && !raw.flows.iter().any(|f| f.id.value == id.value) {
                    d.push(
                        Pos::of(&id.referenced),
                        format!("roles[{i}].serves[{j}]"),
                        format!("unknown catalog flow {}", id.value),
                    );
                }
                for f in matching {
                    f.ports.iter().for_each(&mut add);
                }
            }
            for (j, p) in r.ports.iter().enumerate() {
                match parse_port_spec(&p.value, params) {
                    Ok(spec) => add(&spec),
                    Err(e) => d.push(Pos::of(&p.referenced), format!("roles[{i}].ports[{j}]"), e),
                }
            }
            services.sort_by_key(|s| s.key);
            if roles.contains_key(&r.name.value) {
                d.push(
                    Pos::of(&r.name.referenced),
                    format!("roles[{i}].name"),
                    format!("role `{}` is defined twice", r.name.value),
                );
            }
            roles.insert(
                r.name.value.clone(),
                Role {
                    name: r.name.value.clone(),
                    title: r.title.clone(),
                    services,
                },
            );
        }
        let mut probe_extra = Vec::new();
        for (j, p) in raw.probe_extra.iter().enumerate() {
            match parse_port_spec(&p.value, params) {
                Ok(spec) => probe_extra.push(spec),
                Err(e) => d.push(Pos::of(&p.referenced), format!("probe_extra[{j}]"), e),
            }
        }
        if !d.is_empty() {
            return Err(d.into_sorted());
        }
        Ok(Catalog {
            flows,
            roles,
            probe_extra,
            other_release_ports,
        })
    }
}
