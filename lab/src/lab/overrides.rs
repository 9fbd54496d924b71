//! `--ruleset` on the command line: the user's own nft files in place of a
//! scenario's, so the same harness tests real rule sets.
//!
//! `GATEWAY=FILE` replaces a gateway's rule set; `GATEWAY@PHASE=FILE` the
//! file that opens a phase on it; `GATEWAY@PHASE:close=FILE` the one that
//! closes it (default: reload the gateway's rule set).

use crate::error::{Error, Result};
use crate::scenario::{PhaseRuleset, RuleFile, Scenario};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesetOverride {
    pub gateway: String,
    pub phase: Option<String>,
    pub close: bool,
    pub path: PathBuf,
}

impl std::str::FromStr for RulesetOverride {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (target, path) = s
            .split_once('=')
            .ok_or_else(|| format!("--ruleset `{s}`: expected GATEWAY[@PHASE[:close]]=FILE"))?;
        let (gateway, phase, close) = match target.split_once('@') {
            None => (target, None, false),
            Some((g, rest)) => match rest.strip_suffix(":close") {
                Some(p) => (g, Some(p), true),
                None => (g, Some(rest), false),
            },
        };
        if gateway.is_empty() || path.is_empty() || phase == Some("") {
            return Err(format!(
                "--ruleset `{s}`: expected GATEWAY[@PHASE[:close]]=FILE"
            ));
        }
        Ok(RulesetOverride {
            gateway: gateway.to_string(),
            phase: phase.map(str::to_string),
            close,
            path: PathBuf::from(path),
        })
    }
}

/// As written on the command line (`GATEWAY@PHASE:close=FILE`).
impl std::fmt::Display for RulesetOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.gateway)?;
        if let Some(p) = &self.phase {
            write!(f, "@{p}")?;
            if self.close {
                write!(f, ":close")?;
            }
        }
        write!(f, "={}", self.path.display())
    }
}

/// Reads an override's file and checks its format (a phase's files must be
/// nft): every problem, located in the file.
fn read(o: &RulesetOverride) -> Result<RuleFile> {
    let path = &o.path;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("--ruleset: cannot read {}: {e}", path.display())))?;
    let file = RuleFile {
        file: path.display().to_string(),
        text,
    };
    let checked = match o.phase {
        None => crate::rulefile::check(&file),
        Some(_) => crate::rulefile::check_phase_file(&file),
    };
    if let Err(problems) = checked {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::Input(format!(
            "--ruleset: {}",
            lines.join("\n--ruleset: ")
        )));
    }
    Ok(file)
}

/// Applies the overrides that concern `sc`. With `strict`, an override naming
/// a gateway or phase the scenario lacks is an error; otherwise (several
/// scenarios in one `test` run) it only has to fit one of them, which the
/// caller checks with [`fits`].
pub fn apply_overrides(
    sc: &mut Scenario,
    overrides: &[RulesetOverride],
    strict: bool,
) -> Result<()> {
    for o in overrides {
        if !fits(sc, o) {
            if strict {
                return Err(Error::Input(match &o.phase {
                    Some(p) if sc.gateway(&o.gateway).is_some() => {
                        format!("--ruleset: scenario `{}` has no phase `{p}`", sc.name)
                    }
                    _ => format!(
                        "--ruleset: scenario `{}` has no gateway `{}` (gateways: {})",
                        sc.name,
                        o.gateway,
                        sc.gateway_names()
                    ),
                }));
            }
            continue;
        }
        let file = read(o)?;
        match &o.phase {
            None => {
                let gw = sc
                    .gateways
                    .iter_mut()
                    .find(|g| g.name == o.gateway)
                    .expect("fits");
                gw.ruleset = Some(file);
            }
            Some(p) => {
                let phase = sc.phases.iter_mut().find(|x| &x.name == p).expect("fits");
                match phase.rulesets.iter_mut().find(|r| r.gateway == o.gateway) {
                    Some(r) if o.close => r.close = Some(file),
                    Some(r) => r.open = file,
                    None if o.close => {
                        return Err(Error::Input(format!(
                            "--ruleset {}@{p}:close: the phase opens nothing on {} to close (give GATEWAY@PHASE=FILE too)",
                            o.gateway, o.gateway
                        )))
                    }
                    None => phase.rulesets.push(PhaseRuleset {
                        gateway: o.gateway.clone(),
                        open: file,
                        close: None,
                    }),
                }
            }
        }
    }
    Ok(())
}

/// Whether the override names a gateway (and phase) of this scenario.
pub fn fits(sc: &Scenario, o: &RulesetOverride) -> bool {
    sc.gateway(&o.gateway).is_some() && o.phase.as_ref().is_none_or(|p| sc.phase(p).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let o: RulesetOverride = "gw-a=x.nft".parse().unwrap();
        assert_eq!(
            (o.gateway.as_str(), o.phase, o.close),
            ("gw-a", None, false)
        );
        let o: RulesetOverride = "gw-a@push-install=y.nft".parse().unwrap();
        assert_eq!((o.phase.as_deref(), o.close), (Some("push-install"), false));
        let o: RulesetOverride = "gw-a@push-install:close=z.nft".parse().unwrap();
        assert_eq!((o.phase.as_deref(), o.close), (Some("push-install"), true));
        assert!("gw-a".parse::<RulesetOverride>().is_err());
        assert!("=x".parse::<RulesetOverride>().is_err());
        assert!("gw@=x".parse::<RulesetOverride>().is_err());
    }

    #[test]
    fn a_dump_replaces_a_gateways_rule_set_but_opens_no_phase() {
        let dir = std::env::temp_dir().join(format!("seglab-ovr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dump = dir.join("gw.iptables");
        std::fs::write(&dump, "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n").unwrap();
        let nat = dir.join("nat.iptables");
        std::fs::write(&nat, "*nat\nCOMMIT\n").unwrap();
        let mut sc = crate::scenario::load("scenario-3").unwrap();
        let o = |s: String| -> RulesetOverride { s.parse().unwrap() };
        let ok = o(format!("gw-mgmt={}", dump.display()));
        apply_overrides(&mut sc, &[ok], true).unwrap();
        assert!(sc
            .gateway("gw-mgmt")
            .unwrap()
            .ruleset
            .as_ref()
            .unwrap()
            .file
            .ends_with("gw.iptables"));
        let phase = o(format!("gw-mgmt@push-install={}", dump.display()));
        let e = apply_overrides(&mut sc, &[phase], true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("gw.iptables:1: a phase's files must be nft text"),
            "{e}"
        );
        let e =
            apply_overrides(&mut sc, &[o(format!("gw-mgmt={}", nat.display()))], true).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::EXIT_BAD_INPUT);
        assert!(
            e.to_string()
                .contains("nat.iptables:1: table `nat` is not loaded"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
