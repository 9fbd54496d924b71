//! `apply`, `status`'s rule set column and `watch` on the real engine: a
//! refused file changes nothing, an applied one is what `verify` finds,
//! `status` shows and a phase closes back to; `watch` prints exactly the
//! cells an edit changed and leaves the lab as it is on Ctrl-C.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn verify_json(lab: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let o = seglab()
        .args(["verify", lab, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    reports(&o)
}

fn status(lab: &str) -> String {
    let o = run(&["status", lab]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The status line of `gateway`.
fn status_row(lab: &str, gateway: &str) -> String {
    let st = status(lab);
    st.lines()
        .find(|l| l.contains(&format!(" {gateway} ")))
        .unwrap_or_else(|| panic!("{st}"))
        .to_string()
}

fn hash_of(path: &str) -> String {
    seglab::lab::apply::short_hash(&std::fs::read_to_string(path).unwrap())
}

fn revisions(lab: &str) -> usize {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.seglab.lab={lab}"),
        "--filter",
        "label=io.seglab.revision",
    ])
    .lines()
    .count()
}

#[test]
fn apply_replaces_rule_sets_all_or_nothing_and_is_what_verify_and_status_see() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "apply", &[]);
    let lab = guard.0.as_str();
    let own = "scenarios/scenario-3/gw-mgmt.nft";
    let before = failing(&verify_json(lab, &[])[0]);
    assert!(status_row(lab, "gw-mgmt").contains(&format!("{own} ")));

    // (a) A file nft refuses: exit 2 at its line, and nothing changes.
    let bad = fixture("rulesets/syntax-error.nft");
    let o = run(&["apply", lab, "--ruleset", &format!("gw-mgmt={bad}")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{bad}:3:")) || err.contains(&format!("{bad}:4:")),
        "{err}"
    );
    assert_eq!(failing(&verify_json(lab, &[])[0]), before);
    let row = status_row(lab, "gw-mgmt");
    assert!(
        row.contains(&format!("{own} ")) && row.contains("in place"),
        "{row}"
    );
    assert_eq!(revisions(lab), 0);

    // Neither nft nor iptables-save; a dump with a table seglab does not
    // load; a dump iptables-nft-restore refuses (checked with --test in the
    // gateway first): exit 2 naming the file (and line), nothing changes.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let yaml = write("rules.yaml", "# not rules\nallow: [ssh]\n");
    let nat = write(
        "nat.rules",
        "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n",
    );
    let missing_chain = write(
        "missing-chain.rules",
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j NO-SUCH-CHAIN\nCOMMIT\n",
    );
    for (file, says) in [
        (
            &yaml,
            format!("{yaml}:2: `allow: [ssh]` is neither nft nor iptables-save"),
        ),
        (&nat, format!("{nat}:1: table `nat` is not loaded")),
        (&missing_chain, format!("{missing_chain}:")),
    ] {
        let o = run(&["apply", lab, "--ruleset", &format!("gw-mgmt={file}")]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&says), "{says}: {err}");
    }
    assert_eq!(failing(&verify_json(lab, &[])[0]), before);
    assert!(status_row(lab, "gw-mgmt").contains(&format!("{own} ")));
    assert_eq!(revisions(lab), 0);

    // (c) An unknown gateway: exit 2 naming it and the lab's gateways.
    let extra_mgmt = fixture("rulesets/s3-gw-mgmt-extra-445.nft");
    let o = run(&["apply", lab, "--ruleset", &format!("gw-nope={extra_mgmt}")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gw-nope") && err.contains("gw-mgmt, gw-sensitive"),
        "{err}"
    );
    assert!(status_row(lab, "gw-mgmt").contains(&format!("{own} ")));
    assert_eq!(revisions(lab), 0);

    // (b) Both gateways let ams reach the agents on 445: the leak shows.
    let extra_sens = fixture("rulesets/s3-gw-sensitive-extra-445.nft");
    let o = run(&[
        "apply",
        lab,
        "--ruleset",
        &format!("gw-mgmt={extra_mgmt}"),
        "--ruleset",
        &format!("gw-sensitive={extra_sens}"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "gw-mgmt: {own} -> {extra_mgmt} (sha256 {})",
            hash_of(&extra_mgmt)
        )),
        "{out}"
    );
    // Files that name hosts by their defines have nothing to note.
    assert!(!out.contains("note:"), "{out}");
    let leaks = vec![
        "ams>agent-1 tcp/445 leak".to_string(),
        "ams>agent-2 tcp/445 leak".to_string(),
    ];
    assert_eq!(failing(&verify_json(lab, &[])[0]), leaks);
    for (gw, file) in [("gw-mgmt", &extra_mgmt), ("gw-sensitive", &extra_sens)] {
        let row = status_row(lab, gw);
        assert!(
            row.contains(&format!("{file} {}, in place", hash_of(file))),
            "{row}"
        );
    }
    // The phase opens 445 for a while; it closes back to the applied rule
    // sets (which leak 445 again), not to the ones of `up`.
    let phase = verify_json(lab, &["--phase", "push-install"]);
    assert_eq!(phase.len(), 2, "{phase:?}");
    assert_eq!(phase[1]["phase"], "push-install (closed)");
    assert_eq!(failing(&phase[1]), leaks);
    assert!(status_row(lab, "gw-mgmt").contains(&format!("{extra_mgmt} ")));
    assert!(status_row(lab, "gw-mgmt").contains("in place"));

    // (b2) An address no segment holds is loaded, and noted at its line.
    let stray = fixture("rulesets/s3-gw-mgmt-stray-address.nft");
    let o = run(&["apply", lab, "--ruleset", &format!("gw-mgmt={stray}")]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "note: {stray}:12: 10.99.99.99 is on none of lab {lab}'s segments (mgmt "
        )) && out.contains("rules that match it match no lab host"),
        "{out}"
    );
    assert!(status_row(lab, "gw-mgmt").contains(&format!("{stray} ")));

    // (d) A lab with a node stopped is not running: apply and watch say
    // so (exit 2, the lab named) and change nothing.
    docker(&["stop", "-t", "0", &container(lab, "storage")]);
    for verb in ["apply", "watch"] {
        let o = seglab()
            .args([verb, lab, "--ruleset", &format!("gw-mgmt={bad}")])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{verb}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("lab {lab} is not running (storage is exited")),
            "{verb}: {err}"
        );
    }
    assert!(status_row(lab, "gw-mgmt").contains(&format!("{stray} ")));
}

#[test]
fn watch_of_an_unknown_lab_is_bad_input() {
    if !live(LAB) {
        return;
    }
    let lab = unique("never-up");
    let o = run(&["watch", &lab]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&lab),
        "{}",
        text(&o)
    );
}

/// Stdout lines of a running `seglab watch`, as they come.
struct Watching {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    fn start(args: &[&str]) -> Watching {
        let mut child = seglab()
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Watching { child, lines }
    }

    /// The lines up to and with the next summary line (PASS/FAIL).
    fn run_lines(&self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = l.starts_with("PASS ") || l.starts_with("FAIL ");
                    got.push(l);
                    if done {
                        return got;
                    }
                }
                Err(_) => panic!("no summary line within {within:?}; got {got:?}"),
            }
        }
    }

    /// SIGINT, as Ctrl-C, and the exit status.
    fn interrupt(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `+`/`-`/`~` lines of a run.
fn cell_lines(run: &[String]) -> Vec<&String> {
    run.iter()
        .filter(|l| l.starts_with("+ ") || l.starts_with("- ") || l.starts_with("~ "))
        .collect()
}

/// `+ leak        ams -> vendor-cloud tcp/443 (no flow): open` as
/// `ams>vendor-cloud tcp/443 leak`, the form of [`failing`].
fn as_failing(l: &str) -> String {
    let w: Vec<&str> = l.split_whitespace().collect();
    assert_eq!((w[0], w[1]), ("+", "leak"), "{l}");
    format!("{}>{} {} leak", w[2], w[4], w[5])
}

#[test]
fn watch_picks_up_a_save_and_prints_exactly_the_cells_it_changed() {
    if !live(LAB) {
        return;
    }
    // The scenario's own copy, so that its file and rule file are watched.
    let dir = tempfile::tempdir().unwrap();
    let s1 = dir.path().join("s1");
    std::fs::create_dir(&s1).unwrap();
    for f in ["scenario.yaml", "gw-edge.nft"] {
        std::fs::copy(repo_root().join("scenarios/scenario-1").join(f), s1.join(f)).unwrap();
    }
    std::fs::copy(
        repo_root().join("scenarios/catalog.yaml"),
        dir.path().join("catalog.yaml"),
    )
    .unwrap();
    let file = s1.join("gw-edge.nft");
    let scenario = s1.join("scenario.yaml");
    let path = file.display().to_string();
    let guard = up(&s1.display().to_string(), "watch", &[]);
    let lab = guard.0.as_str();
    let w = Watching::start(&[lab]);
    let first = w.run_lines(Duration::from_secs(60));
    assert!(first.last().unwrap().starts_with("PASS "), "{first:?}");
    assert!(
        first[0].contains(&path) && first[0].contains(&scenario.display().to_string()),
        "{first:?}"
    );

    // An editor's save: the new version written beside, renamed over.
    let tmp = s1.join(".gw-edge.nft.tmp");
    std::fs::copy(fixture("rulesets/s1-gw-edge-extra-443.nft"), &tmp).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let run = w.run_lines(Duration::from_secs(30));
    assert!(run.last().unwrap().starts_with("FAIL "), "{run:?}");
    // Exactly the new leaks, as a verify of the lab now finds them.
    let leaks = failing(&verify_json(lab, &[])[0]);
    assert!(!leaks.is_empty());
    let printed: Vec<String> = cell_lines(&run).iter().map(|l| as_failing(l)).collect();
    assert_eq!(printed, leaks, "{run:?}");

    // The scenario file without flow 1 (ams -> vendor-dl tcp/80): that
    // cell is a leak now, and nothing else changed.
    let yaml = std::fs::read_to_string(&scenario).unwrap();
    let without: String = yaml
        .lines()
        .filter(|l| !l.contains("{flow: 1,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without.len(), yaml.len());
    std::fs::write(&scenario, &without).unwrap();
    let run = w.run_lines(Duration::from_secs(30));
    let printed: Vec<String> = cell_lines(&run).iter().map(|l| as_failing(l)).collect();
    assert_eq!(printed, ["ams>vendor-dl tcp/80 leak"], "{run:?}");
    // A host moved: that needs a new lab; watch says so and goes on.
    std::fs::write(
        &scenario,
        without.replace("role: storage}", "role: storage, address: 198.18.1.99}"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let l = w
            .lines
            .recv_timeout(left)
            .expect("watch said nothing of the moved host");
        if l.contains("cannot take") {
            assert!(
                l.contains("hosts") && l.contains(&format!("seglab down {lab}")),
                "{l}"
            );
            break;
        }
    }

    let code = w.interrupt();
    assert_eq!(code, Some(0));
    // Ctrl-C left the lab running, on the rule set of the save.
    let row = status_row(lab, "gw-edge");
    assert!(
        row.contains(&format!("{path} {}, in place", hash_of(&path))),
        "{row}"
    );
    assert_eq!(status(lab).matches("running").count(), {
        let sc = seglab::scenario::load("scenario-1").unwrap();
        sc.hosts.len() + sc.gateways.len()
    });
}
