//! `seglab verify --format html`, in a real browser: the report of
//! scenario-3 with both gateways open (allow-all) is loaded in headless
//! Chromium (Debian's package) and checked over the DevTools protocol. It
//! logs no error and throws nothing, fetches nothing, draws each host and
//! gateway of the scenario once, has a matrix cell per ordered host pair,
//! and a real mouse click on a cell shows that pair's probed ports. The
//! report of `--phase push-install` has a view (and a tab) for the open
//! phase and one for the checks after it closed. A screenshot is kept in
//! target/html-report/ to look at.

// The browser harness, beside this file.
#[path = "html_report/browser.rs"]
mod browser;
mod common;

use browser::Loaded;
use common::*;
use seglab::scenario::Scenario;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A lab, the seglab binary's root privileges, and a browser.
const NEEDS: &[Need] = &[Need::Docker, Need::Root, Need::Chromium];

/// Where the report and its screenshot are kept.
fn out_dir() -> PathBuf {
    repo_root().join("target/html-report")
}

/// The page's structure, as its shown view has it.
#[derive(Debug, Deserialize)]
struct Shape {
    /// (id, data-label, data-ok, hidden) of every `section.view`.
    views: Vec<(String, String, String, bool)>,
    /// `data-view` of every tab.
    tabs: Vec<String>,
    /// The ids of the views not hidden.
    shown: Vec<String>,
    hosts: Vec<String>,
    gateways: Vec<String>,
    /// (data-src, data-dst, data-verdict) of every `td.cell` of the matrix.
    cells: Vec<(String, String, String)>,
    selfs: usize,
    /// Whether the view's `div.detail` is hidden (`None`: there is none).
    detail_hidden: Option<bool>,
    /// `src`/`href` values that name another host.
    remote: Vec<String>,
}

const SHAPE: &str = r#"(() => {
  const views = [...document.querySelectorAll('section.view')];
  const shown = views.filter(v => !v.hidden);
  const v = shown[0];
  const all = sel => v ? [...v.querySelectorAll(sel)] : [];
  const detail = v && v.querySelector('div.detail');
  return JSON.stringify({
    views: views.map(s => [s.id, s.dataset.label || '', s.dataset.ok || '', s.hidden]),
    tabs: [...document.querySelectorAll('nav#views button.tab')].map(b => b.dataset.view || ''),
    shown: shown.map(s => s.id),
    hosts: all('figure.topology svg g.node.host').map(g => g.dataset.node || ''),
    gateways: all('figure.topology svg g.node.gateway').map(g => g.dataset.node || ''),
    cells: all('table.matrix td.cell').map(td => [td.dataset.src || '', td.dataset.dst || '', td.dataset.verdict || '']),
    selfs: all('table.matrix td.self').length,
    detail_hidden: detail ? detail.hidden : null,
    remote: [...document.querySelectorAll('[src], [href]')]
      .flatMap(e => [e.getAttribute('src'), e.getAttribute('href')])
      .filter(u => u && /^\s*(https?:)?\/\//i.test(u)),
  });
})()"#;

/// The shown view's detail: its heading and (first cell, data-verdict) of
/// each row of its ports table.
#[derive(Debug, Deserialize)]
struct Detail {
    heading: String,
    rows: Vec<(String, String)>,
}

const DETAIL: &str = r#"(() => {
  const d = document.querySelector('section.view:not([hidden]) div.detail');
  return JSON.stringify({
    heading: d.querySelector('h3')?.textContent.trim() || '',
    rows: [...d.querySelectorAll('table.ports tr[data-verdict]')]
      .map(tr => [tr.querySelector('td')?.textContent.trim() || '', tr.dataset.verdict]),
  });
})()"#;

const VERDICTS: &[&str] = &[
    "pass",
    "leak",
    "missing",
    "misrouted",
    "wrong-block",
    "host-down",
    "path-down",
    // An observation's cells and rows (judged against no policy).
    "open",
    "closed",
    "error",
    "none",
];

fn names<'a>(it: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
    it.cloned().collect()
}

/// Checks the topology and the matrix of the shown view against the
/// scenario: each host and gateway drawn once, a cell per ordered pair.
fn check_shape(shape: &Shape, sc: &Scenario) {
    let hosts = names(sc.hosts.iter().map(|h| &h.name));
    let gateways = names(sc.gateways.iter().map(|g| &g.name));
    assert_eq!(shape.shown.len(), 1, "exactly one view shown: {shape:#?}");
    let mut drawn = shape.hosts.clone();
    drawn.sort();
    assert_eq!(
        drawn,
        hosts.iter().cloned().collect::<Vec<_>>(),
        "one g.node.host per host of {}",
        sc.name
    );
    let mut drawn = shape.gateways.clone();
    drawn.sort();
    assert_eq!(
        drawn,
        gateways.iter().cloned().collect::<Vec<_>>(),
        "one g.node.gateway per gateway of {}",
        sc.name
    );
    let n = hosts.len();
    let pairs: BTreeSet<(String, String)> = shape
        .cells
        .iter()
        .map(|(s, d, _)| (s.clone(), d.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = hosts
        .iter()
        .flat_map(|s| {
            hosts
                .iter()
                .filter(move |d| *d != s)
                .map(move |d| (s.clone(), d.clone()))
        })
        .collect();
    let (lacking, extra): (Vec<_>, Vec<_>) = (
        want.difference(&pairs).collect(),
        pairs.difference(&want).collect(),
    );
    assert!(
        lacking.is_empty() && extra.is_empty(),
        "a td.cell per ordered pair of distinct hosts: none for {lacking:?}, others {extra:?}"
    );
    assert_eq!(
        shape.cells.len(),
        n * (n - 1),
        "{n} hosts: n*(n-1) td.cell, none twice"
    );
    assert_eq!(shape.selfs, n, "the diagonal is {n} td.self");
    for (s, d, v) in &shape.cells {
        assert!(
            VERDICTS.contains(&v.as_str()),
            "{s} -> {d}: data-verdict {v:?}"
        );
    }
}

/// The tabs and views agree, and a click on each tab shows its view alone,
/// whole (see [`check_shape`]); returns the views' labels, in order.
fn check_tabs(page: &Loaded, sc: &Scenario) -> Vec<String> {
    let shape: Shape = page.json(SHAPE);
    let ids: Vec<String> = shape.views.iter().map(|v| v.0.clone()).collect();
    let tabs: Vec<String> = shape.tabs.iter().map(|t| format!("view-{t}")).collect();
    assert_eq!(tabs, ids, "a button.tab per section.view, in order");
    assert!(!ids.is_empty(), "no section.view");
    for t in &shape.tabs {
        page.element(&format!("nav#views button.tab[data-view=\"{t}\"]"))
            .click()
            .expect("click a tab");
        let now: Shape = page.json(SHAPE);
        assert_eq!(
            now.shown,
            vec![format!("view-{t}")],
            "after a click on tab {t}"
        );
        check_shape(&now, sc);
    }
    // Back to the view the page opened on.
    let start = shape.shown[0].trim_start_matches("view-");
    page.element(&format!("nav#views button.tab[data-view=\"{start}\"]"))
        .click()
        .expect("click a tab");
    shape.views.iter().map(|v| v.1.clone()).collect()
}

/// The proto/port of every probe the plan makes from `src` to `dst`.
fn probed(sc: &Scenario, src: &str, dst: &str) -> BTreeSet<String> {
    let plan = seglab::plan::plan(sc, None).expect("plan");
    plan.cells
        .iter()
        .filter(|c| c.src == src && c.dst == dst)
        .map(|c| format!("{}/{}", c.proto, c.port))
        .collect()
}

/// A real mouse click on the cell `src -> dst` of the shown view shows the
/// detail of that pair; returns it.
fn click_cell(page: &Loaded, src: &str, dst: &str) -> Detail {
    let cell = format!(
        "section.view:not([hidden]) table.matrix td.cell[data-src=\"{src}\"][data-dst=\"{dst}\"]"
    );
    page.element(&cell).click().expect("click the cell");
    let shown = "section.view:not([hidden]) div.detail:not([hidden]) table.ports";
    page.tab
        .wait_for_element_with_custom_timeout(shown, Duration::from_secs(5))
        .unwrap_or_else(|e| {
            panic!(
                "a click on {src} -> {dst} shows no detail ({shown}: {e:#}); the page's errors: {:?}",
                page.errors()
            )
        });
    let detail: Detail = page.json(DETAIL);
    assert!(
        detail.heading.contains(&format!("{src} → {dst}")),
        "the detail names {src} → {dst}: {detail:?}"
    );
    detail
}

/// The pair's rows list every port it was probed on, with a verdict each.
fn check_rows(detail: &Detail, want: &BTreeSet<String>) {
    let listed: BTreeSet<String> = detail.rows.iter().map(|r| r.0.clone()).collect();
    let unlisted: Vec<&String> = want.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "ports not listed: {unlisted:?} in {detail:?}"
    );
    assert!(detail.rows.len() >= want.len(), "{detail:?}");
    for (port, v) in &detail.rows {
        assert!(VERDICTS.contains(&v.as_str()), "{port}: data-verdict {v:?}");
    }
}

fn verdict_of(detail: &Detail, port: &str) -> String {
    detail
        .rows
        .iter()
        .find(|r| r.0 == port)
        .map(|r| r.1.clone())
        .unwrap_or_else(|| panic!("no row {port} in {detail:?}"))
}

/// Everything a person would check in the report of scenario-3 with both
/// gateways open; `shot` gets a PNG of the page after a click.
fn check_report(chromium: &Path, html: &Path, sc: &Scenario, shot: &Path) {
    let page = Loaded::open(chromium, html);
    let shape: Shape = page.json(SHAPE);
    check_shape(&shape, sc);
    let view = shape
        .views
        .iter()
        .find(|v| v.0 == shape.shown[0])
        .expect("the shown view");
    assert_eq!(
        (view.1.as_str(), view.2.as_str()),
        ("scenario-3 / base", "false"),
        "the shown view's data-label and data-ok"
    );
    assert_eq!(
        shape.detail_hidden,
        Some(true),
        "a hidden div.detail before any click"
    );
    assert!(
        shape.remote.is_empty(),
        "src/href off the page: {:?}",
        shape.remote
    );
    check_tabs(&page, sc);

    // ams may reach no agent: with every gateway open, each of its probes leaks.
    let cell = |s: &str, d: &str| {
        shape
            .cells
            .iter()
            .find(|c| c.0 == s && c.1 == d)
            .map(|c| c.2.clone())
    };
    assert_eq!(cell("ams", "agent-1").as_deref(), Some("leak"));
    let detail = click_cell(&page, "ams", "agent-1");
    check_rows(&detail, &probed(sc, "ams", "agent-1"));
    assert_eq!(verdict_of(&detail, "tcp/445"), "leak", "{detail:?}");

    // Same segment: nothing filters it, so it passes, and the detail moves on.
    assert_eq!(cell("agent-2", "storage").as_deref(), Some("pass"));
    let other = click_cell(&page, "agent-2", "storage");
    check_rows(&other, &probed(sc, "agent-2", "storage"));
    assert!(other.rows.iter().all(|r| r.1 == "pass"), "{other:?}");

    // Shown again, for the screenshot: a leaking pair's ports.
    click_cell(&page, "ams", "agent-1");
    std::fs::write(shot, page.screenshot()).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));

    assert_quiet(&page);
}

/// The page logged no error, threw nothing and fetched nothing (said
/// together: a fetch that fails is also an error in the log).
fn assert_quiet(page: &Loaded) {
    let (errors, fetched) = (page.errors(), page.fetched());
    assert!(
        errors.is_empty() && fetched.is_empty(),
        "the page reported {} errors and fetched {} URLs besides itself:\n{}\nfetched: {fetched:?}",
        errors.len(),
        fetched.len(),
        errors.join("\n")
    );
}

/// The report of `verify --phase push-install`: a view for the open phase
/// and one for the checks after it closed, each whole behind its tab.
fn check_phase_report(chromium: &Path, html: &Path, sc: &Scenario) {
    let page = Loaded::open(chromium, html);
    let shape: Shape = page.json(SHAPE);
    check_shape(&shape, sc);
    let labels = check_tabs(&page, sc);
    // The phase permits ams -> agent tcp/445 (flow 6); closed, it leaks
    // again through the open gateways. Each view's detail says so.
    for (label, want) in [
        ("scenario-3 / push-install", "pass"),
        ("scenario-3 / push-install (closed)", "leak"),
    ] {
        let i = labels
            .iter()
            .position(|l| l == label)
            .unwrap_or_else(|| panic!("no view {label:?} in {labels:?}"));
        let id = &shape.views[i].0;
        let tab = id.trim_start_matches("view-");
        page.element(&format!("nav#views button.tab[data-view=\"{tab}\"]"))
            .click()
            .expect("click a tab");
        let detail = click_cell(&page, "ams", "agent-1");
        assert_eq!(verdict_of(&detail, "tcp/445"), want, "{label}: {detail:?}");
    }
    assert_quiet(&page);
}

/// The page of `observe --format html`: one view, the matrix whole, and a
/// click on ams -> agent-1 lists every port probed, each open (both
/// gateways let everything through).
fn check_observe_report(chromium: &Path, html: &Path, sc: &Scenario) {
    let page = Loaded::open(chromium, html);
    let shape: Shape = page.json(SHAPE);
    check_shape(&shape, sc);
    assert_eq!(shape.views.len(), 1, "one view: {shape:?}");
    let detail = click_cell(&page, "ams", "agent-1");
    check_rows(&detail, &probed(sc, "ams", "agent-1"));
    for (port, v) in &detail.rows {
        assert_eq!(v, "open", "{port}: {detail:?}");
    }
    assert_quiet(&page);
}

/// Runs seglab `args` with `--format html --output target/html-report/NAME`,
/// expecting exit `code` and the file; returns its path.
fn write_html(args: &[&str], name: &str, code: i32) -> PathBuf {
    let path = out_dir().join(name);
    let _ = std::fs::remove_file(&path);
    let mut all = args.to_vec();
    all.extend(["--format", "html", "--output", path.to_str().unwrap()]);
    let o = run(&all);
    assert_eq!(o.status.code(), Some(code), "{all:?}: {}", text(&o));
    assert!(path.is_file(), "no {}: {}", path.display(), text(&o));
    path
}

fn check_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000,
        "{} is no PNG ({} bytes)",
        path.display(),
        bytes.len()
    );
}

#[test]
fn the_html_report_of_an_open_scenario_3_works_in_a_real_browser() {
    if !live(NEEDS) {
        return;
    }
    let chromium = common::live::chromium().expect("checked by live()");
    let sc = seglab::scenario::load("scenario-3").expect("scenario-3");
    let lab = LabGuard(format!("hd-html-{}", std::process::id()));
    let allow = fixture("rulesets/allow-all.nft");
    let o = run(&[
        "up",
        "scenario-3",
        "--name",
        &lab.0,
        "--ruleset",
        &format!("gw-mgmt={allow}"),
        "--ruleset",
        &format!("gw-sensitive={allow}"),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    std::fs::create_dir_all(out_dir()).unwrap();
    // Leaks: verify exits 1; an observation judges nothing: 0.
    let html = write_html(&["verify", &lab.0], "scenario-3.html", 1);
    let phased = write_html(
        &["verify", &lab.0, "--phase", "push-install"],
        "scenario-3-push-install.html",
        1,
    );
    let observed = write_html(&["observe", &lab.0], "scenario-3-observe.html", 0);
    drop(lab);

    let shot = out_dir().join("scenario-3.png");
    let _ = std::fs::remove_file(&shot);
    check_report(&chromium, &html, &sc, &shot);
    check_png(&shot);
    check_phase_report(&chromium, &phased, &sc);
    check_observe_report(&chromium, &observed, &sc);
}
