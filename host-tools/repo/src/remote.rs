//! Remote configuration: `[remote "NAME"]` sections in `config` (`url=`, `gpg-verify=`, other keys).

use super::store::{write_atomic, Store};
use super::RepoError;
use std::path::{Path, PathBuf};

/// A configured remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    pub url: String,
    pub options: Vec<(String, String)>,
}

fn section(name: &str) -> String {
    format!("[remote \"{name}\"]")
}

/// Lists remotes from the config text.
pub fn list(store: &Store) -> Vec<Remote> {
    parse_remotes(&store.config)
}

/// The remotes of `config` and then of each `*.conf` file of `remotes_d` in name order (ostree's
/// `/etc/ostree/remotes.d` of a system repository); a name defined twice is an error naming both
/// places, as in ostree.
pub fn list_in(store: &Store, remotes_d: Option<&Path>) -> Result<Vec<Remote>, RepoError> {
    let mut out = list(store);
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
        for r in parse_remotes(&text) {
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

fn parse_remotes(config: &str) -> Vec<Remote> {
    let mut out: Vec<Remote> = Vec::new();
    let mut cur: Option<Remote> = None;
    for line in config.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            out.extend(cur.take());
            if let Some(n) = l
                .strip_prefix("[remote \"")
                .and_then(|s| s.strip_suffix("\"]"))
            {
                cur = Some(Remote {
                    name: n.to_string(),
                    url: String::new(),
                    options: vec![],
                });
            }
        } else if let (Some(r), Some((k, v))) = (cur.as_mut(), l.split_once('=')) {
            if k.trim() == "url" {
                r.url = v.trim().to_string();
            } else {
                r.options.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out.extend(cur);
    out
}

/// Finds a remote by name.
pub fn get(store: &Store, name: &str) -> Result<Remote, RepoError> {
    list(store)
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

/// Adds a remote (error when it exists).
pub fn add(
    store: &mut Store,
    name: &str,
    url: &str,
    opts: &[(String, String)],
) -> Result<(), RepoError> {
    if !valid_name(name) {
        return Err(RepoError::Usage(format!("invalid remote name {name:?}")));
    }
    if list(store).iter().any(|r| r.name == name) {
        return Err(RepoError::Usage(format!("remote {name:?} already exists")));
    }
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://")) {
        return Err(RepoError::Usage(format!(
            "remote URL {url:?}: expected http://, https:// or file://"
        )));
    }
    let mut cfg = store.config.clone();
    if !cfg.ends_with('\n') {
        cfg.push('\n');
    }
    cfg.push_str(&format!("\n{}\nurl={url}\n", section(name)));
    for (k, v) in opts {
        cfg.push_str(&format!("{k}={v}\n"));
    }
    write_atomic(&store.path.join("config"), cfg.as_bytes())?;
    store.config = cfg;
    Ok(())
}

/// Deletes a remote's section (error when it does not exist).
pub fn delete(store: &mut Store, name: &str) -> Result<(), RepoError> {
    get(store, name)?;
    let head = section(name);
    let mut out = String::new();
    let mut skip = false;
    for line in store.config.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            skip = l == head;
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    write_atomic(&store.path.join("config"), out.as_bytes())?;
    store.config = out;
    Ok(())
}
