//! Device tree check with the `fdt` crate: the blob must parse, and its root `compatible` must name the
//! board. The `fdt` crate panics on some malformed blobs (its `expect`s); the check runs it under
//! `catch_unwind` so a bad blob is an error, never a crash.

use super::board::BoardInfo;
use anyhow::{anyhow, bail, Result};

/// The root node's `compatible` strings, or why the blob is invalid.
pub fn root_compatible(dtb: &[u8]) -> Result<Vec<String>, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| -> Result<Vec<String>, String> {
        let fdt = fdt::Fdt::new(dtb).map_err(|e| format!("{e:?}"))?;
        let root = fdt.find_node("/").ok_or("no root node")?;
        let compat = root
            .compatible()
            .ok_or("root node has no compatible property")?;
        Ok(compat.all().map(str::to_string).collect())
    });
    std::panic::set_hook(hook);
    result.unwrap_or_else(|_| Err("malformed structure block".into()))
}

/// Checks `dtb` (from `what`) against `board` (no board known: only the structure is checked).
pub fn check(dtb: &[u8], what: &str, board: Option<&BoardInfo>) -> Result<()> {
    let compat = root_compatible(dtb).map_err(|e| {
        anyhow!("device tree {what} is not a valid DTB ({e}); fix the commit or pass --force")
    })?;
    let Some(board) = board else {
        return Ok(());
    };
    if !compat
        .iter()
        .any(|c| board.compatible.contains(&c.as_str()))
    {
        bail!(
            "device tree {what} is for {compat:?}, not for board {} (expects one of {:?}); deploy the right commit or pass --force",
            board.name,
            board.compatible
        );
    }
    Ok(())
}
