//! GLib key files (`GKeyFile`), the format of a repository's `config` (OSTree reads and writes it with
//! GKeyFile): `[group]` lines, `key=value` lines, `#` comments. Values are escaped as GKeyFile escapes
//! them (`\s` for a leading space, `\t` for a leading tab, `\n`, `\r`, `\\`), so no value can add a line,
//! a key or a group. Reading follows GKeyFile: whitespace around the line, before the `=` and after it is
//! dropped, the last of duplicate keys wins, a group that appears twice is one group, an unknown escape
//! is an error for that value. Comments and the order of lines are kept when a file is changed.
//!
//! ```
//! use atomboot_repo::keyfile::KeyFile;
//! let mut k = KeyFile::parse("[core]\nmode=bare-user\n").unwrap();
//! k.set("remote \"o\"", "url", "http://x/\n[core]").unwrap();
//! assert_eq!(k.to_string(), "[core]\nmode=bare-user\n\n[remote \"o\"]\nurl=http://x/\\n[core]\n");
//! assert_eq!(k.get("remote \"o\"", "url").unwrap().as_deref(), Some("http://x/\n[core]"));
//! ```

use std::fmt;

/// Errors reading or changing a key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("line {0}: {1:?} is not a group, a key=value pair or a comment")]
    BadLine(usize, String),
    #[error("line {0}: key=value before the first [group]")]
    NoGroup(usize),
    #[error("key {key:?} in [{group}]: invalid escape sequence in {value:?}")]
    BadEscape {
        group: String,
        key: String,
        value: String,
    },
    #[error("invalid group name {0:?}")]
    BadGroupName(String),
    #[error("invalid key name {0:?}")]
    BadKeyName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// `[name]`
    Group(String),
    /// `key=value`, the value as written (escaped).
    Entry { key: String, raw: String },
    /// A comment or a blank line, kept as it was.
    Other(String),
}

/// A parsed key file. `to_string()` gives its text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyFile {
    lines: Vec<Line>,
}

fn valid_group(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c == '[' || c == ']' || c.is_control())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.trim() == key
        && !key
            .chars()
            .any(|c| c == '=' || c == '[' || c == ']' || c.is_control())
}

/// GKeyFile's `g_key_file_parse_string_as_value` (without list separators).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut leading = true;
    for c in value.chars() {
        match c {
            ' ' if leading => out.push_str("\\s"),
            '\t' if leading => out.push_str("\\t"),
            ' ' | '\t' => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => {
                out.push_str("\\\\");
                leading = false;
            }
            _ => {
                out.push(c);
                leading = false;
            }
        }
    }
    out
}

/// GKeyFile's `g_key_file_parse_value_as_string`; `None` for an unknown escape or a trailing `\`.
pub fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match it.next()? {
            's' => ' ',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' => '\\',
            _ => return None,
        });
    }
    Some(out)
}

impl KeyFile {
    /// Parses key-file text.
    pub fn parse(text: &str) -> Result<KeyFile, KeyFileError> {
        let mut lines = Vec::new();
        let mut in_group = false;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') {
                lines.push(Line::Other(line.to_string()));
            } else if let Some(rest) = l.strip_prefix('[') {
                let (name, after) = rest
                    .split_once(']')
                    .ok_or_else(|| KeyFileError::BadLine(n, line.into()))?;
                if !after.trim_matches([' ', '\t']).is_empty() || !valid_group(name) {
                    return Err(KeyFileError::BadLine(n, line.into()));
                }
                lines.push(Line::Group(name.to_string()));
                in_group = true;
            } else if let Some((k, v)) = l.split_once('=') {
                let key = k.trim_end();
                if key.is_empty() {
                    return Err(KeyFileError::BadLine(n, line.into()));
                }
                if !in_group {
                    return Err(KeyFileError::NoGroup(n));
                }
                lines.push(Line::Entry {
                    key: key.to_string(),
                    raw: v.trim_start().to_string(),
                });
            } else {
                return Err(KeyFileError::BadLine(n, line.into()));
            }
        }
        Ok(KeyFile { lines })
    }

    /// Each line with the group it is in.
    fn with_groups(&self) -> impl Iterator<Item = (Option<&str>, &Line)> {
        let mut cur: Option<&str> = None;
        self.lines.iter().map(move |l| {
            if let Line::Group(g) = l {
                cur = Some(g.as_str());
            }
            (cur, l)
        })
    }

    /// Group names, each once, in order of first appearance.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.lines {
            if let Line::Group(g) = l {
                if !out.contains(g) {
                    out.push(g.clone());
                }
            }
        }
        out
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l, Line::Group(g) if g == group))
    }

    fn unescape_in(group: &str, key: &str, raw: &str) -> Result<String, KeyFileError> {
        unescape(raw).ok_or_else(|| KeyFileError::BadEscape {
            group: group.into(),
            key: key.into(),
            value: raw.into(),
        })
    }

    /// The value of `key` in `[group]`, unescaped (the last one when the key is repeated).
    pub fn get(&self, group: &str, key: &str) -> Result<Option<String>, KeyFileError> {
        let raw = self
            .with_groups()
            .filter_map(|(g, l)| match l {
                Line::Entry { key: k, raw } if g == Some(group) && k == key => Some(raw),
                _ => None,
            })
            .last();
        raw.map(|r| Self::unescape_in(group, key, r)).transpose()
    }

    /// The keys of `[group]` and their unescaped values, each key once (its last value), in order of
    /// first appearance.
    pub fn entries(&self, group: &str) -> Result<Vec<(String, String)>, KeyFileError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (g, l) in self.with_groups() {
            if let Line::Entry { key, raw } = l {
                if g == Some(group) {
                    let v = Self::unescape_in(group, key, raw)?;
                    match out.iter_mut().find(|(k, _)| k == key) {
                        Some(e) => e.1 = v,
                        None => out.push((key.clone(), v)),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sets `key` in `[group]` to `value` (escaped), replacing its last occurrence or adding it at the
    /// end of the group; a new group goes at the end of the file, after a blank line.
    pub fn set(&mut self, group: &str, key: &str, value: &str) -> Result<(), KeyFileError> {
        if !valid_group(group) {
            return Err(KeyFileError::BadGroupName(group.into()));
        }
        if !valid_key(key) {
            return Err(KeyFileError::BadKeyName(key.into()));
        }
        let raw = escape(value);
        let mut existing = None;
        let mut group_end = None;
        for (i, (g, l)) in self.with_groups().enumerate() {
            if g == Some(group) {
                if !matches!(l, Line::Other(_)) {
                    group_end = Some(i + 1);
                }
                if matches!(l, Line::Entry { key: k, .. } if k == key) {
                    existing = Some(i);
                }
            }
        }
        let entry = Line::Entry {
            key: key.into(),
            raw,
        };
        match (existing, group_end) {
            (Some(i), _) => self.lines[i] = entry,
            (None, Some(end)) => self.lines.insert(end, entry),
            (None, None) => {
                if !self.lines.is_empty()
                    && !matches!(self.lines.last(), Some(Line::Other(o)) if o.trim().is_empty())
                {
                    self.lines.push(Line::Other(String::new()));
                }
                self.lines.push(Line::Group(group.into()));
                self.lines.push(entry);
            }
        }
        Ok(())
    }

    /// Removes every `[group]` section (its header, keys and the comments inside); whether there was one.
    pub fn remove_group(&mut self, group: &str) -> bool {
        let before = self.lines.len();
        let mut keep = Vec::with_capacity(before);
        let mut skipping = false;
        for l in std::mem::take(&mut self.lines) {
            if let Line::Group(g) = &l {
                skipping = g == group;
            }
            if !skipping {
                keep.push(l);
            }
        }
        while matches!(keep.last(), Some(Line::Other(o)) if o.trim().is_empty()) {
            keep.pop();
        }
        self.lines = keep;
        self.lines.len() != before
    }
}

impl fmt::Display for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            match l {
                Line::Group(g) => writeln!(f, "[{g}]")?,
                Line::Entry { key, raw } => writeln!(f, "{key}={raw}")?,
                Line::Other(o) => writeln!(f, "{o}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What GLib 2.74's g_key_file_set_string writes (checked with Debian's ostree `remote add --set`).
    #[test]
    fn escapes_as_gkeyfile() {
        assert_eq!(
            escape("  a\\b\n[core]\nmode=bare"),
            "\\s\\sa\\\\b\\n[core]\\nmode=bare"
        );
        assert_eq!(escape("\t x y\tz\r"), "\\t\\sx y\tz\\r");
        assert_eq!(escape(""), "");
        for v in ["  a\\b\n[core]", "\t x", "plain", "a\\sb", "\\", " \n "] {
            assert_eq!(unescape(&escape(v)).as_deref(), Some(v), "{v:?}");
        }
    }

    #[test]
    fn unescape_rejects_unknown_and_trailing_escapes() {
        assert_eq!(unescape("a\\qb"), None);
        assert_eq!(unescape("a\\"), None);
        assert_eq!(unescape("a\\sb\\tc").as_deref(), Some("a b\tc"));
    }

    #[test]
    fn reads_as_gkeyfile() {
        let k = KeyFile::parse(
            "# c\n[core]\n  mode = bare-user  \nmode=archive-z2\n[remote \"o\"]\nurl=\\shttp\n[core]\nrepo_version=1\n",
        )
        .unwrap();
        assert_eq!(
            k.get("core", "mode").unwrap().as_deref(),
            Some("archive-z2")
        );
        assert_eq!(k.get("core", "repo_version").unwrap().as_deref(), Some("1"));
        assert_eq!(
            k.get("remote \"o\"", "url").unwrap().as_deref(),
            Some(" http")
        );
        assert_eq!(k.get("remote \"o\"", "mode").unwrap(), None);
        assert_eq!(k.groups(), vec!["core".to_string(), "remote \"o\"".into()]);
        let bad = KeyFile::parse("[g]\nk=a\\xb\n").unwrap();
        assert!(matches!(
            bad.get("g", "k"),
            Err(KeyFileError::BadEscape { .. })
        ));
        assert_eq!(KeyFile::parse("k=v\n"), Err(KeyFileError::NoGroup(1)));
        assert!(matches!(
            KeyFile::parse("[g]\nnot a pair\n"),
            Err(KeyFileError::BadLine(2, _))
        ));
        assert!(matches!(
            KeyFile::parse("[g\n"),
            Err(KeyFileError::BadLine(1, _))
        ));
    }

    #[test]
    fn a_value_cannot_add_a_line() {
        let mut k = KeyFile::parse("[core]\nrepo_version=1\nmode=bare-user\n").unwrap();
        k.set("remote \"o\"", "url", "http://x/\n[core]\nmode=bare")
            .unwrap();
        let text = k.to_string();
        let again = KeyFile::parse(&text).unwrap();
        assert_eq!(
            again.get("core", "mode").unwrap().as_deref(),
            Some("bare-user")
        );
        assert_eq!(
            again.get("remote \"o\"", "url").unwrap().as_deref(),
            Some("http://x/\n[core]\nmode=bare")
        );
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(matches!(
            k.set("g", "a=b", "v"),
            Err(KeyFileError::BadKeyName(_))
        ));
        assert!(matches!(
            k.set("g]\n[core", "k", "v"),
            Err(KeyFileError::BadGroupName(_))
        ));
    }

    #[test]
    fn set_replaces_and_remove_group_keeps_the_rest() {
        let mut k = KeyFile::parse("[a]\n# keep\nx=1\n\n[b]\ny=2\n").unwrap();
        k.set("a", "x", "3").unwrap();
        k.set("a", "z", "4").unwrap();
        assert_eq!(k.to_string(), "[a]\n# keep\nx=3\nz=4\n\n[b]\ny=2\n");
        assert!(k.remove_group("b"));
        assert!(!k.remove_group("b"));
        assert_eq!(k.to_string(), "[a]\n# keep\nx=3\nz=4\n");
    }
}
