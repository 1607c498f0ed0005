//! What the deployer needs to know about a board: the `compatible` strings its device trees carry and the
//! device tree file to take from a commit's `dtb/` directory. (To move into the `board` crate's profiles.)

/// A board as the deployer sees it.
#[derive(Debug, Clone, Copy)]
pub struct BoardInfo {
    /// Profile name (`am335x`, `qemu-virt`).
    pub name: &'static str,
    /// A device tree is accepted when its root `compatible` lists one of these.
    pub compatible: &'static [&'static str],
    /// The file looked for under `usr/lib/modules/<kver>/dtb/` when the commit has no `devicetree`.
    pub dtb_name: Option<&'static str>,
}

/// Known boards.
pub const BOARDS: &[BoardInfo] = &[
    BoardInfo {
        name: "am335x",
        compatible: &["ti,am33xx"],
        dtb_name: Some("am335x-boneblack.dtb"),
    },
    BoardInfo {
        name: "qemu-virt",
        compatible: &["linux,dummy-virt"],
        dtb_name: None,
    },
];

/// The board called `name`.
pub fn lookup(name: &str) -> Option<BoardInfo> {
    BOARDS.iter().copied().find(|b| b.name == name)
}
