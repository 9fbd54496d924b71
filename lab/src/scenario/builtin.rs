//! The four whitepaper scenarios and their hand-written rule sets, compiled
//! into the binary so that `seglab plan scenario-3` works from anywhere.

use super::Builtin;

macro_rules! builtin {
    ($name:literal, [$($file:literal),* $(,)?]) => {
        Builtin {
            name: $name,
            yaml: include_str!(concat!("../../../scenarios/", $name, "/scenario.yaml")),
            files: &[$(($file, include_str!(concat!("../../../scenarios/", $name, "/", $file)))),*],
        }
    };
}

pub static BUILTINS: [Builtin; 4] = [
    builtin!("scenario-1", ["gw-edge.nft"]),
    builtin!(
        "scenario-2",
        [
            "gw-mgmt.nft",
            "gw-admin.nft",
            "gw-servers.nft",
            "gw-storage.nft"
        ]
    ),
    builtin!(
        "scenario-3",
        [
            "gw-mgmt.nft",
            "gw-sensitive.nft",
            "push-install-mgmt.nft",
            "push-install-sensitive.nft"
        ]
    ),
    builtin!(
        "scenario-4",
        [
            "gw-mgmt.nft",
            "gw-sensitive.nft",
            "gw-edge.nft",
            "gw-offsite.nft",
            "push-install-mgmt.nft",
            "push-install-sensitive.nft"
        ]
    ),
];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}
