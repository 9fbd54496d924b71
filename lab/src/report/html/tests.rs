//! The HTML report of reports made from the built-in scenarios' plans: a
//! cell per host pair, a drawing node per host and gateway, the failing
//! cell's ports in the page's data, text escaped wherever it is written,
//! nothing fetched, and scenario 4 within its size budget.

use super::*;
use crate::plan::{plan, Expected};
use crate::probe::Observed;
use crate::scan::{JudgedSpan, PairScan, ScanSummary};
use crate::scenario::{builtin, Scenario, Source};
use crate::trace::explain::Explanation;
use crate::verify::{ProbeResult, Summary, Verdict};

fn scenario(name: &str) -> Scenario {
    Source::builtin(builtin::find(name).unwrap())
        .load(&[])
        .unwrap()
}

/// A report of every cell of `sc`'s plan, each judged by `judge` (None:
/// as planned); failing cells carry an explanation.
fn report(
    sc: &Scenario,
    phase: Option<&str>,
    judge: impl Fn(&crate::plan::Cell) -> Option<Verdict>,
) -> Report {
    let p = plan(sc, phase).unwrap();
    let mut summary = Summary::default();
    let results: Vec<ProbeResult> = p
        .cells
        .iter()
        .map(|c| {
            let verdict = judge(c).unwrap_or(Verdict::Pass);
            let observed = match (c.expected, verdict) {
                (Expected::Open, Verdict::Pass) | (Expected::Blocked, Verdict::Leak) => {
                    Observed::Open
                }
                _ => Observed::Blocked,
            };
            summary.probes += 1;
            match verdict {
                Verdict::Pass => summary.passed += 1,
                Verdict::Leak => summary.leaks += 1,
                _ => summary.missing += 1,
            }
            ProbeResult {
                src: c.src.clone(),
                dst: c.dst.clone(),
                proto: c.proto,
                port: c.port,
                expected: c.expected,
                observed,
                verdict,
                responder: (observed == Observed::Open)
                    .then(|| format!("{}/catch-all/{}", c.dst, c.port)),
                flow: c.flow,
                elapsed_ms: 1.0,
                detail: None,
                retried: false,
                explain: (verdict != Verdict::Pass).then(|| Explanation {
                    why: format!(
                        "accepted by gw-sensitive: inet filter forward rule `tcp dport {} accept` (allow-all.nft:7)",
                        c.port
                    ),
                    path: Vec::new(),
                }),
            }
        })
        .collect();
    Report {
        scenario: sc.name.clone(),
        lab: format!("seglab-{}", sc.name),
        phase: phase.unwrap_or("base").to_string(),
        summary,
        results,
        notes: Vec::new(),
        segments: sc
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.segment.clone()))
            .collect(),
    }
}

/// Scenario 3 with both gateways letting everything through: every
/// blocked cell between hosts of different segments leaks.
fn allow_all(sc: &Scenario) -> Report {
    let seg = |h: &str| {
        sc.hosts
            .iter()
            .find(|x| x.name == h)
            .unwrap()
            .segment
            .clone()
    };
    report(sc, None, |c| {
        (c.expected == Expected::Blocked && seg(&c.src) != seg(&c.dst)).then_some(Verdict::Leak)
    })
}

fn page_of(reports: &[Report], scans: &[ScanReport], sc: &Scenario) -> String {
    let ctx = Context::default().with_scenario(sc);
    let params = vec![("command".to_string(), "seglab verify lab".to_string())];
    html(&Page {
        reports,
        scans,
        topologies: &ctx.topologies,
        params: &params,
    })
}

/// The JSON the page's script reads.
fn data(page: &str) -> serde_json::Value {
    let start = page.find("id=\"seglab-data\">").unwrap() + "id=\"seglab-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

#[test]
fn the_matrix_has_a_cell_per_ordered_host_pair_and_the_drawing_a_node_per_host_and_gateway() {
    let sc = scenario("scenario-3");
    let page = page_of(&[allow_all(&sc)], &[], &sc);
    let n = sc.hosts.len();
    assert_eq!(page.matches("<td class=\"cell ").count(), n * (n - 1));
    assert_eq!(page.matches("<td class=\"self\"").count(), n);
    for h in &sc.hosts {
        assert_eq!(
            page.matches(&format!("class=\"node host\" data-node=\"{}\"", h.name))
                .count(),
            1,
            "{}",
            h.name
        );
    }
    for g in &sc.gateways {
        assert_eq!(
            page.matches(&format!("class=\"node gateway\" data-node=\"{}\"", g.name))
                .count(),
            1,
            "{}",
            g.name
        );
    }
    // The failing paths are drawn as failing.
    assert!(page.contains("data-verdict=\"fail\""));
}

#[test]
fn a_leaking_cell_says_its_verdict_and_opens_its_ports_flows_and_explanations() {
    let sc = scenario("scenario-3");
    let r = allow_all(&sc);
    let page = page_of(std::slice::from_ref(&r), &[], &sc);
    let at = page
        .find("data-src=\"ams\" data-dst=\"agent-1\"")
        .expect("the ams -> agent-1 cell");
    let td_start = page[..at].rfind("<td ").unwrap();
    let td = &page[td_start..at + page[at..].find("</td>").unwrap()];
    assert!(td.contains("data-verdict=\"leak\""), "{td}");
    let k: usize = td
        .split("data-k=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let rows = &data(&page)["views"][0]["cells"][k];
    let ports: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    let probes = r
        .results
        .iter()
        .filter(|c| c.src == "ams" && c.dst == "agent-1")
        .count();
    assert_eq!(ports.len(), probes);
    assert!(ports.contains(&"tcp/445"), "{ports:?}");
    let leak = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "tcp/445")
        .unwrap();
    assert_eq!(leak[1], "leak");
    assert_eq!(leak[4], "no flow");
    let why = leak[6].as_u64().unwrap() as usize;
    assert!(data(&page)["views"][0]["whys"][why]
        .as_str()
        .unwrap()
        .contains("tcp dport 445 accept"));
    // The cell's tooltip counts its verdicts.
    assert!(td.contains("leak"), "{td}");
}

#[test]
fn every_phase_and_scan_is_a_view_and_the_page_opens_on_the_first_failure() {
    let sc = scenario("scenario-3");
    let base = report(&sc, None, |_| None);
    let phase = allow_all(&sc);
    let mut closed = report(&sc, None, |_| None);
    closed.phase = "push-install (closed)".into();
    let scan = ScanReport {
        lab: "seglab-scenario-3".into(),
        scenario: "scenario-3".into(),
        phase: "base".into(),
        notes: Vec::new(),
        summary: ScanSummary {
            pairs: 1,
            ports: 65535,
            passed: 65535,
            ..ScanSummary::default()
        },
        pairs: vec![PairScan {
            src: "ams".into(),
            dst: "agent-1".into(),
            src_segment: "mgmt".into(),
            dst_segment: "sensitive".into(),
            proto: crate::node_contract::Proto::Tcp,
            ports: 65535,
            spans: vec![JudgedSpan {
                first: 1,
                last: 65535,
                expected: Expected::Blocked,
                observed: Observed::Blocked,
                verdict: Verdict::Pass,
                flow: None,
                reason: "no flow".into(),
                detail: None,
            }],
            rounds: 1,
            packets: 65535,
            elapsed_ms: 900,
        }],
    };
    let page = page_of(&[base, phase, closed], &[scan], &sc);
    assert_eq!(page.matches("<section class=\"view\"").count(), 4);
    assert_eq!(page.matches("<button class=\"tab\"").count(), 4);
    for label in [
        "scenario-3 / base",
        "scenario-3 / base",
        "scenario-3 / push-install (closed)",
        "scan scenario-3 / base",
    ] {
        assert!(page.contains(&format!("data-label=\"{label}\"")), "{label}");
    }
    // Only the failing second view is shown.
    assert_eq!(page.matches("<section class=\"view\"").count(), 4);
    assert_eq!(page.matches("data-ok=\"true\" hidden>").count(), 3);
    assert!(page.contains(
        "id=\"view-1\" data-view=\"1\" data-label=\"scenario-3 / base\" data-ok=\"false\">"
    ));
    // The scan's one row says the whole range.
    let d = data(&page);
    let scan_rows = d["views"][3]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c.as_array().unwrap().iter())
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(scan_rows, ["tcp 1-65535"]);
}

#[test]
fn text_from_scenarios_and_rule_files_is_escaped_wherever_it_is_written() {
    let sc = scenario("scenario-3");
    let mut r = allow_all(&sc);
    let evil = "</script><img src=x onerror=alert(1)> & \"q\"";
    r.notes.push(evil.to_string());
    for c in r.results.iter_mut().filter(|c| c.verdict == Verdict::Leak) {
        c.explain = Some(Explanation {
            why: evil.to_string(),
            path: Vec::new(),
        });
    }
    let page = page_of(&[r], &[], &sc);
    assert_eq!(page.matches("</script>").count(), 2, "only the page's own");
    assert!(!page.contains("<img"));
    assert!(page.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;"));
    // The data reads back to the very text.
    let d = data(&page);
    assert_eq!(d["views"][0]["whys"][0], evil);
}

#[test]
fn the_page_fetches_nothing() {
    let sc = scenario("scenario-4");
    let page = page_of(&[allow_all(&sc)], &[], &sc);
    for needle in [
        " src=\"",
        "href=",
        "@import",
        "url(",
        "<link",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!page.contains(needle), "{needle}");
    }
    // The SVG's namespace is a name, not a fetch; no other address.
    assert_eq!(
        page.matches("http").count(),
        page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
}

#[test]
fn scenario_4_stays_within_its_size_budget_even_with_every_cell_explained() {
    // Budget (issue 10): 300 KB for scenario 4. The worst case: every
    // blocked cell across segments leaks and is explained, each phase.
    let sc = scenario("scenario-4");
    let mut reports = vec![report(&sc, None, |_| None), allow_all(&sc)];
    for p in &sc.phases {
        reports.push(report(&sc, Some(&p.name), |_| None));
    }
    let page = page_of(&reports, &[], &sc);
    assert!(
        page.len() <= 300 * 1024,
        "{} bytes for {} views",
        page.len(),
        reports.len()
    );
}

#[test]
fn an_observation_is_one_view_of_open_ports_judged_against_no_policy() {
    use crate::observe::sample::{cell, observation};
    let sc = scenario("scenario-2");
    let obs = observation(vec![
        cell("admin", "ams", "tcp/443", Observed::Open),
        cell("admin", "ams", "tcp/22", Observed::Blocked),
        cell("ams", "admin", "tcp/22", Observed::Rejected),
    ]);
    let ctx = Context::default().with_scenario(&sc);
    let page = observation_html(&obs, &ctx);
    assert_eq!(page.matches("<section class=\"view\"").count(), 1);
    assert!(page.contains("◉ OBSERVED: what is reachable, judged against no policy"));
    assert!(!page.contains("PASS") && !page.contains("FAIL"));
    let n = sc.hosts.len();
    assert_eq!(page.matches("<td class=\"cell ").count(), n * (n - 1));
    assert!(page.contains(
        "data-src=\"admin\" data-dst=\"ams\" data-verdict=\"open\" title=\"admin → ams: 2 probes, 1 open, 1 blocked\""
    ));
    assert!(page.contains("data-src=\"ams\" data-dst=\"admin\" data-verdict=\"closed\""));
    let d = data(&page);
    assert_eq!(d["views"][0]["kind"], "observe");
    let rows = d["views"][0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_array().unwrap())
        .find(|c| c.len() == 2)
        .expect("admin -> ams");
    // The open port first, with who answered.
    assert_eq!(rows[0][0], "tcp/443");
    assert_eq!(rows[0][3], "open");
    assert_eq!(rows[0][5], "answered by ams/svc/443");
}

#[test]
fn the_matrix_of_scenario_3_wide_open() {
    let sc = scenario("scenario-3");
    let page = page_of(&[allow_all(&sc)], &[], &sc);
    let start = page.find("<table class=\"matrix\">").unwrap();
    let end = start + page[start..].find("</table>").unwrap() + "</table>".len();
    // A row a line, so that a change reads as the rows it changes.
    let matrix = page[start..end].replace("</tr>", "</tr>\n");
    insta::assert_snapshot!(matrix);
}
