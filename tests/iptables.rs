//! iptables-save rule sets, live: a customer's dump loads into a gateway
//! (with iptables-nft-restore), its one wrong rule is found and explained
//! at its line, the right dump passes, and bad input is refused with exit 2
//! naming the file, leaving no lab behind.

mod common;

use common::*;
use std::process::Output;
use std::sync::Mutex;

/// This file's labs of scenario 3, one at a time: the dumps name scenario
/// 3's own addresses, which a lab keeps only where its subnets are free.
static SCENARIO_3: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SCENARIO_3.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lab name of this file's (`ip-` prefix, unique per test process).
fn name(tag: &str) -> String {
    format!("ip-{}-{tag}", std::process::id())
}

/// The `A.B.C.` prefix of `segment` in `seglab status LAB`'s
/// `segments: mgmt 198.18.30.0/24, ...` line.
fn prefix_of(lab: &str, segment: &str) -> String {
    let o = run(&["status", lab]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = out
        .lines()
        .find(|l| l.starts_with("segments: "))
        .unwrap_or_else(|| panic!("no segments line in\n{out}"));
    let subnet = line["segments: ".len()..]
        .split(", ")
        .find_map(|s| s.strip_prefix(&format!("{segment} ")))
        .unwrap_or_else(|| panic!("no segment {segment} in {line}"));
    let net = subnet.split('/').next().unwrap();
    format!("{}.", net.rsplit_once('.').unwrap().0)
}

fn up_lab(lab: &str, rulesets: &[String]) -> Output {
    let mut cmd = seglab();
    cmd.args(["up", "scenario-3", "--name", lab]);
    for r in rulesets {
        cmd.args(["--ruleset", r]);
    }
    cmd.output().unwrap()
}

/// Brings scenario 3 up as lab `ip-PID-TAG` with the dump `dump` on gw-mgmt
/// and the phase's nft file for it, plus `extra` rulesets. Where another
/// lab holds scenario 3's subnets, seglab moves the lab, and the dump's
/// literal addresses would name nobody: the lab is then made again with a
/// copy of the dump that names the moved addresses. Returns the guard and
/// the dump's path as loaded.
fn up_with_dump(tag: &str, dump: &str, extra: &[String]) -> (LabGuard, String) {
    let guard = LabGuard(name(tag));
    let mut path = fixture(dump);
    let phase = format!(
        "gw-mgmt@push-install={}",
        fixture("rulesets/s3-push-install-mgmt-iptables.nft")
    );
    for attempt in 0..3 {
        let mut rulesets = vec![format!("gw-mgmt={path}"), phase.clone()];
        rulesets.extend_from_slice(extra);
        let o = up_lab(&guard.0, &rulesets);
        assert!(o.status.success(), "{}", text(&o));
        let (mgmt, sensitive) = (
            prefix_of(&guard.0, "mgmt"),
            prefix_of(&guard.0, "sensitive"),
        );
        let original = std::fs::read_to_string(fixture(dump)).unwrap();
        let moved = original
            .replace("198.18.30.", &mgmt)
            .replace("198.18.31.", &sensitive);
        if moved == std::fs::read_to_string(&path).unwrap() {
            return (guard, path);
        }
        // Other labs come and go: the next try may land elsewhere again.
        assert!(
            attempt < 2,
            "the lab moved each time; last {mgmt}0/24, {sensitive}0/24"
        );
        let o = run(&["down", &guard.0]);
        assert!(o.status.success(), "{}", text(&o));
        let file = dump.rsplit('/').next().unwrap();
        let copy = std::env::temp_dir().join(format!("{}-{file}", guard.0));
        std::fs::write(&copy, moved).unwrap();
        path = copy.display().to_string();
    }
    unreachable!()
}

fn verify_json(lab: &str) -> Output {
    seglab()
        .args(["verify", lab, "--format", "json"])
        .output()
        .unwrap()
}

/// The 1-based line of `path` holding `needle`.
fn line_of(path: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    1 + text.lines().position(|l| l.contains(needle)).unwrap()
}

#[test]
fn a_wrong_rule_in_a_dump_is_found_and_explained_at_its_line() {
    if !live(LAB) {
        return;
    }
    let _one = lock();
    // A leak in scenario 3 needs both gateways to let it through: the
    // dump's extra line on gw-mgmt, the same port on gw-sensitive (nft).
    let sensitive = format!(
        "gw-sensitive={}",
        fixture("rulesets/s3-gw-sensitive-extra-445.nft")
    );
    let (guard, dump) = up_with_dump(
        "leak",
        "rulesets/s3-gw-mgmt-extra-445.iptables",
        &[sensitive],
    );
    let lab = guard.0.as_str();
    let wrong = line_of(&dump, "--dport 445");
    let policy = line_of(&dump, ":FORWARD DROP");

    // Exactly the two tcp/445 cells leak (verify stops at a failed base).
    let o = verify_json(lab);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = reports(&o);
    assert_eq!(reports.len(), 1);
    let leaks = ["ams>agent-1 tcp/445 leak", "ams>agent-2 tcp/445 leak"];
    assert_eq!(failing(&reports[0]), leaks);
    // The phase opens 445 anyway (its nft file on top of the dump's
    // table); closing it reloads the dump, and the leak is back.
    let o = seglab()
        .args(["verify", lab, "--phase", "push-install", "--format", "json"])
        .output()
        .unwrap();
    let phased = common::reports(&o);
    assert_eq!(failing(&phased[0]), Vec::<String>::new(), "{}", text(&o));
    let o = verify_json(lab);
    assert_eq!(failing(&common::reports(&o)[0]), leaks, "{}", text(&o));
    let accepted_by = format!(
        "accepted by gw-mgmt: ip filter FORWARD rule `-A FORWARD -s {}10/32 -d {}0/24 -p tcp -m tcp --dport 445 -j ACCEPT` ({dump}:{wrong})",
        prefix_of(lab, "mgmt"),
        prefix_of(lab, "sensitive"),
    );
    for r in reports[0]["results"].as_array().unwrap() {
        if r["verdict"] == "leak" {
            let why = r["explain"]["why"].as_str().expect("why");
            assert!(why.starts_with(&accepted_by), "{why}\n{accepted_by}");
        }
    }

    // `seglab explain` of one leak names the same line.
    let o = explain(lab, &["ams", "agent-1", "tcp/445"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\nverdict:  leak\n"), "{out}");
    assert!(out.contains(&format!("\nwhy:      {accepted_by}")), "{out}");

    // A blocked cell: the dump's policy line.
    let v = explain_json(lab, &["admin", "agent-1", "tcp/445"]);
    assert_eq!(
        v["explain"]["why"],
        format!("dropped by gw-mgmt: ip filter FORWARD policy drop ({dump}:{policy})"),
        "{v}"
    );

    // The dump is sealed like an nft file: the gateway is still healthy.
    let o = run(&["status", lab]);
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out.lines().find(|l| l.contains(" gw-mgmt ")).unwrap();
    assert!(row.contains(" ok "), "{out}");
}

#[test]
fn the_right_dump_passes_verify() {
    if !live(LAB) {
        return;
    }
    let _one = lock();
    let (guard, _) = up_with_dump("right", "rulesets/s3-gw-mgmt.iptables", &[]);
    let o = verify_json(&guard.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for r in reports(&o) {
        assert_eq!(failing(&r), Vec::<String>::new());
    }
    // Judging gw-sensitive alone clears gw-mgmt meanwhile and reloads the
    // dump after: gw-mgmt is sound again and the lab still passes.
    let o = run(&["verify", &guard.0, "--isolate", "gw-sensitive"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["status", &guard.0]);
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out.lines().find(|l| l.contains(" gw-mgmt ")).unwrap();
    assert!(row.contains(" ok "), "{out}");
    let o = verify_json(&guard.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn bad_input_exits_2_naming_the_file_and_leaves_no_lab() {
    if !live(LAB) {
        return;
    }
    let _one = lock();
    let nat = fixture("iptables/nat-table.iptables");
    let commands = fixture("iptables/commands.sh");
    let yaml = repo_root()
        .join("scenarios/scenario-3/scenario.yaml")
        .display()
        .to_string();
    let cases = [
        (
            &nat,
            format!("{nat}:2: table `nat` is not loaded: NAT would rewrite"),
        ),
        (
            &commands,
            format!("{commands}:3: `iptables -P FORWARD DROP` is neither nft nor iptables-save"),
        ),
        (
            &yaml,
            format!("{yaml}:16: `name: scenario-3` is neither nft nor iptables-save"),
        ),
    ];
    let lab = name("bad");
    for (file, message) in &cases {
        let arg = format!("gw-mgmt={file}");
        for o in [
            up_lab(&lab, std::slice::from_ref(&arg)),
            seglab()
                .args(["test", "scenario-3", "--ruleset", &arg])
                .output()
                .unwrap(),
        ] {
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(message.as_str()), "{message}\n{err}");
            // Refused before anything was made.
            assert!(!err.contains("scenario-3-"), "{err}");
        }
        assert_eq!(leftovers(&lab), (0, 0));
    }

    // A line the gateway refuses: found only when loading, so `test` makes
    // its lab, and removes it.
    let bad = fixture("iptables/bad-port.iptables");
    let o = seglab()
        .args(["test", "scenario-3", "--ruleset", &format!("gw-mgmt={bad}")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{bad}:12: invalid port/service `99999' specified\n    -A FORWARD -s 198.18.30.10/32"
        )),
        "{err}"
    );
    let made = err
        .split("gateway gw-mgmt of lab ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no lab named in {err}"));
    assert!(made.starts_with("scenario-3-"), "{made}");
    assert_eq!(leftovers(made), (0, 0), "{made} left behind");
}
