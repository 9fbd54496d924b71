//! Bringing labs up and down on the real Docker engine: what `up` creates is
//! checked from outside (docker inspect, nft and routes in each namespace),
//! failures and interruptions leave nothing behind, and the host's own
//! network configuration is never touched.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn inspect(obj: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, obj]).trim().to_string()
}

fn host_address(lab: &str, host: &str) -> String {
    inspect(
        &container(lab, host),
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    )
}

/// Brings a scenario up and checks everything `up` promises.
fn up_and_check(scenario: &str) {
    let lab = unique(&scenario.replace("scenario-", "s"));
    let _guard = LabGuard(lab.clone());
    let o = run(&["up", scenario, "--name", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    let sc = seglab::scenario::load(scenario).unwrap();

    // Networks: one per segment, no masquerade, no host address.
    let filter = format!("label=io.seglab.lab={lab}");
    let nets: Vec<String> = docker(&["network", "ls", "-q", "--filter", &filter])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(nets.len(), sc.segments.len());
    for n in &nets {
        let opts = inspect(n, "{{json .Options}}");
        assert!(
            opts.contains(r#""com.docker.network.bridge.enable_ip_masquerade":"false""#),
            "{opts}"
        );
        assert!(
            opts.contains(r#""com.docker.network.bridge.inhibit_ipv4":"true""#),
            "{opts}"
        );
        assert_eq!(inspect(n, "{{.Internal}}"), "false");
    }

    // Gateways: forwarding and no capabilities (seglab configures them
    // from the host); hosts: no capabilities either.
    for g in &sc.gateways {
        let c = container(&lab, &g.name);
        assert_eq!(inspect(&c, "{{.HostConfig.CapAdd}}"), "[]");
        assert_eq!(inspect(&c, "{{.HostConfig.CapDrop}}"), "[ALL]");
        assert_eq!(
            inspect(&c, "{{index .HostConfig.Sysctls \"net.ipv4.ip_forward\"}}"),
            "1"
        );
        assert_eq!(inspect(&c, "{{.HostConfig.Privileged}}"), "false");
        assert_eq!(
            inspect(&c, "{{index .Config.Labels \"io.seglab.gateway\"}}"),
            g.name
        );
        let rules = in_netns(&lab, &g.name, &["nft", "list", "ruleset"]);
        let own = g
            .ruleset
            .as_ref()
            .expect("built-in gateways have rule sets");
        assert!(
            own.text.contains("policy drop") && rules.contains("policy drop"),
            "{rules}"
        );
        // Docker's DNS table survives our reset.
        assert!(rules.contains("DOCKER_OUTPUT"), "{rules}");
        let routes = in_netns(&lab, &g.name, &["ip", "route"]);
        assert!(
            !routes.contains("default"),
            "a gateway has no default route: {routes}"
        );
    }
    for h in &sc.hosts {
        let c = container(&lab, &h.name);
        assert_eq!(inspect(&c, "{{.HostConfig.CapAdd}}"), "[]");
        assert_eq!(inspect(&c, "{{.HostConfig.CapDrop}}"), "[ALL]");
        assert_eq!(
            inspect(
                &c,
                "{{index .HostConfig.Sysctls \"net.ipv4.ip_unprivileged_port_start\"}}"
            ),
            "0"
        );
        assert_eq!(inspect(&c, "{{.HostConfig.ReadonlyRootfs}}"), "true");
        assert_eq!(inspect(&c, "{{.HostConfig.Privileged}}"), "false");
        assert_eq!(
            inspect(&c, "{{index .Config.Labels \"io.seglab.role\"}}"),
            h.role
        );
        assert_eq!(
            inspect(&c, "{{index .Config.Labels \"io.seglab.segment\"}}"),
            h.segment
        );
        // The default route points at the segment's gateway, on its network.
        let router = sc.segment(&h.segment).unwrap().router.clone().unwrap();
        let net = format!("seglab-{lab}-{}", h.segment);
        let gw_ip = inspect(
            &container(&lab, &router),
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        );
        let routes = in_netns(&lab, &h.name, &["ip", "route"]);
        assert!(
            routes.contains(&format!("default via {gw_ip} ")),
            "{}: {routes}",
            h.name
        );
        let rules = in_netns(
            &lab,
            &h.name,
            &["nft", "list", "table", "inet", "seglab_host"],
        );
        assert!(rules.contains("redirect to :65472-65535"), "{rules}");
        assert_eq!(
            rules.contains("chain firewall"),
            h.firewall.is_some(),
            "{rules}"
        );
    }

    // exec runs a host tool inside a node.
    let host = &sc.hosts[0];
    let o = run(&[
        "exec", &lab, &host.name, "--", "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let addr = format!(" {}/", host_address(&lab, &host.name));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&addr),
        "{}",
        text(&o)
    );
    // The command's own exit status comes back.
    let o = run(&["exec", &lab, &host.name, "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    let status = run(&["status", &lab]);
    assert!(status.status.success(), "{}", text(&status));
    let st = String::from_utf8_lossy(&status.stdout);
    for h in &sc.hosts {
        assert!(st.contains(&h.name), "{st}");
    }
    assert_eq!(
        st.matches("running").count(),
        sc.hosts.len() + sc.gateways.len(),
        "{st}"
    );

    // down, twice.
    for _ in 0..2 {
        let o = run(&["down", &lab]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(leftovers(&lab), (0, 0));
    }
}

#[test]
fn scenario_1_comes_up_as_asked() {
    if !live(LAB) {
        return;
    }
    up_and_check("scenario-1");
}

#[test]
fn scenario_2_comes_up_as_asked() {
    if !live(LAB) {
        return;
    }
    up_and_check("scenario-2");
}

#[test]
fn scenario_3_comes_up_as_asked() {
    if !live(LAB) {
        return;
    }
    up_and_check("scenario-3");
}

#[test]
fn scenario_4_comes_up_as_asked() {
    if !live(LAB) {
        return;
    }
    up_and_check("scenario-4");
}

#[test]
fn a_bad_ruleset_fails_up_with_the_file_and_line_and_leaves_nothing() {
    if !live(LAB) {
        return;
    }
    let lab = unique("badrules");
    let _guard = LabGuard(lab.clone());
    let file = fixture("rulesets/syntax-error.nft");
    let o = run(&[
        "up",
        "scenario-2",
        "--name",
        &lab,
        "--ruleset",
        &format!("gw-mgmt={file}"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{file}:3:")) || err.contains(&format!("{file}:4:")),
        "{err}"
    );
    assert!(err.contains("Error"), "{err}");
    assert_eq!(leftovers(&lab), (0, 0));
}

#[test]
fn a_ruleset_for_an_unknown_gateway_is_bad_input() {
    let o = run(&["up", "scenario-2", "--ruleset", "gw-nope=/dev/null"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gw-mgmt"));
}

#[test]
fn ctrl_c_during_up_leaves_nothing() {
    if !live(LAB) {
        return;
    }
    let lab = unique("ctrlc");
    let _guard = LabGuard(lab.clone());
    let mut child = seglab()
        .args(["up", "scenario-4", "--name", &lab])
        .spawn()
        .expect("seglab starts");
    // Interrupt once the first node container exists (the lab's claim
    // comes before its networks): mid-way through `up`.
    let filter = format!("label=io.seglab.lab={lab}");
    let nodes = || {
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &filter,
            "--filter",
            "label=io.seglab.spec",
        ])
        .lines()
        .count()
    };
    let start = Instant::now();
    while nodes() == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(nodes() > 0, "up never created a node container");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(leftovers(&lab), (0, 0));
}

#[test]
fn two_labs_of_one_scenario_run_at_once() {
    if !live(LAB) {
        return;
    }
    let labs = [unique("twin-a"), unique("twin-b")];
    let _guards: Vec<LabGuard> = labs.iter().map(|l| LabGuard(l.clone())).collect();
    let handles: Vec<_> = labs
        .iter()
        .map(|l| {
            let l = l.clone();
            std::thread::spawn(move || run(&["up", "scenario-3", "--name", &l]))
        })
        .collect();
    for h in handles {
        let o = h.join().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let subnet = |lab: &str| {
        inspect(
            &format!("seglab-{lab}-sensitive"),
            "{{(index .IPAM.Config 0).Subnet}}",
        )
    };
    assert_ne!(subnet(&labs[0]), subnet(&labs[1]));
    for l in &labs {
        let o = run(&["verify", l]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // A third `up` under a name in use is refused and leaves the lab alone.
    let o = run(&["up", "scenario-3", "--name", &labs[0]]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    let o = run(&["verify", &labs[0]]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_hosts_own_routes_and_nft_tables_are_untouched() {
    if !live(LAB) {
        return;
    }
    let routes = || {
        let o = Command::new("ip")
            .args(["-4", "route", "show", "table", "all"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let tables = || {
        let o = Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let (r0, t0) = (routes(), tables());
    let guard = up("scenario-1", "hostcheck", &[]);
    let lab = guard.0.clone();
    // While the lab runs: no route to a lab subnet and no NAT for it on the host.
    let during = routes();
    assert!(
        !during.contains("198.18.") && !during.contains("203.0.113."),
        "{during}"
    );
    let ruleset = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    let ruleset = String::from_utf8_lossy(&ruleset.stdout);
    for line in ruleset.lines().filter(|l| l.contains("masquerade")) {
        assert!(
            !line.contains("198.18.") && !line.contains("203.0.113."),
            "{line}"
        );
    }
    let o = run(&["verify", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(routes(), r0);
    assert_eq!(tables(), t0);
}

#[test]
fn down_of_an_unknown_lab_succeeds() {
    if !live(LAB) {
        return;
    }
    let o = run(&["down", &unique("never-was")]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_rule_file_that_flushes_the_ruleset_works_as_it_is_and_spares_dockers_table() {
    if !live(LAB) {
        return;
    }
    // The shape of real rule files: a shebang, then `flush ruleset`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw-sensitive.nft");
    let original =
        std::fs::read_to_string(repo_root().join("scenarios/scenario-3/gw-sensitive.nft")).unwrap();
    std::fs::write(
        &file,
        format!("#!/usr/sbin/nft -f\n\nflush ruleset\n\n{original}"),
    )
    .unwrap();
    let lab = unique("flush");
    let guard = LabGuard(lab.clone());
    let o = seglab()
        .args(["up", "scenario-3", "--name", &lab, "--ruleset"])
        .arg(format!("gw-sensitive={}", file.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("gw-sensitive.nft:3: `flush ruleset` left out"),
        "{stderr}"
    );
    // Docker's embedded DNS table is still there, beside the user's.
    let tables = in_netns(&lab, "gw-sensitive", &["nft", "list", "tables"]);
    assert!(tables.contains("table ip nat"), "{tables}");
    assert!(tables.contains("table inet filter"), "{tables}");
    let o = run(&["verify", &guard.0]);
    assert!(o.status.success(), "{}", text(&o));
}
