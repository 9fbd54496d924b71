//! `seglab watch`: edit a rule file, see the verdicts change. It watches
//! the lab's rule files (or the ones given) and its scenario file; on each
//! save it applies what changed ([`crate::lab::apply`]), verifies the base
//! policy again and prints only the cells whose result changed since the
//! previous run ([`diff`]), then the usual summary line. A file nft refuses
//! is reported, located, and the lab keeps its rule sets. Ctrl-C ends the
//! watch and leaves the lab as it is: `watch` never opens a phase.

pub mod diff;
pub mod files;
pub mod reload;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::lab::apply::{self as lab_apply, Change};
use crate::lab::{apply_overrides, RulesetOverride};
use crate::runtime::{LabBackend, LabInfo};
use crate::scenario::{Scenario, Source};
use crate::verify::{verify_lab, VerifyOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `watch` writes: a line of results (standard output), or a
/// problem that does not end the watch (standard error).
pub enum Line<'a> {
    Out(&'a str),
    Err(&'a str),
}

/// What a watched file is to the lab.
#[derive(Debug, Clone)]
enum Target {
    /// A rule file, loaded as this override says.
    Rules(RulesetOverride),
    /// The lab's scenario file.
    Scenario(PathBuf),
}

struct Watch<'a, B: LabBackend> {
    b: &'a B,
    lab: &'a str,
    /// The overrides given on the command line, applied again on top of a
    /// reloaded scenario file.
    given: &'a [RulesetOverride],
    opts: VerifyOptions,
    say: &'a dyn Fn(Line),
    /// The scenario file as it was when watching started (what the lab's
    /// topology was built from), if it could be read.
    base: Option<Scenario>,
    /// The `--param`s the lab was brought up with, given again to every
    /// reload of its scenario file.
    params: Vec<(String, String)>,
    /// The cells of the previous run.
    cells: crate::diff::Cells,
}

/// The files to watch: the given ones, else every rule file of the lab's
/// gateways that is a file here; and the scenario's file, if it is one.
fn targets(sc: &Scenario, given: &[RulesetOverride]) -> Result<BTreeMap<PathBuf, Vec<Target>>> {
    let mut out: BTreeMap<PathBuf, Vec<Target>> = BTreeMap::new();
    let rules: Vec<RulesetOverride> = if given.is_empty() {
        sc.gateways
            .iter()
            .filter_map(|g| {
                let r = g.ruleset.as_ref()?;
                Path::new(&r.file).is_file().then(|| RulesetOverride {
                    gateway: g.name.clone(),
                    phase: None,
                    close: false,
                    path: PathBuf::from(&r.file),
                })
            })
            .collect()
    } else {
        given.to_vec()
    };
    for o in rules {
        out.entry(files::key(&o.path)?)
            .or_default()
            .push(Target::Rules(o));
    }
    let file = Path::new(&sc.file);
    if file.is_file() {
        out.entry(files::key(file)?)
            .or_default()
            .push(Target::Scenario(file.to_path_buf()));
    }
    if out.is_empty() {
        return Err(Error::Input(format!(
            "watch: lab {} has no rule file or scenario file on this machine to watch \
             (give --ruleset GATEWAY=FILE)",
            sc.name
        )));
    }
    Ok(out)
}

/// The file an override loads, as the scenario records it.
fn recorded<'s>(sc: &'s Scenario, o: &RulesetOverride) -> Option<&'s str> {
    let r = match &o.phase {
        None => sc.gateway(&o.gateway)?.ruleset.as_ref()?,
        Some(p) => {
            let r = sc
                .phase(p)?
                .rulesets
                .iter()
                .find(|r| r.gateway == o.gateway)?;
            if o.close {
                r.close.as_ref()?
            } else {
                &r.open
            }
        }
    };
    Some(r.text.as_str())
}

/// Watches lab `lab` until `cancel` fires (see the module documentation).
/// A lab that is not running, or a file that cannot be read, is bad input
/// before anything is watched.
pub async fn watch<B: LabBackend>(
    b: &B,
    lab: &str,
    given: &[RulesetOverride],
    opts: VerifyOptions,
    say: &dyn Fn(Line),
    cancel: &Cancel,
) -> Result<()> {
    let info = lab_apply::running_lab(b, lab).await?;
    let watched = targets(&info.scenario, given)?;
    // Checked (and read) before anything is watched: bad input ends here.
    let (_, initial) = lab_apply::changes(&info.scenario, given)?;
    let mut fw = files::FileWatch::new(&watched.keys().cloned().collect())?;
    // The `--param`s the lab was brought up with are what its parameters
    // differ in from its file's: each reload of the file keeps them, or a
    // saved file would reset them (and move the services they place).
    let mut params = Vec::new();
    let base = watched.values().flatten().find_map(|t| match t {
        Target::Scenario(p) => Source::open(&p.to_string_lossy())
            .and_then(|s| {
                let file = s.load(&[])?;
                params = info.scenario.params.overrides_of(&file.params);
                s.load(&params)
            })
            .map_err(|e| say(Line::Err(&format!("watch: {e}"))))
            .ok(),
        Target::Rules(_) => None,
    });
    let mut w = Watch {
        b,
        lab,
        given,
        opts,
        say,
        base,
        params,
        cells: crate::diff::Cells::default(),
    };
    let names: Vec<String> = watched
        .values()
        .flatten()
        .map(|t| match t {
            Target::Rules(o) => o.path.display().to_string(),
            Target::Scenario(p) => p.display().to_string(),
        })
        .collect();
    say(Line::Out(&format!("watching {}", names.join(", "))));
    let differs = initial
        .iter()
        .any(|c| c.old.as_ref().is_none_or(|o| o.text != c.new.text));
    if differs {
        w.apply_rules(&info, given).await;
    }
    w.verify(cancel).await;
    loop {
        let saved = tokio::select! {
            s = fw.next_save() => s,
            () = cancel.cancelled() => None,
        };
        let Some(saved) = saved else { break };
        let hit: Vec<&Target> = saved
            .iter()
            .filter_map(|k| watched.get(k))
            .flatten()
            .collect();
        if w.on_save(&hit).await {
            w.verify(cancel).await;
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    Ok(())
}

impl<B: LabBackend> Watch<'_, B> {
    fn out(&self, s: &str) {
        (self.say)(Line::Out(s))
    }

    fn err(&self, e: &Error) {
        (self.say)(Line::Err(&e.to_string()))
    }

    fn changed(&self, changes: &[Change]) {
        for c in changes {
            self.out(&c.describe());
        }
    }

    /// Applies `overrides` to the lab as `info` found it; false (the error
    /// said) when nothing changed.
    async fn apply_rules(&self, info: &LabInfo, overrides: &[RulesetOverride]) -> bool {
        match lab_apply::apply_to(self.b, info, overrides).await {
            Ok(changes) => {
                self.changed(&changes);
                true
            }
            Err(e) => {
                self.err(&e);
                false
            }
        }
    }

    /// Handles one save; true when the lab changed and is to be verified.
    async fn on_save(&mut self, hit: &[&Target]) -> bool {
        let info = match lab_apply::running_lab(self.b, self.lab).await {
            Ok(i) => i,
            Err(e) => {
                self.err(&e);
                return false;
            }
        };
        let mut changed = false;
        for t in hit {
            if let Target::Scenario(p) = t {
                changed |= self.on_scenario(&info.scenario, p).await;
            }
        }
        let info = if changed {
            match self.b.find_lab(self.lab).await {
                Ok(i) => i,
                Err(e) => {
                    self.err(&e);
                    return false;
                }
            }
        } else {
            info
        };
        let sc = &info.scenario;
        // Rule files whose text is what the lab runs are left alone (an
        // editor's save without a change, or a save seen twice).
        let mut rules = Vec::new();
        for t in hit {
            if let Target::Rules(o) = t {
                match std::fs::read_to_string(&o.path) {
                    Ok(text) if recorded(sc, o) == Some(text.as_str()) => {}
                    // A file that is gone (mid-rename) or unreadable is
                    // said by apply, located.
                    _ => rules.push((*o).clone()),
                }
            }
        }
        if !rules.is_empty() {
            changed |= self.apply_rules(&info, &rules).await;
        }
        changed
    }

    /// A saved scenario file: reloaded, and what a running lab can take of
    /// it applied and recorded. True when the lab changed.
    async fn on_scenario(&mut self, running: &Scenario, path: &Path) -> bool {
        let loaded = match Source::open(&path.to_string_lossy()).and_then(|s| s.load(&self.params))
        {
            Ok(sc) => sc,
            Err(e) => {
                self.err(&e.into());
                return false;
            }
        };
        let Some(base) = self.base.clone() else {
            // Unreadable when watching started: this is the first version.
            self.base = Some(loaded);
            return false;
        };
        let moved = reload::topology_changes(&base, &loaded);
        if !moved.is_empty() {
            self.out(&format!(
                "{}: its {} changed, which a running lab cannot take: seglab down {} and up \
                 again (still watching)",
                path.display(),
                moved.join(", "),
                self.lab
            ));
            return false;
        }
        let mut new = reload::graft(running, &base, &loaded);
        if let Err(e) = apply_overrides(&mut new, self.given, true) {
            self.err(&e);
            return false;
        }
        if &new == running {
            return false;
        }
        let changes: Vec<Change> = new
            .gateways
            .iter()
            .filter_map(|g| {
                let old = running.gateway(&g.name)?.ruleset.clone();
                let now = g.ruleset.clone()?;
                (old.as_ref() != Some(&now)).then(|| Change {
                    gateway: g.name.clone(),
                    phase: None,
                    old,
                    new: now,
                })
            })
            .collect();
        let info = match lab_apply::running_lab(self.b, self.lab).await {
            Ok(i) => i,
            Err(e) => {
                self.err(&e);
                return false;
            }
        };
        let result = async {
            lab_apply::refuse_open_phases(self.b, &info).await?;
            lab_apply::apply_scenario(self.b, &info, &new, &changes).await
        };
        match result.await {
            Ok(()) => {
                self.out(&format!("{}: reloaded", path.display()));
                self.changed(&changes);
                true
            }
            Err(e) => {
                self.err(&e);
                false
            }
        }
    }

    /// Verifies the base policy; prints the cells that changed since the
    /// previous run, then the summary line.
    async fn verify(&mut self, cancel: &Cancel) {
        let run = verify_lab(self.b, self.lab, None, self.opts);
        let reports = tokio::select! {
            r = run => r,
            // The base policy opens no phase: nothing to put back.
            () = cancel.cancelled() => return,
        };
        match reports {
            Ok(reports) => {
                let report = &reports[0];
                for n in &report.notes {
                    self.out(&format!("note: {n}"));
                }
                let cells = diff::cells(report);
                let lines = diff::changed(&self.cells, &cells);
                if lines.is_empty() && !self.cells.cells.is_empty() {
                    self.out("  (no cell changed)");
                }
                for l in &lines {
                    self.out(l);
                }
                for l in crate::report::summary_lines(&reports[..1]) {
                    self.out(&l);
                }
                self.cells = cells;
            }
            Err(e) => self.err(&e),
        }
    }
}
