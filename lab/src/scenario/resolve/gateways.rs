//! The `gateways` section: names, the segments each attaches to, and the
//! hand-written rule set it loads. Addresses are placed later (`routers`),
//! once every gateway of a segment is known.

use super::{
    at, check_name, Attachment, Gateway, Names, RawAttach, RawGateway, RawSegment, RuleFile,
};
use crate::diag::Diagnostics;
use crate::scenario::Source;
use std::net::Ipv4Addr;

/// Every gateway, in file order, with its attachments' addresses still
/// unspecified. Attachments are checked against the segments as written
/// (`raw_segments`): a segment that is defined but invalid is reported where
/// it is defined, not again as unknown here.
pub(super) fn resolve(
    d: &mut Diagnostics,
    raw: &[RawGateway],
    raw_segments: &[RawSegment],
    src: &Source,
    names: &mut Names,
) -> Vec<Gateway> {
    let mut gateways: Vec<Gateway> = Vec::new();
    for (i, g) in raw.iter().enumerate() {
        let field = format!("gateways[{i}].name");
        check_name(d, &g.name, field.clone());
        if let Some(kind) = names.insert(g.name.value.clone(), "gateway") {
            d.push(
                at(&g.name),
                field,
                format!("name `{}` is already used by a {kind}", g.name.value),
            );
        }
        let mut attachments = Vec::new();
        for (j, item) in g.segments.value.iter().enumerate() {
            let field = format!("gateways[{i}].segments[{j}]");
            let (segment, seg_at, seg_field, interface) = match &item.value {
                RawAttach::Name(n) => (n, at(item), field.clone(), None),
                RawAttach::Map { segment, interface } => (
                    &segment.value,
                    at(segment),
                    format!("{field}.segment"),
                    interface.as_ref(),
                ),
            };
            if !raw_segments.iter().any(|x| &x.name.value == segment) {
                d.push(seg_at, seg_field, format!("unknown segment `{segment}`"));
                continue;
            }
            if attachments
                .iter()
                .any(|a: &Attachment| &a.segment == segment)
            {
                d.push(
                    seg_at,
                    seg_field,
                    format!("segment `{segment}` is listed twice"),
                );
                continue;
            }
            let (name, name_at, name_field) = match interface {
                Some(n) => (n.value.clone(), at(n), format!("{field}.interface")),
                None if segment.len() > IFNAMSIZ => {
                    d.push(
                        seg_at,
                        seg_field,
                        format!(
                            "segment name `{segment}` is too long for an interface name \
                             (at most {IFNAMSIZ} bytes): set `interface:`, \
                             e.g. `{{segment: {segment}, interface: {}}}`",
                            segment.get(..IFNAMSIZ).unwrap_or("NAME")
                        ),
                    );
                    continue;
                }
                None => (segment.clone(), seg_at, seg_field),
            };
            if let Some(why) = interface_problem(&name) {
                d.push(name_at, name_field, why);
            } else if let Some(other) = attachments.iter().find(|a| a.interface == name) {
                d.push(
                    name_at,
                    name_field,
                    format!(
                        "interface `{name}` is already the name of this gateway's interface on segment `{}`",
                        other.segment
                    ),
                );
            }
            attachments.push(Attachment {
                segment: segment.clone(),
                address: Ipv4Addr::UNSPECIFIED,
                interface: name,
            });
        }
        if g.segments.value.is_empty() {
            d.push(
                at(&g.segments),
                format!("gateways[{i}].segments"),
                "a gateway must attach to at least one segment",
            );
        }
        let ruleset = match &g.ruleset {
            None => None,
            Some(r) => match src.sibling(&r.value) {
                Ok((file, text)) => {
                    let file = RuleFile { file, text };
                    // Its format and, for a dump, the tables it loads.
                    if let Err(problems) = crate::rulefile::check(&file) {
                        for p in problems {
                            d.push(at(r), format!("gateways[{i}].ruleset"), p.to_string());
                        }
                    }
                    Some(file)
                }
                Err(e) => {
                    d.push(at(r), format!("gateways[{i}].ruleset"), e);
                    None
                }
            },
        };
        gateways.push(Gateway {
            name: g.name.value.clone(),
            attachments,
            ruleset,
        });
    }
    gateways
}

/// The longest interface name Linux takes (IFNAMSIZ less the NUL).
const IFNAMSIZ: usize = 15;

/// Why `name` cannot be a Linux interface name (see the kernel's
/// `dev_valid_name`), or None. `lo` is refused too: every namespace has it.
pub(crate) fn interface_problem(name: &str) -> Option<String> {
    let why = if name.is_empty() {
        "an interface name cannot be empty".to_string()
    } else if name.len() > IFNAMSIZ {
        format!(
            "interface name `{name}` is {} bytes long (Linux takes at most {IFNAMSIZ})",
            name.len()
        )
    } else if name == "." || name == ".." {
        format!("`{name}` is not a valid interface name")
    } else if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        format!("interface name `{name}` holds {c:?}, which Linux refuses in interface names")
    } else if name.starts_with('-') {
        format!("interface name `{name}` starts with `-` (it would read as an option)")
    } else if name == "lo" {
        "`lo` is the loopback interface of every node; choose another name".to_string()
    } else {
        return None;
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::interface_problem;

    #[test]
    fn interface_names_follow_the_kernels_rules() {
        for ok in ["lan0", "dmz", "wan.10", "a-b_c", "x23456789012345"] {
            assert_eq!(interface_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "x234567890123456",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "tab\t",
            "-lan",
            "lo",
        ] {
            assert!(interface_problem(bad).is_some(), "{bad:?}");
        }
    }
}
