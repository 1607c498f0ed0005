//! Helpers shared by the checkout tests.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Everything under `root`: path -> (mode, uid, gid, content or link target).
pub fn listing(root: &Path) -> BTreeMap<String, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, u32, u32, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let md = fs::symlink_metadata(&p).unwrap();
            let data = if md.is_file() {
                fs::read(&p).unwrap()
            } else if md.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, (md.mode(), md.uid(), md.gid(), data));
            if md.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let md = fs::metadata(root).unwrap();
    out.insert(".".into(), (md.mode(), md.uid(), md.gid(), Vec::new()));
    walk(root, root, &mut out);
    out
}
