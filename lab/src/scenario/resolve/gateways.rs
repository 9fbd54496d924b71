//! The `gateways` section: names, the segments each attaches to, and the
//! hand-written rule set it loads. Addresses are placed later (`routers`),
//! once every gateway of a segment is known.

use super::{at, check_name, Attachment, Gateway, Names, RawGateway, RawSegment, RuleFile};
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
        for (j, s) in g.segments.value.iter().enumerate() {
            if !raw_segments.iter().any(|x| x.name.value == s.value) {
                d.push(
                    at(s),
                    format!("gateways[{i}].segments[{j}]"),
                    format!("unknown segment `{}`", s.value),
                );
            } else if attachments
                .iter()
                .any(|a: &Attachment| a.segment == s.value)
            {
                d.push(
                    at(s),
                    format!("gateways[{i}].segments[{j}]"),
                    format!("segment `{}` is listed twice", s.value),
                );
            } else {
                attachments.push(Attachment {
                    segment: s.value.clone(),
                    address: Ipv4Addr::UNSPECIFIED,
                });
            }
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
