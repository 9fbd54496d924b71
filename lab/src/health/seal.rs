//! The seal seglab leaves in the nftables of every node it configures: a
//! digest of the rule set it loaded there, and the phase that is open.
//!
//! The seal lives in the node itself (a table of its own, `seglab_state`),
//! not on seglab's machine, so it goes wherever the node goes and dies with
//! it: a restarted container comes back with an empty rule set and no seal
//! ("lost its rule set"), a rule set changed behind seglab's back no longer
//! matches its digest, and a `verify --phase` killed before it could close
//! the phase leaves the phase's name behind for the next run to find.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The table that holds the seal. Never part of a digest.
pub const STATE_TABLE: &str = "seglab_state";

/// Tables of seglab's own that a digest leaves out: they change without the
/// rule set under test changing.
const UNSEALED_TABLES: [&str; 3] = [
    STATE_TABLE,
    crate::trace::table::TRACE_TABLE,
    crate::scan::table::SCAN_TABLE,
];

/// seglab's tables that are no part of any rule set and that every reset
/// keeps: the trace table and the scan table.
const KEPT_TABLES: [&str; 2] = [
    crate::trace::table::TRACE_TABLE,
    crate::scan::table::SCAN_TABLE,
];

/// What seglab loaded into a node, as recorded there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// [`digest`] of the rule set right after seglab loaded it.
    pub digest: String,
    /// The phase whose rules are loaded on top, while a `verify --phase`
    /// has it open.
    pub phase: Option<String>,
}

/// Why a listing could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `nft -j list ruleset` output: {0}")]
pub struct ListingError(String);

fn objects(listing: &str) -> Result<Vec<Value>, ListingError> {
    let v: Value = serde_json::from_str(listing).map_err(|e| ListingError(e.to_string()))?;
    match v.get("nftables") {
        Some(Value::Array(a)) => Ok(a.clone()),
        _ => Err(ListingError("no `nftables` array".into())),
    }
}

/// `(family, table)` an object of the listing belongs to.
fn table_of(obj: &Value) -> Option<(String, String)> {
    let (kind, body) = obj.as_object()?.iter().next()?;
    let name = if kind == "table" {
        body.get("name")
    } else {
        body.get("table")
    }?;
    Some((
        body.get("family")?.as_str()?.to_string(),
        name.as_str()?.to_string(),
    ))
}

/// The platform's tables in a node (Docker's embedded DNS keeps NAT rules
/// there, in chains named `DOCKER_*`): a table with a chain whose name
/// starts with `prefix`. Not seglab's: never reset, never sealed.
fn platform_tables(objs: &[Value], prefix: &str) -> Vec<(String, String)> {
    objs.iter()
        .filter_map(|o| {
            let chain = o.get("chain")?;
            chain
                .get("name")?
                .as_str()?
                .starts_with(prefix)
                .then(|| table_of(o))?
        })
        .collect()
}

fn strip_handles(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("handle");
            map.values_mut().for_each(strip_handles);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_handles),
        _ => {}
    }
}

/// A digest of a node's rule set from `nft -j -s list ruleset` (stateless:
/// no counters), leaving out the platform's tables (see
/// [`platform_tables`]), seglab's seal, and the handles the kernel numbers
/// objects with. The same rules give the same digest however they were
/// loaded.
pub fn digest(listing: &str, platform_prefix: &str) -> Result<String, ListingError> {
    let objs = objects(listing)?;
    let docker = platform_tables(&objs, platform_prefix);
    let mut kept: Vec<Value> = objs
        .into_iter()
        .filter(|o| o.get("metainfo").is_none())
        .filter(|o| match table_of(o) {
            Some(t) => !docker.contains(&t) && !UNSEALED_TABLES.contains(&t.1.as_str()),
            None => true,
        })
        .collect();
    kept.iter_mut().for_each(strip_handles);
    let canonical = serde_json::to_string(&kept).expect("JSON values serialize");
    let hash = Sha256::digest(canonical.as_bytes());
    Ok(hex::encode(&hash[..8]))
}

/// The seal found in a listing, if any.
pub fn read(listing: &str) -> Result<Option<Seal>, ListingError> {
    let objs = objects(listing)?;
    let comment = objs.iter().find_map(|o| {
        let rule = o.get("rule")?;
        (rule.get("table")?.as_str()? == STATE_TABLE)
            .then(|| rule.get("comment")?.as_str().map(str::to_string))?
    });
    Ok(comment.and_then(|c| parse_comment(&c)))
}

fn parse_comment(c: &str) -> Option<Seal> {
    let mut digest = None;
    let mut phase = None;
    for word in c.split_whitespace() {
        match word.split_once('=') {
            Some(("digest", d)) => digest = Some(d.to_string()),
            Some(("phase", p)) if p != "-" => phase = Some(p.to_string()),
            _ => {}
        }
    }
    Some(Seal {
        digest: digest?,
        phase,
    })
}

/// Tables other than the platform's in a listing: what a reset deletes.
pub fn tables_to_reset(listing: &str, platform_prefix: &str) -> Result<Vec<String>, ListingError> {
    let objs = objects(listing)?;
    let docker = platform_tables(&objs, platform_prefix);
    Ok(objs
        .iter()
        .filter(|o| o.get("table").is_some())
        .filter_map(table_of)
        .filter(|t| !docker.contains(t))
        // seglab's trace and scan tables are no part of any rule set: they stay.
        .filter(|(_, name)| !KEPT_TABLES.contains(&name.as_str()))
        .map(|(family, name)| format!("{family} {name}"))
        .collect())
}

/// The platform's own tables (`family`, `name`) in a listing.
pub fn platform_table_names(
    listing: &str,
    platform_prefix: &str,
) -> Result<Vec<(String, String)>, ListingError> {
    Ok(platform_tables(&objects(listing)?, platform_prefix))
}

/// A `reject` statement, or iptables-nft's `REJECT` target.
fn is_reject(expr: &Value) -> bool {
    expr.get("reject").is_some()
        || expr
            .get("xt")
            .and_then(|x| x.get("name"))
            .and_then(Value::as_str)
            == Some("REJECT")
}

/// Rules whose verdict is a `reject`, as (family, table, handle): the
/// kernel's trace reports them as drops, and the trace evidence must tell
/// them apart (a rejected probe gets its refusal).
pub fn reject_rules(listing: &str) -> Result<Vec<(String, String, u64)>, ListingError> {
    let objs = objects(listing)?;
    Ok(objs
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| {
            r.get("expr")
                .and_then(Value::as_array)
                .is_some_and(|exprs| exprs.iter().any(is_reject))
        })
        .filter_map(|r| {
            Some((
                r.get("family")?.as_str()?.to_string(),
                r.get("table")?.as_str()?.to_string(),
                r.get("handle")?.as_u64()?,
            ))
        })
        .collect())
}

/// Tables a reset that must leave seglab's own in place deletes: those of
/// [`tables_to_reset`] but the [`UNSEALED_TABLES`]. An isolated verify
/// clears the other gateways this way, so that the seal (which records the
/// isolation) survives at every moment.
pub fn tables_to_clear(listing: &str, platform_prefix: &str) -> Result<Vec<String>, ListingError> {
    let mut tables = tables_to_reset(listing, platform_prefix)?;
    tables.retain(|t| {
        let name = t.split_once(' ').map_or(t.as_str(), |(_, n)| n);
        !UNSEALED_TABLES.contains(&name)
    });
    Ok(tables)
}

/// What the seal's phase records while a gateway forwards everything for an
/// isolated verify of `gateway` (`verify --isolate`). The `:` keeps it apart
/// from every phase name (letters, digits and `-`).
pub fn isolation_mark(gateway: &str) -> String {
    format!("isolating:{gateway}")
}

/// The gateway under isolation that a seal's phase records, if it is an
/// [`isolation_mark`].
pub fn isolated_for(phase: &str) -> Option<&str> {
    phase.strip_prefix("isolating:")
}

/// What a seal's open phase says about a gateway left in it by an
/// interrupted run, e.g. in `status` and in a report's notes.
pub fn describe_left_open(gateway: &str, phase: &str) -> String {
    match isolated_for(phase) {
        Some(g) => format!(
            "{gateway} still forwarded everything for an isolated verify of {g} \
             (an interrupted `verify --isolate`?)"
        ),
        None => {
            format!("{gateway} still had phase {phase} open (an interrupted `verify --phase`?)")
        }
    }
}

/// nft commands that replace the seal in one transaction. Phase names are
/// scenario names (letters, digits, `-`), so they need no quoting.
pub fn seal_commands(seal: &Seal) -> String {
    let mut out = String::new();
    // `add` first so that `delete` never fails on a node without a seal.
    let _ = writeln!(out, "add table inet {STATE_TABLE}");
    let _ = writeln!(out, "delete table inet {STATE_TABLE}");
    let _ = writeln!(
        out,
        "table inet {STATE_TABLE} {{\n  chain state {{\n    counter comment \"seglab digest={} phase={}\"\n  }}\n}}",
        seal.digest,
        seal.phase.as_deref().unwrap_or("-")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on this machine (nft 1.0.6) in a scenario-3 gateway:
    /// Docker's DNS table, a filter table, and a seal.
    const LISTING: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "nat", "handle": 1}}, {"chain": {"family": "ip", "table": "nat", "name": "DOCKER_OUTPUT", "handle": 1}}, {"rule": {"family": "ip", "table": "nat", "chain": "DOCKER_OUTPUT", "handle": 9, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.11"}}, {"counter": null}, {"xt": {"type": "target", "name": "DNAT"}}]}}, {"table": {"family": "inet", "name": "filter", "handle": 2}}, {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}, {"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 2, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}, {"table": {"family": "inet", "name": "seglab_state", "handle": 5}}, {"chain": {"family": "inet", "table": "seglab_state", "name": "state", "handle": 1}}, {"rule": {"family": "inet", "table": "seglab_state", "chain": "state", "handle": 2, "comment": "seglab digest=0123456789abcdef phase=push-install", "expr": [{"counter": null}]}}]}"#;

    fn without(listing: &str, needle: &str) -> String {
        let v: Value = serde_json::from_str(listing).unwrap();
        let kept: Vec<Value> = v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| !o.to_string().contains(needle))
            .cloned()
            .collect();
        serde_json::json!({ "nftables": kept }).to_string()
    }

    #[test]
    fn the_seal_is_read_back() {
        assert_eq!(
            read(LISTING).unwrap(),
            Some(Seal {
                digest: "0123456789abcdef".into(),
                phase: Some("push-install".into())
            })
        );
        assert_eq!(read(&without(LISTING, "seglab_state")).unwrap(), None);
    }

    #[test]
    fn the_digest_ignores_dockers_tables_the_seal_and_handles() {
        let d = digest(LISTING, "DOCKER_").unwrap();
        assert_eq!(d.len(), 16);
        assert_eq!(
            digest(&without(LISTING, "seglab_state"), "DOCKER_").unwrap(),
            d
        );
        assert_eq!(
            digest(&without(LISTING, "127.0.0.11"), "DOCKER_").unwrap(),
            d
        );
        assert_eq!(
            digest(
                &LISTING.replace("\"handle\": 2", "\"handle\": 7"),
                "DOCKER_"
            )
            .unwrap(),
            d
        );
        // A rule of the rule set under test does count.
        assert_ne!(
            digest(&without(LISTING, "established"), "DOCKER_").unwrap(),
            d
        );
        assert_ne!(
            digest(
                &LISTING.replace("\"policy\": \"drop\"", "\"policy\": \"accept\""),
                "DOCKER_"
            )
            .unwrap(),
            d
        );
    }

    #[test]
    fn a_reset_spares_dockers_tables_only() {
        assert_eq!(
            tables_to_reset(LISTING, "DOCKER_").unwrap(),
            vec!["inet filter", "inet seglab_state"]
        );
    }

    #[test]
    fn clearing_spares_the_seal_too() {
        assert_eq!(
            tables_to_clear(LISTING, "DOCKER_").unwrap(),
            vec!["inet filter"]
        );
    }

    #[test]
    fn an_isolation_mark_is_no_phase_name_and_reads_back() {
        let mark = isolation_mark("gw-sensitive");
        assert_eq!(isolated_for(&mark), Some("gw-sensitive"));
        assert_eq!(isolated_for("push-install"), None);
        let s = Seal {
            digest: "feedface00000000".into(),
            phase: Some(mark.clone()),
        };
        let comment = seal_commands(&s).split('"').nth(1).unwrap().to_string();
        assert_eq!(parse_comment(&comment), Some(s));
        assert!(describe_left_open("gw-mgmt", &mark).contains("isolated verify of gw-sensitive"));
        assert!(describe_left_open("gw-mgmt", "push-install").contains("phase push-install open"));
    }

    #[test]
    fn seal_commands_round_trip() {
        let s = Seal {
            digest: "feedface00000000".into(),
            phase: None,
        };
        let text = seal_commands(&s);
        assert!(text.starts_with("add table inet seglab_state\ndelete table inet seglab_state\n"));
        assert!(text.contains("comment \"seglab digest=feedface00000000 phase=-\""));
        assert_eq!(
            parse_comment("seglab digest=feedface00000000 phase=-"),
            Some(s)
        );
        assert_eq!(parse_comment("something else"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_seal() {
        assert!(read("not json").is_err());
        assert!(digest("{}", "DOCKER_").is_err());
    }

    #[test]
    fn the_trace_table_is_neither_reset_nor_sealed_and_rejects_are_found() {
        let listing = r#"{"nftables": [
            {"table": {"family": "inet", "name": "filter", "handle": 1}},
            {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"reject": {"type": "tcp reset"}}]}},
            {"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 5, "expr": [{"accept": null}]}},
            {"table": {"family": "ip", "name": "filter", "handle": 2}},
            {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 9, "expr": [{"xt": {"type": "target", "name": "REJECT"}}]}},
            {"table": {"family": "inet", "name": "seglab_trace", "handle": 3}},
            {"chain": {"family": "inet", "table": "seglab_trace", "name": "probes", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -350, "policy": "accept"}}
        ]}"#;
        assert_eq!(
            tables_to_reset(listing, "DOCKER_").unwrap(),
            vec!["inet filter", "ip filter"]
        );
        let without_trace = listing.replace("seglab_trace", "other");
        assert_ne!(
            digest(listing, "DOCKER_").unwrap(),
            digest(&without_trace, "DOCKER_").unwrap(),
            "a table of another name counts"
        );
        let gone: String = {
            let v: Value = serde_json::from_str(listing).unwrap();
            let kept: Vec<Value> = v["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| !o.to_string().contains("seglab_trace"))
                .cloned()
                .collect();
            serde_json::json!({ "nftables": kept }).to_string()
        };
        assert_eq!(
            digest(listing, "DOCKER_").unwrap(),
            digest(&gone, "DOCKER_").unwrap(),
            "the trace table is not part of the digest"
        );
        assert_eq!(
            reject_rules(listing).unwrap(),
            vec![
                ("inet".to_string(), "filter".to_string(), 4),
                ("ip".to_string(), "filter".to_string(), 9)
            ]
        );
    }
}
