//! Remote configuration: `[remote "NAME"]` groups in the repository's `config` (a GLib key file, read and
//! written through [`crate::keyfile`]): `url=`, `gpg-verify=`, other keys.

use super::keyfile::KeyFile;
use super::store::{write_atomic, Store};
use super::RepoError;
use std::path::{Path, PathBuf};

/// A configured remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    pub url: String,
    /// Every other key of the group, unescaped, in file order.
    pub options: Vec<(String, String)>,
}

impl Remote {
    /// The value of an option (`gpg-verify`, ...).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The key-file group of a remote.
pub fn group(name: &str) -> String {
    format!("remote \"{name}\"")
}

/// The repository's config as a key file.
pub fn config(store: &Store) -> Result<KeyFile, RepoError> {
    KeyFile::parse(&store.config)
        .map_err(|e| RepoError::Corrupt(format!("{}: {e}", store.path.join("config").display())))
}

/// Lists the configured remotes.
pub fn list(store: &Store) -> Result<Vec<Remote>, RepoError> {
    parse_remotes(&store.config, &store.path.join("config"))
}

/// The remotes of a key file's text (`path` names it in errors).
fn parse_remotes(text: &str, path: &Path) -> Result<Vec<Remote>, RepoError> {
    let bad = |e| RepoError::Corrupt(format!("{}: {e}", path.display()));
    let kf = KeyFile::parse(text).map_err(bad)?;
    let mut out = Vec::new();
    for g in kf.groups() {
        let Some(name) = g
            .strip_prefix("remote \"")
            .and_then(|s| s.strip_suffix('"'))
        else {
            continue;
        };
        let mut r = Remote {
            name: name.to_string(),
            url: String::new(),
            options: vec![],
        };
        for (k, v) in kf.entries(&g).map_err(bad)? {
            if k == "url" {
                r.url = v;
            } else {
                r.options.push((k, v));
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// The remotes of `config` and then of each `*.conf` file of `remotes_d` in name order (ostree's
/// `/etc/ostree/remotes.d` of a system repository); a name defined twice is an error naming both
/// places, as in ostree.
pub fn list_in(store: &Store, remotes_d: Option<&Path>) -> Result<Vec<Remote>, RepoError> {
    let mut out = list(store)?;
    let Some(dir) = remotes_d else {
        return Ok(out);
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(RepoError::Io {
                path: dir.to_path_buf(),
                what: "list remotes".into(),
                source: e,
            })
        }
    };
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| RepoError::Io {
            path: f.clone(),
            what: "read remote configuration".into(),
            source: e,
        })?;
        for r in parse_remotes(&text, &f)? {
            if out.iter().any(|o| o.name == r.name) {
                return Err(RepoError::Usage(format!(
                    "{}: remote {:?} is already defined in {}/config or an earlier file: remove one of them",
                    f.display(),
                    r.name,
                    store.path.display()
                )));
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// Finds a remote by name in `config` and `remotes_d` (see [`list_in`]).
pub fn get_in(store: &Store, name: &str, remotes_d: Option<&Path>) -> Result<Remote, RepoError> {
    list_in(store, remotes_d)?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            RepoError::Usage(format!(
                "remote {name:?} is not configured in {}/config{} (add it with `remote add {name} URL`)",
                store.path.display(),
                remotes_d
                    .map(|d| format!(" or {}", d.display()))
                    .unwrap_or_default()
            ))
        })
}

/// Finds a remote by name.
pub fn get(store: &Store, name: &str) -> Result<Remote, RepoError> {
    list(store)?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| {
            RepoError::Usage(format!(
                "remote {name:?} is not configured in {}/config (add it with `remote add {name} URL`)",
                store.path.display()
            ))
        })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Adds a remote (error when it exists). Values are written escaped as GKeyFile escapes them, so no
/// value can add lines to `config`. The URL is the `url` argument: an option `url` is refused (ostree
/// lets `--set url=` replace the URL argument silently).
pub fn add(
    store: &mut Store,
    name: &str,
    url: &str,
    opts: &[(String, String)],
) -> Result<(), RepoError> {
    if !valid_name(name) {
        return Err(RepoError::Usage(format!("invalid remote name {name:?}")));
    }
    if list(store)?.iter().any(|r| r.name == name) {
        return Err(RepoError::Usage(format!("remote {name:?} already exists")));
    }
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://")) {
        return Err(RepoError::Usage(format!(
            "remote URL {url:?}: expected http://, https:// or file://"
        )));
    }
    if let Some((_, v)) = opts.iter().find(|(k, _)| k == "url") {
        return Err(RepoError::Usage(format!(
            "option url={v:?} for remote {name:?}: the URL is the URL argument ({url:?}); give it once"
        )));
    }
    let mut kf = config(store)?;
    let g = group(name);
    let usage = |e| RepoError::Usage(format!("remote {name:?}: {e}"));
    kf.set(&g, "url", url).map_err(usage)?;
    for (k, v) in opts {
        kf.set(&g, k, v).map_err(usage)?;
    }
    let cfg = kf.to_string();
    write_atomic(&store.path.join("config"), cfg.as_bytes())?;
    store.config = cfg;
    Ok(())
}

/// Deletes a remote's group (error when it does not exist).
pub fn delete(store: &mut Store, name: &str) -> Result<(), RepoError> {
    get(store, name)?;
    let mut kf = config(store)?;
    kf.remove_group(&group(name));
    let cfg = kf.to_string();
    write_atomic(&store.path.join("config"), cfg.as_bytes())?;
    store.config = cfg;
    Ok(())
}
