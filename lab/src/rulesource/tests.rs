//! Tests on real listings (tests/fixtures/listings, README there says how
//! they were captured) and the real rule files that made them.

use super::*;
use crate::test_support::rule_file;

macro_rules! listing {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/listings/", $name, ".txt"))
    };
}
macro_rules! file {
    ($path:literal) => {
        RuleFile {
            file: $path.rsplit('/').next().unwrap().to_string(),
            text: include_str!(concat!("../../../", $path)).to_string(),
        }
    };
}

const CAPTURES: [(&str, &str); 13] = [
    ("scenario-2-gw-admin", listing!("scenario-2-gw-admin")),
    ("scenario-2-gw-mgmt", listing!("scenario-2-gw-mgmt")),
    ("scenario-2-gw-servers", listing!("scenario-2-gw-servers")),
    ("scenario-2-gw-storage", listing!("scenario-2-gw-storage")),
    ("scenario-3-gw-mgmt", listing!("scenario-3-gw-mgmt")),
    (
        "scenario-3-gw-sensitive",
        listing!("scenario-3-gw-sensitive"),
    ),
    ("scenario-4-gw-edge", listing!("scenario-4-gw-edge")),
    ("scenario-4-gw-mgmt", listing!("scenario-4-gw-mgmt")),
    ("scenario-4-gw-offsite", listing!("scenario-4-gw-offsite")),
    (
        "scenario-4-gw-sensitive",
        listing!("scenario-4-gw-sensitive"),
    ),
    (
        "scenario-3-gw-mgmt-push-install",
        listing!("scenario-3-gw-mgmt-push-install"),
    ),
    (
        "scenario-1-gw-edge-syntax",
        listing!("scenario-1-gw-edge-syntax"),
    ),
    ("scenario-1-ams", listing!("scenario-1-ams")),
];

fn key(family: &str, table: &str, handle: u64) -> RuleKey {
    RuleKey {
        family: family.into(),
        table: table.into(),
        handle,
    }
}

fn filter(handle: u64) -> RuleKey {
    key("inet", "filter", handle)
}

fn at(file: &str, line: usize) -> Option<Source> {
    Some(Source {
        file: file.into(),
        line,
        rule: None,
    })
}

/// The 1-based line of `file` holding `needle`.
fn line_of(file: &RuleFile, needle: &str) -> usize {
    1 + file.text.lines().position(|l| l.contains(needle)).unwrap()
}

/// Every listed rule in chain order, with its source or `-` (Docker's and
/// seglab's own tables left out).
fn summary(listing: &Listing, located: &BTreeMap<RuleKey, Source>) -> String {
    let mut rules: Vec<(&RuleKey, &ListedRule)> = listing
        .rules
        .iter()
        .filter(|(k, _)| k.table != "nat" && k.table != "seglab_state")
        .collect();
    rules.sort_by_key(|(k, r)| (k.family.clone(), k.table.clone(), r.chain.clone(), r.index));
    let lines: Vec<String> = rules
        .iter()
        .map(|(k, r)| {
            let src = located
                .get(*k)
                .map_or("-".to_string(), |s| format!("{}:{}", s.file, s.line));
            let reject = if r.reject { " (reject)" } else { "" };
            let (f, t, c, h) = (&k.family, &k.table, &r.chain, k.handle);
            format!("{src:<28} {f} {t} {c} #{h}{reject}: {}", r.text)
        })
        .collect();
    lines.join("\n")
}

fn located(text: &str, files: &[&RuleFile]) -> (Listing, BTreeMap<RuleKey, Source>) {
    let listing = parse_listing(text).expect("a real listing parses");
    let located = locate(&listing, files);
    (listing, located)
}

#[test]
fn every_capture_parses() {
    for (name, text) in CAPTURES {
        let listing = parse_listing(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let nat = ChainKey {
            family: "ip".into(),
            table: "nat".into(),
            chain: "DOCKER_OUTPUT".into(),
        };
        assert!(listing.chains.contains_key(&nat), "{name}: Docker's table");
    }
}

#[test]
fn a_listing_keeps_rules_chains_hooks_and_positions() {
    let listing = parse_listing(listing!("scenario-3-gw-mgmt")).unwrap();
    let forward = &listing.chains[&ChainKey {
        family: "inet".into(),
        table: "filter".into(),
        chain: "forward".into(),
    }];
    assert_eq!(forward.handle, 1);
    assert_eq!(
        forward.hook.as_deref(),
        Some("type filter hook forward priority filter; policy drop;")
    );
    assert_eq!(forward.policy.as_deref(), Some("drop"));
    let rule = &listing.rules[&filter(5)];
    assert_eq!(
        rule.text,
        "ip saddr { 198.18.31.10, 198.18.31.11 } ip daddr 198.18.30.10 tcp dport 7780 accept"
    );
    assert_eq!(
        (rule.chain.as_str(), rule.index, rule.reject),
        ("forward", 2, false)
    );
    // Docker inserts its rules at the top: the higher handle comes first.
    assert_eq!(listing.rules[&key("ip", "nat", 9)].index, 0);
    assert_eq!(listing.rules[&key("ip", "nat", 7)].index, 1);
    let docker_out = ChainKey {
        family: "ip".into(),
        table: "nat".into(),
        chain: "DOCKER_OUTPUT".into(),
    };
    assert_eq!(listing.chains[&docker_out].hook, None);
}

#[test]
fn sets_and_maps_are_skipped_and_rejects_are_marked() {
    let listing = parse_listing(listing!("scenario-1-gw-edge-syntax")).unwrap();
    let forward: Vec<_> = listing
        .rules
        .iter()
        .filter(|(_, r)| r.chain == "forward")
        .collect();
    assert_eq!(forward.len(), 13);
    let rejects: Vec<u64> = listing
        .rules
        .iter()
        .filter(|(_, r)| r.reject)
        .map(|(k, _)| k.handle)
        .collect();
    assert_eq!(rejects, [15, 19]);
    assert_eq!(listing.rules[&filter(22)].index, 0, "inserted at the top");
    assert_eq!(listing.rules[&filter(6)].chain, "audit");
}

#[test]
fn a_flowtable_and_elements_across_lines_are_skipped() {
    let text = "table inet t { # handle 3\n\tset s { # handle 2\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2,\n\t\t\t     10.0.0.3 }\n\t}\n\tflowtable ft { # handle 4\n\t\thook ingress priority filter\n\t\tdevices = { eth0, eth1 }\n\t}\n\tchain c { # handle 1\n\t\tflow add @ft # handle 5\n\t}\n}\n";
    let listing = parse_listing(text).unwrap();
    assert_eq!(listing.rules.len(), 1);
    assert_eq!(listing.rules[&key("inet", "t", 5)].text, "flow add @ft");
}

#[test]
fn every_listing_problem_is_reported() {
    let text = "}\nchain x {\ntable inet t {\n\tchain c { # handle 1\n\t\tip saddr 10.0.0.1 drop\n\t\taccept # handle 2\n\t\tdrop # handle 2\n";
    let err = parse_listing(text).unwrap_err();
    insta::assert_snapshot!(err
        .problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n"));
}

#[test]
fn the_base_files_of_scenarios_2_3_4() {
    let cases = [
        (
            "scenario-2-gw-admin",
            file!("scenarios/scenario-2/gw-admin.nft"),
        ),
        (
            "scenario-2-gw-mgmt",
            file!("scenarios/scenario-2/gw-mgmt.nft"),
        ),
        (
            "scenario-2-gw-servers",
            file!("scenarios/scenario-2/gw-servers.nft"),
        ),
        (
            "scenario-2-gw-storage",
            file!("scenarios/scenario-2/gw-storage.nft"),
        ),
        (
            "scenario-3-gw-mgmt",
            file!("scenarios/scenario-3/gw-mgmt.nft"),
        ),
        (
            "scenario-3-gw-sensitive",
            file!("scenarios/scenario-3/gw-sensitive.nft"),
        ),
        (
            "scenario-4-gw-edge",
            file!("scenarios/scenario-4/gw-edge.nft"),
        ),
        (
            "scenario-4-gw-mgmt",
            file!("scenarios/scenario-4/gw-mgmt.nft"),
        ),
        (
            "scenario-4-gw-offsite",
            file!("scenarios/scenario-4/gw-offsite.nft"),
        ),
        (
            "scenario-4-gw-sensitive",
            file!("scenarios/scenario-4/gw-sensitive.nft"),
        ),
    ];
    let mut out = Vec::new();
    for (name, base) in &cases {
        let text = CAPTURES.iter().find(|(n, _)| n == name).unwrap().1;
        let (listing, located) = located(text, &[base]);
        // Every rule of inet filter comes from the file; nothing else does.
        for k in listing.rules.keys() {
            assert_eq!(located.contains_key(k), k.table == "filter", "{name} {k:?}");
        }
        out.push(format!("== {name}\n{}", summary(&listing, &located)));
    }
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn a_rule_of_an_open_phase_points_into_the_phase_file() {
    let base = file!("scenarios/scenario-3/gw-mgmt.nft");
    for gw in ["mgmt", "sensitive"] {
        let (text, base, phase) = if gw == "mgmt" {
            (
                listing!("scenario-3-gw-mgmt-push-install"),
                base.clone(),
                file!("scenarios/scenario-3/push-install-mgmt.nft"),
            )
        } else {
            (
                listing!("scenario-3-gw-sensitive-push-install"),
                file!("scenarios/scenario-3/gw-sensitive.nft"),
                file!("scenarios/scenario-3/push-install-sensitive.nft"),
            )
        };
        let (_, located) = located(text, &[&base, &phase]);
        let name = format!("push-install-{gw}.nft");
        assert_eq!(located.get(&filter(8)).cloned(), at(&name, 3));
        let base_name = format!("gw-{gw}.nft");
        let established = line_of(&base, "ct state established,related accept");
        assert_eq!(
            located.get(&filter(2)).cloned(),
            at(&base_name, established)
        );
        let zmq = line_of(&base, "tcp dport 7780 accept");
        assert_eq!(located.get(&filter(5)).cloned(), at(&base_name, zmq));
        assert_eq!(located.len(), 4);
    }
    // The same listing read against the base file alone: the phase's rule
    // has no statement, and nothing else moves.
    let (_, located) = located(listing!("scenario-3-gw-mgmt-push-install"), &[&base]);
    assert_eq!(located.get(&filter(8)), None);
    assert_eq!(located.get(&filter(5)).cloned(), at("gw-mgmt.nft", 11));
}

#[test]
fn a_line_the_user_added_is_located_exactly() {
    let base = file!("tests/fixtures/listings/s3-gw-mgmt-extra-2222.nft");
    assert!(base
        .text
        .lines()
        .nth(9)
        .unwrap()
        .contains("tcp dport 2222 accept"));
    let (_, located_base) = located(listing!("scenario-3-gw-mgmt-extra-2222"), &[&base]);
    let phase = file!("scenarios/scenario-3/push-install-mgmt.nft");
    let (listing, located) = located(
        listing!("scenario-3-gw-mgmt-extra-2222-push-install"),
        &[&base, &phase],
    );
    for located in [&located_base, &located] {
        assert_eq!(
            located.get(&filter(5)).cloned(),
            at("s3-gw-mgmt-extra-2222.nft", 10)
        );
        assert_eq!(
            located.get(&filter(7)).cloned(),
            at("s3-gw-mgmt-extra-2222.nft", 12)
        );
    }
    insta::assert_snapshot!(summary(&listing, &located));
}

#[test]
fn a_file_with_most_of_the_syntax_is_located_line_by_line() {
    let file = file!("tests/fixtures/listings/s1-gw-edge-syntax.nft");
    let (listing, located) = located(listing!("scenario-1-gw-edge-syntax"), &[&file]);
    let filter_rules = listing
        .rules
        .keys()
        .filter(|k| k.table != "nat" && k.table != "seglab_state");
    assert_eq!(
        filter_rules.filter(|k| !located.contains_key(*k)).count(),
        0
    );
    insta::assert_snapshot!(summary(&listing, &located));
}

#[test]
fn seglab_own_host_table_parses_and_has_no_source() {
    let edge = file!("scenarios/scenario-1/gw-edge.nft");
    let (listing, located) = located(listing!("scenario-1-ams"), &[&edge]);
    let host: Vec<_> = listing
        .rules
        .keys()
        .filter(|k| k.table == "seglab_host")
        .collect();
    assert_eq!(host.len(), 7);
    assert!(located.is_empty(), "{located:?}");
}

/// A listing of one `inet filter forward` chain, from rule texts in
/// creation order.
fn forward(rules: &[&str]) -> Listing {
    let mut text = String::from("table inet filter { # handle 1\n\tchain forward { # handle 1\n\t\ttype filter hook forward priority filter; policy drop;\n");
    for (i, r) in rules.iter().enumerate() {
        text.push_str(&format!("\t\t{r} # handle {}\n", i + 2));
    }
    text.push_str("\t}\n}\n");
    parse_listing(&text).unwrap()
}

#[test]
fn when_two_statements_could_have_made_a_rule_none_is_named() {
    // The file says the same thing twice, the node holds it once (a rule
    // deleted by hand): either line could be the one left.
    let file = rule_file("f.nft", "table inet filter {\n chain forward {\n  ct state invalid drop\n  ip saddr $a tcp dport 22 accept\n  ip saddr $b tcp dport 22 accept\n }\n}\n");
    let listing = forward(&[
        "ct state invalid drop",
        "ip saddr 10.0.0.1 tcp dport 22 accept",
    ]);
    let located = locate(&listing, &[&file]);
    assert_eq!(located.get(&filter(2)).cloned(), at("f.nft", 3));
    assert_eq!(located.get(&filter(3)), None);
    // A `$name` and an address look different, but `$a` may be that
    // address: the literal one is not preferred.
    let file = rule_file("g.nft", "table inet filter {\n chain forward {\n  ip saddr $a tcp dport 22 accept\n  ip saddr 10.0.0.1 tcp dport 22 accept\n }\n}\n");
    let listing = forward(&["ip saddr 10.0.0.1 tcp dport 22 accept"]);
    assert!(locate(&listing, &[&file]).is_empty());
}

#[test]
fn a_rule_no_statement_can_have_made_gets_no_source() {
    // The file on disk changed since it was loaded (port 22 became 2222),
    // and a rule was added by hand: neither is pinned on a wrong line.
    let file = rule_file("f.nft", "table inet filter {\n chain forward {\n  ct state invalid drop\n  ip saddr $a tcp dport 2222 accept\n  ip saddr $a udp dport 53 accept\n }\n}\n");
    let listing = forward(&[
        "ct state invalid drop",
        "ip saddr 10.0.0.1 tcp dport 22 accept",
        "ip saddr 10.0.0.1 udp dport 53 accept",
        "ip saddr 10.0.0.9 reject",
    ]);
    let located = locate(&listing, &[&file]);
    assert_eq!(located.get(&filter(2)).cloned(), at("f.nft", 3));
    assert_eq!(located.get(&filter(3)), None);
    assert_eq!(located.get(&filter(4)).cloned(), at("f.nft", 5));
    assert_eq!(located.get(&filter(5)), None);
}

#[test]
fn a_flush_in_a_later_file_forgets_the_earlier_rules() {
    let base = rule_file("base.nft", "table inet filter {\n chain forward {\n  type filter hook forward priority filter; policy drop;\n  tcp dport 22 accept\n }\n}\n");
    let phase = rule_file("phase.nft", "flush ruleset\ntable inet filter {\n chain forward {\n  type filter hook forward priority filter; policy drop;\n  tcp dport 22 accept\n }\n}\nflush chain inet filter other\n");
    let located = locate(&forward(&["tcp dport 22 accept"]), &[&base, &phase]);
    assert_eq!(located.get(&filter(2)).cloned(), at("phase.nft", 5));
}

#[test]
fn rules_nft_lists_in_its_own_words() {
    let file = file!("tests/fixtures/listings/nft-rewrites.nft");
    let (listing, located) = located(listing!("nft-rewrites"), &[&file]);
    // Refused, not guessed: a flag mask nft rewrites into another form, and
    // two networks nft merged into one.
    let unlocated: Vec<u64> = listing
        .rules
        .keys()
        .filter(|k| !located.contains_key(*k))
        .map(|k| k.handle)
        .collect();
    assert_eq!(unlocated, [5, 17]);
    insta::assert_snapshot!(summary(&listing, &located));
}

#[test]
fn a_replaced_rule_keeps_its_old_handle_and_gets_no_source() {
    // As nft 1.0.6 lists a chain of `tcp dport 1, 2, 3 accept` after a
    // second file ran `replace rule inet filter forward handle 3 tcp dport
    // 22 accept` and `add rule inet filter forward tcp dport 4 accept`: the
    // new rule took the old one's handle, out of creation order.
    let base = rule_file("a.nft", "table inet filter {\n chain forward {\n  tcp dport 1 accept\n  tcp dport 2 accept\n  tcp dport 3 accept\n }\n}\n");
    let second = rule_file("b.nft", "replace rule inet filter forward handle 3 tcp dport 22 accept\nadd rule inet filter forward tcp dport 4 accept\n");
    let listing = forward(&[
        "tcp dport 1 accept",
        "tcp dport 22 accept",
        "tcp dport 3 accept",
        "tcp dport 4 accept",
    ]);
    let located = locate(&listing, &[&base, &second]);
    assert_eq!(located.get(&filter(2)).cloned(), at("a.nft", 3));
    assert_eq!(located.get(&filter(3)), None);
    assert_eq!(located.get(&filter(4)).cloned(), at("a.nft", 5));
    assert_eq!(located.get(&filter(5)).cloned(), at("b.nft", 2));
}

#[test]
fn commands_that_add_insert_flush_and_delete_in_a_real_kernel() {
    let base = file!("tests/fixtures/listings/commands-base.nft");
    let phase = file!("tests/fixtures/listings/commands-phase.nft");
    let text = include_str!("../../../tests/fixtures/listings/commands.txt");
    let (listing, located) = located(text, &[&base, &phase]);
    // Every rule is told, `tcp dport 23` twice from two files, the flushed
    // chain from the phase file only.
    assert_eq!(located.len(), listing.rules.len());
    insta::assert_snapshot!(summary(&listing, &located));
}
