//! iptables-save dumps against what `iptables-nft-restore` made of them
//! (tests/fixtures/listings, README there says how they were captured).

use super::*;
use crate::test_support::rule_file as dump;

fn ip(table: &str, handle: u64) -> RuleKey {
    RuleKey {
        family: "ip".into(),
        table: table.into(),
        handle,
    }
}

/// (line, rule as written) of each located rule, by key.
fn told(sources: &BTreeMap<RuleKey, Source>) -> Vec<(RuleKey, usize, String)> {
    sources
        .iter()
        .map(|(k, s)| (k.clone(), s.line, s.rule.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn each_append_is_its_chains_rule_in_handle_order() {
    let file = dump(
        "s3-gw-mgmt-extra-445.iptables",
        include_str!("../../../tests/fixtures/rulesets/s3-gw-mgmt-extra-445.iptables"),
    );
    let listing = parse_listing(include_str!(
        "../../../tests/fixtures/listings/scenario-3-gw-mgmt-extra-445-iptables.txt"
    ))
    .unwrap();
    let sources = locate(&listing, &[&file]);
    let got = told(&sources);
    let lines: Vec<(u64, usize)> = got.iter().map(|(k, l, _)| (k.handle, *l)).collect();
    // Rules 4..8 of `ip filter` are lines 8..12; Docker's `ip nat` and
    // seglab's own tables have none.
    assert_eq!(lines, [(4, 8), (5, 9), (6, 10), (7, 11), (8, 12)]);
    assert!(got.iter().all(|(k, ..)| k.table == "filter"));
    assert_eq!(
        got[4].2,
        "-A FORWARD -s 198.18.30.10/32 -d 198.18.31.0/24 -p tcp -m tcp --dport 445 -j ACCEPT"
    );
    // As nft lists it (with the counter iptables-nft adds to every rule).
    assert!(listing.rules[&ip("filter", 8)].text.starts_with(
        "ip saddr 198.18.30.10 ip daddr 198.18.31.0/24 tcp dport 445 counter packets "
    ));
    let policies = locate_policies(&listing, &[&file]);
    let p: Vec<(&str, usize, &str)> = policies
        .iter()
        .map(|(c, s)| (c.chain.as_str(), s.line, s.rule.as_deref().unwrap()))
        .collect();
    assert_eq!(
        p,
        [
            ("FORWARD", 6, ":FORWARD DROP"),
            ("INPUT", 5, ":INPUT ACCEPT"),
            ("OUTPUT", 7, ":OUTPUT ACCEPT")
        ]
    );
}

#[test]
fn raw_mangle_and_own_chains_map_too() {
    let text = include_str!("../../../tests/fixtures/listings/iptables-tables.iptables");
    let file = dump("t.iptables", text);
    let listing = parse_listing(include_str!(
        "../../../tests/fixtures/listings/iptables-tables.txt"
    ))
    .unwrap();
    let sources = locate(&listing, &[&file]);
    let line_of = |needle: &str| 1 + text.lines().position(|l| l.contains(needle)).unwrap();
    let want = [
        (ip("raw", 3), line_of("--dport 123")),
        (ip("mangle", 6), line_of("--set-xmark")),
        (ip("filter", 5), line_of("RELATED,ESTABLISHED")),
        (ip("filter", 6), line_of("-j lan-out")),
        (ip("filter", 7), line_of("--icmp-type 8")),
        (ip("filter", 8), line_of("web out")),
        (ip("filter", 9), line_of("tcp-reset")),
        (ip("filter", 10), line_of("-A lan-out -d")),
        (ip("filter", 11), line_of("--log-prefix")),
        (ip("filter", 12), line_of("-A lan-out -j DROP")),
    ];
    for (key, line) in &want {
        assert_eq!(sources.get(key).map(|s| s.line), Some(*line), "{key:?}");
    }
    assert_eq!(sources.len(), want.len());
    // nft tells the reject as a reject: a probe sees a refusal.
    assert!(listing.rules[&ip("filter", 9)].reject);
    // A user chain has no policy to tell.
    let policies = locate_policies(&listing, &[&file]);
    assert_eq!(policies.len(), 2 + 5 + 3);
    assert!(!policies.keys().any(|c| c.chain == "lan-out"));
}

#[test]
fn a_chain_that_does_not_add_up_gets_no_sources() {
    let listing = parse_listing(include_str!(
        "../../../tests/fixtures/listings/scenario-3-gw-mgmt-extra-445-iptables.txt"
    ))
    .unwrap();
    // One -A more than the chain has rules: none is told.
    let more = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -j ACCEPT\nCOMMIT\n";
    assert!(locate(&listing, &[&dump("m", more)]).is_empty());
    // An insert changes the order: none is told.
    let insert =
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j ACCEPT\n-I FORWARD 1 -j DROP\nCOMMIT\n";
    assert!(locate(&listing, &[&dump("i", insert)]).is_empty());
}

#[test]
fn untranslated_matches_are_listed_as_xt_and_still_map() {
    let text = include_str!("../../../tests/fixtures/listings/iptables-xt.iptables");
    let listing = parse_listing(include_str!(
        "../../../tests/fixtures/listings/iptables-xt.txt"
    ))
    .unwrap();
    assert_eq!(
        listing.rules[&ip("filter", 5)].text,
        "meta l4proto tcp xt match string counter packets 0 bytes 0 drop"
    );
    let sources = locate(&listing, &[&dump("x.iptables", text)]);
    let lines: Vec<(u64, usize)> = sources.iter().map(|(k, s)| (k.handle, s.line)).collect();
    assert_eq!(lines, [(4, 6), (5, 7), (6, 8)]);
    assert!(sources[&ip("filter", 5)]
        .rule
        .as_deref()
        .unwrap()
        .contains("--string \"GET /\""));
}
