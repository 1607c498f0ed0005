//! The three OSTree object shapes a proof holds, read only as far as the chain walk needs.

use crate::gvariant::{self, Malformed, Member, VarArray};

/// A commit `(a{sv}aya(say)sstayay)`: the root dirtree checksum (the second-to-last field).
pub fn commit_root_tree(commit: &[u8]) -> Result<[u8; 32], Malformed> {
    const V1: Member = Member::Var { align: 1 };
    let m = [
        Member::Var { align: 8 },            // a{sv} metadata
        V1,                                  // ay parent
        V1,                                  // a(say) related
        V1,                                  // s subject
        V1,                                  // s body
        Member::Fixed { align: 8, size: 8 }, // t timestamp
        V1,                                  // ay root dirtree
        V1,                                  // ay root dirmeta
    ];
    let r = gvariant::tuple(commit, &m)?;
    let [.., tree, meta] = r;
    gvariant::checksum(gvariant::slice(commit, meta)?)?;
    gvariant::checksum(gvariant::slice(commit, tree)?)
}

/// What a dirtree says about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A file: its content checksum.
    File([u8; 32]),
    /// A subdirectory: its dirtree checksum.
    Dir([u8; 32]),
    /// Not named.
    Absent,
}

/// Why a dirtree lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirTreeError {
    /// Not a dirtree in normal form.
    Malformed,
    /// Names not strictly sorted within an array, or one name both a file and a directory: OSTree never
    /// writes that, and a reader could be made to pick either entry.
    Duplicate,
}

impl From<Malformed> for DirTreeError {
    fn from(_: Malformed) -> Self {
        DirTreeError::Malformed
    }
}

/// Looks `name` up in a dirtree `(a(say)a(sayay))`. Every entry is read (so a dirtree naming something
/// twice is refused wherever the name sits); entries must be strictly sorted by name, as OSTree writes them.
pub fn dirtree_lookup(tree: &[u8], name: &[u8]) -> Result<Lookup, DirTreeError> {
    const V1: Member = Member::Var { align: 1 };
    let [files, dirs] = gvariant::tuple(tree, &[V1, V1])?;
    let files = VarArray::parse(gvariant::slice(tree, files)?)?;
    let dirs = VarArray::parse(gvariant::slice(tree, dirs)?)?;
    let mut found = Lookup::Absent;
    let mut prev: Option<&[u8]> = None;
    for i in 0..files.len() {
        let e = files.get(i)?;
        let [n, c] = gvariant::tuple(e, &[V1, V1])?;
        let n = gvariant::string(gvariant::slice(e, n)?)?;
        let c = gvariant::checksum(gvariant::slice(e, c)?)?;
        if prev.is_some_and(|p| p >= n) {
            return Err(DirTreeError::Duplicate);
        }
        prev = Some(n);
        if n == name {
            found = Lookup::File(c);
        }
    }
    prev = None;
    for i in 0..dirs.len() {
        let e = dirs.get(i)?;
        let [n, t, m] = gvariant::tuple(e, &[V1, V1, V1])?;
        let n = gvariant::string(gvariant::slice(e, n)?)?;
        let t = gvariant::checksum(gvariant::slice(e, t)?)?;
        gvariant::checksum(gvariant::slice(e, m)?)?;
        if prev.is_some_and(|p| p >= n) {
            return Err(DirTreeError::Duplicate);
        }
        prev = Some(n);
        if n == name {
            if found != Lookup::Absent {
                return Err(DirTreeError::Duplicate);
            }
            found = Lookup::Dir(t);
        }
    }
    Ok(found)
}

/// `S_IFMT` and `S_IFREG` of a file mode.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

/// Checks a file header `(uuuusa(ayay))` (uid, gid, mode big-endian, rdev, symlink target, xattrs) is a
/// regular file's: mode `S_IFREG`, rdev 0, empty symlink target; xattrs an array in normal form framing.
pub fn file_header_is_regular(h: &[u8]) -> Result<bool, Malformed> {
    const U: Member = Member::Fixed { align: 4, size: 4 };
    const V1: Member = Member::Var { align: 1 };
    let [_, _, mode, rdev, target, xattrs] = gvariant::tuple(h, &[U, U, U, U, V1, V1])?;
    let be = |r| -> Result<u32, Malformed> {
        let b: [u8; 4] = gvariant::slice(h, r)?.try_into().map_err(|_| Malformed)?;
        Ok(u32::from_be_bytes(b))
    };
    let mode = be(mode)?;
    let rdev = be(rdev)?;
    let target = gvariant::string(gvariant::slice(h, target)?)?;
    VarArray::parse(gvariant::slice(h, xattrs)?)?;
    Ok(mode & S_IFMT == S_IFREG && rdev == 0 && target.is_empty())
}
