//! Naming a gateway's interfaces as the scenario says (`interface:`, else
//! the segment's name), so that rule sets matching on `iifname "lan0"` see
//! the names they were written for, and paths read `in lan0 -> out dmz0`.
//! The platform names them its own way (Docker: `eth0`, `eth1` in the order
//! it connects the networks); each is found by the address it holds.

use crate::runtime::NetInterface;
use crate::scenario::Gateway;
use std::fmt::Write;

/// `ip -batch` commands that rename `gw`'s interfaces (as `found` inside
/// it) to the scenario's names, each taken down, renamed, given its former
/// name as an alternative name and brought up again (Linux renames only a
/// link that is down). Empty when every name is
/// already right. An attachment whose address no interface holds is an
/// error: the platform did not attach the gateway as the scenario says.
pub fn rename_batch(gw: &Gateway, found: &[NetInterface]) -> Result<String, String> {
    let mut moves: Vec<(&str, &str)> = Vec::new();
    for a in gw.attachments.iter().filter(|a| !a.interface.is_empty()) {
        let holder = found
            .iter()
            .find(|i| i.ipv4.contains(&a.address))
            .ok_or_else(|| {
                format!(
                    "no interface of gateway {} holds its address {} on segment {}",
                    gw.name, a.address, a.segment
                )
            })?;
        if holder.name != a.interface {
            moves.push((holder.name.as_str(), a.interface.as_str()));
        }
    }
    // A new name that another interface still holds (`eth1` -> `eth0` while
    // `eth0` -> `eth1`): every interface goes through a name of its own
    // first, since two links of a namespace never share one.
    let swap = moves
        .iter()
        .any(|(_, to)| found.iter().any(|i| i.name == *to));
    let mut out = String::new();
    for (k, (from, to)) in moves.iter().enumerate() {
        let _ = writeln!(out, "link set dev {from} down");
        if swap {
            let _ = writeln!(out, "link set dev {from} name seglab-tmp{k}");
        } else {
            let _ = writeln!(out, "link set dev {from} name {to}");
        }
    }
    if swap {
        for (k, (_, to)) in moves.iter().enumerate() {
            let _ = writeln!(out, "link set dev seglab-tmp{k} name {to}");
        }
    }
    // The platform's name stays as an alternative name: Docker finds a
    // container's interface by the name it gave it when it disconnects the
    // container from a network (without it, `docker network disconnect`
    // leaves the renamed interface on the bridge while the engine counts
    // it gone). Not where that name is now another interface's own.
    for (from, to) in &moves {
        if !moves.iter().any(|(_, t)| t == from) {
            let _ = writeln!(out, "link property add dev {to} altname {from}");
        }
    }
    for (_, to) in &moves {
        let _ = writeln!(out, "link set dev {to} up");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Attachment;

    fn iface(index: u32, name: &str, addr: &str) -> NetInterface {
        NetInterface {
            index,
            name: name.into(),
            up: true,
            ipv4: vec![addr.parse().unwrap()],
        }
    }

    fn gw(names: &[(&str, &str, &str)]) -> Gateway {
        Gateway {
            name: "gw".into(),
            attachments: names
                .iter()
                .map(|(seg, addr, ifname)| Attachment {
                    segment: seg.to_string(),
                    address: addr.parse().unwrap(),
                    interface: ifname.to_string(),
                })
                .collect(),
            ruleset: None,
        }
    }

    #[test]
    fn interfaces_are_found_by_address_and_renamed_down_then_up() {
        let found = [
            iface(1, "lo", "127.0.0.1"),
            iface(7, "eth0", "10.61.1.1"),
            iface(9, "eth1", "10.61.0.1"),
        ];
        let g = gw(&[("lan", "10.61.0.1", "lan0"), ("dmz", "10.61.1.1", "dmz0")]);
        assert_eq!(
            rename_batch(&g, &found).unwrap(),
            "link set dev eth1 down\nlink set dev eth1 name lan0\n\
             link set dev eth0 down\nlink set dev eth0 name dmz0\n\
             link property add dev lan0 altname eth1\n\
             link property add dev dmz0 altname eth0\n\
             link set dev lan0 up\nlink set dev dmz0 up\n"
        );
    }

    #[test]
    fn right_names_are_left_alone_and_swaps_go_through_free_names() {
        let found = [iface(7, "eth0", "10.0.0.1"), iface(9, "eth1", "10.0.1.1")];
        let same = gw(&[("a", "10.0.0.1", "eth0"), ("b", "10.0.1.1", "eth1")]);
        assert_eq!(rename_batch(&same, &found).unwrap(), "");
        let swapped = gw(&[("a", "10.0.0.1", "eth1"), ("b", "10.0.1.1", "eth0")]);
        let batch = rename_batch(&swapped, &found).unwrap();
        assert_eq!(
            batch,
            "link set dev eth0 down\nlink set dev eth0 name seglab-tmp0\n\
             link set dev eth1 down\nlink set dev eth1 name seglab-tmp1\n\
             link set dev seglab-tmp0 name eth1\nlink set dev seglab-tmp1 name eth0\n\
             link set dev eth1 up\nlink set dev eth0 up\n"
        );
        // Old labs' attachments have no name: nothing to do.
        let old = gw(&[("a", "10.0.0.1", "")]);
        assert_eq!(rename_batch(&old, &found).unwrap(), "");
    }

    #[test]
    fn an_address_no_interface_holds_is_an_error() {
        let g = gw(&[("lan", "10.61.0.1", "lan0")]);
        let err = rename_batch(&g, &[iface(7, "eth0", "10.9.9.9")]).unwrap_err();
        assert!(err.contains("10.61.0.1 on segment lan"), "{err}");
    }
}
