//! Pull: from an archive repo over HTTP(S) or `file://`, or from any local repo (`pull-local`).
//! Only missing objects are fetched; content objects are fetched in parallel; every object is verified
//! against its checksum before it is stored (a bad object is never written); an interrupted pull
//! resumes (present objects are skipped, `state/<commit>.commitpartial` marks incomplete commits).

use super::inflate::ExactInflate;
use super::objects::{Checksum, Commit, DirTree, FileHeader, ObjectType};
use super::store::{write_atomic, Mode, Store};
use super::RepoError;
use std::collections::HashSet;
use std::fs;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest metadata object we accept (OSTree's limit is 10 MiB... we allow 64 MiB).
const MAX_META: u64 = 64 * 1024 * 1024;
/// Parallel content downloads.
const PARALLEL: usize = 8;

/// Where objects come from.
pub enum Source {
    /// An archive repo at an http(s) base URL.
    Http { agent: ureq::Agent, base: String },
    /// An archive repo in a directory (`file://`).
    Dir(PathBuf),
    /// Any local repo (`pull-local`).
    Local(Store),
}

/// Counters of one pull.
#[derive(Debug, Default)]
pub struct PullStats {
    pub meta_fetched: AtomicU64,
    pub content_fetched: AtomicU64,
    pub bytes: AtomicU64,
}

fn url_join(base: &str, rel: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), rel)
}

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}
impl<R: Read> Read for Counting<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(b)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

impl Source {
    /// Opens a URL (`http://`, `https://`, `file://`).
    pub fn from_url(url: &str) -> Result<Source, RepoError> {
        if let Some(p) = url.strip_prefix("file://") {
            return Ok(Source::Dir(PathBuf::from(p)));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            // A stalled server is detected per read and per write, not by a budget for the whole call
            // (a large object on a slow link may take long); no global budget also means name resolution
            // runs in the calling thread instead of a new thread per request. Idle connections are kept
            // for every parallel worker, so HTTP/1.1 servers see one connection per worker.
            let cfg = ureq::Agent::config_builder()
                .timeout_connect(Some(Duration::from_secs(30)))
                .timeout_per_read(Some(Duration::from_secs(60)))
                .timeout_per_write(Some(Duration::from_secs(60)))
                .max_idle_connections(2 * PARALLEL)
                .max_idle_connections_per_host(PARALLEL)
                .http_status_as_error(false)
                .build();
            return Ok(Source::Http {
                agent: cfg.into(),
                base: url.to_string(),
            });
        }
        Err(RepoError::Usage(format!(
            "unsupported URL {url:?}: use http://, https:// or file://"
        )))
    }

    fn describe(&self, rel: &str) -> String {
        match self {
            Source::Http { base, .. } => url_join(base, rel),
            Source::Dir(d) => d.join(rel).display().to_string(),
            Source::Local(s) => s.path.join(rel).display().to_string(),
        }
    }

    /// GETs a file relative to the repo root; `None` on 404 / not found.
    pub(crate) fn get(
        &self,
        rel: &str,
        counter: &Arc<AtomicU64>,
    ) -> Result<Option<Box<dyn Read + Send>>, RepoError> {
        let what = self.describe(rel);
        match self {
            Source::Http { agent, base } => {
                let url = url_join(base, rel);
                let resp = agent
                    .get(&url)
                    .call()
                    .map_err(|e| RepoError::Fetch(format!("{url}: {e}")))?;
                let status = resp.status().as_u16();
                if status == 404 {
                    return Ok(None);
                }
                if status != 200 {
                    return Err(RepoError::Fetch(format!("{url}: HTTP status {status}")));
                }
                Ok(Some(Box::new(Counting {
                    inner: resp.into_body().into_reader(),
                    n: counter.clone(),
                })))
            }
            Source::Dir(d) | Source::Local(Store { path: d, .. }) => {
                match fs::File::open(d.join(rel)) {
                    Ok(f) => Ok(Some(Box::new(Counting {
                        inner: BufReader::new(f),
                        n: counter.clone(),
                    }))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(RepoError::Fetch(format!("{what}: {e}"))),
                }
            }
        }
    }

    pub(crate) fn get_required(
        &self,
        rel: &str,
        what: &str,
        counter: &Arc<AtomicU64>,
    ) -> Result<Box<dyn Read + Send>, RepoError> {
        self.get(rel, counter)?.ok_or_else(|| {
            RepoError::Fetch(format!(
                "{}: not found on the remote ({what})",
                self.describe(rel)
            ))
        })
    }

    pub(crate) fn get_bytes(
        &self,
        rel: &str,
        what: &str,
        counter: &Arc<AtomicU64>,
    ) -> Result<Vec<u8>, RepoError> {
        let mut r = self.get_required(rel, what, counter)?.take(MAX_META + 1);
        let mut v = Vec::new();
        r.read_to_end(&mut v)
            .map_err(|e| RepoError::Fetch(format!("{}: {e}", self.describe(rel))))?;
        if v.len() as u64 > MAX_META {
            return Err(RepoError::Fetch(format!(
                "{}: larger than {MAX_META} bytes",
                self.describe(rel)
            )));
        }
        Ok(v)
    }

    /// Checks the remote is an archive repository (for Http/Dir).
    pub fn check_mode(&self) -> Result<(), RepoError> {
        if let Source::Local(_) = self {
            return Ok(());
        }
        let c = Arc::new(AtomicU64::new(0));
        let cfg = self.get_bytes("config", "repository config", &c)?;
        let text = String::from_utf8_lossy(&cfg);
        let mode = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("mode=").map(|m| m.trim().to_string()));
        match mode.as_deref() {
            Some("archive-z2") | Some("archive") => Ok(()),
            other => Err(RepoError::Fetch(format!(
                "{}: remote repository mode is {:?}; only archive repositories can be pulled over HTTP or file:// (use pull-local for others)",
                self.describe("config"),
                other.unwrap_or("none")
            ))),
        }
    }

    /// Resolves a ref on the source: `refs/heads/REF`, else the summary.
    pub fn resolve(&self, name: &str) -> Result<Checksum, RepoError> {
        super::store::validate_ref(name)?;
        if let Source::Local(s) = self {
            return s
                .read_ref(name)?
                .ok_or_else(|| RepoError::UnknownRef(format!("{name} in {}", s.path.display())));
        }
        let c = Arc::new(AtomicU64::new(0));
        let rel = format!("refs/heads/{name}");
        if let Some(mut r) = self.get(&rel, &c)? {
            let mut s = String::new();
            r.by_ref()
                .take(200)
                .read_to_string(&mut s)
                .map_err(|e| RepoError::Fetch(format!("{}: {e}", self.describe(&rel))))?;
            return Checksum::from_hex(s.trim()).ok_or_else(|| {
                RepoError::Fetch(format!(
                    "{}: not a commit checksum (is the URL an OSTree repo?)",
                    self.describe(&rel)
                ))
            });
        }
        for r in self.summary_refs()? {
            if r.name == name {
                return Ok(r.commit);
            }
        }
        Err(RepoError::UnknownRef(format!(
            "{name} on {}",
            self.describe("")
        )))
    }

    /// Refs listed in the source's summary (empty when there is none).
    pub fn summary_refs(&self) -> Result<Vec<super::summary::SummaryRef>, RepoError> {
        let c = Arc::new(AtomicU64::new(0));
        match self.get("summary", &c)? {
            None => Ok(vec![]),
            Some(_) => super::summary::parse(&self.get_bytes("summary", "summary", &c)?),
        }
    }

    fn meta_rel(c: &Checksum, t: ObjectType) -> String {
        let h = c.to_hex();
        format!("objects/{}/{}.{}", &h[..2], &h[2..], t.meta_ext())
    }
}

struct Puller<'a> {
    dest: &'a Store,
    src: &'a Source,
    bytes: Arc<AtomicU64>,
    stats: PullStats,
}

impl Puller<'_> {
    fn fetch_meta(&self, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError> {
        if self.dest.has_object(c, t) {
            return self.dest.read_meta(c, t);
        }
        let data = match self.src {
            Source::Local(s) => s.read_meta(c, t)?,
            _ => self.src.get_bytes(
                &Source::meta_rel(c, t),
                &format!("{} object {c}", t.name()),
                &self.bytes,
            )?,
        };
        self.dest
            .write_meta_verified(t, c, &data)
            .map_err(|e| match e {
                RepoError::Corrupt(m) => RepoError::Fetch(format!(
                    "{}: {m}",
                    self.src.describe(&Source::meta_rel(c, t))
                )),
                o => o,
            })?;
        self.stats.meta_fetched.fetch_add(1, Ordering::Relaxed);
        Ok(data)
    }

    fn fetch_content(&self, c: &Checksum) -> Result<(), RepoError> {
        if self.dest.has_object(c, ObjectType::File) {
            return Ok(());
        }
        let h = c.to_hex();
        let rel = format!("objects/{}/{}.filez", &h[..2], &h[2..]);
        let bad = |m: String| RepoError::Fetch(format!("{}: {m}", self.src.describe(&rel)));
        // Errors of the stored object are named by where it came from (a full disk stays what it is).
        let named = |e: RepoError| match e {
            RepoError::Corrupt(m) => bad(m),
            RepoError::Io { source, .. } if source.kind() != io::ErrorKind::StorageFull => {
                bad(source.to_string())
            }
            o => o,
        };
        let (header, size, mut reader): (FileHeader, u64, Box<dyn Read + Send>) = match self.src {
            Source::Local(s) => s.open_content(c)?,
            _ => {
                let mut r =
                    self.src
                        .get_required(&rel, &format!("file object {c}"), &self.bytes)?;
                let mut pre = [0u8; 8];
                r.read_exact(&mut pre)
                    .map_err(|e| bad(format!("truncated header: {e}")))?;
                let len = u32::from_be_bytes([pre[0], pre[1], pre[2], pre[3]]) as u64;
                if len > 1024 * 1024 || pre[4..] != [0, 0, 0, 0] {
                    return Err(bad("not an OSTree content object (bad header size)".into()));
                }
                let mut hb = vec![0u8; len as usize];
                r.read_exact(&mut hb)
                    .map_err(|e| bad(format!("truncated header: {e}")))?;
                let (header, size) =
                    FileHeader::parse_archive(&hb).map_err(|e| bad(e.to_string()))?;
                if self.dest.mode == Mode::Archive {
                    // Archive to archive: stored as fetched once verified (no second deflate).
                    self.dest
                        .write_archive_verbatim(&header, &hb, size, &mut r, c)
                        .map_err(named)?;
                    self.stats.content_fetched.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                (header, size, Box::new(ExactInflate::new(r, size)))
            }
        };
        self.dest
            .write_content(&header, &mut reader, size, Some(c))
            .map_err(named)?;
        // A symlink's body is not read by the store: read it to its end (checked empty) all the same.
        io::copy(&mut reader, &mut io::sink()).map_err(|e| bad(e.to_string()))?;
        self.stats.content_fetched.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Fetches a commit and everything it references.
    fn pull_commit(
        &self,
        commit: &Checksum,
        progress: &indicatif::ProgressBar,
    ) -> Result<(), RepoError> {
        let partial = self
            .dest
            .path
            .join("state")
            .join(format!("{commit}.commitpartial"));
        let had_commit = self.dest.has_object(commit, ObjectType::Commit);
        if had_commit && !partial.exists() {
            return Ok(());
        }
        fs::create_dir_all(self.dest.path.join("state")).ok();
        write_atomic(&partial, b"")?;
        let data = self.fetch_meta(commit, ObjectType::Commit)?;
        let cm =
            Commit::parse(&data).map_err(|e| RepoError::Fetch(format!("commit {commit}: {e}")))?;
        self.fetch_meta(&cm.root_meta, ObjectType::DirMeta)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(PARALLEL)
            .build()
            .map_err(|e| RepoError::Usage(format!("thread pool: {e}")))?;
        // The tree, one level at a time: every dirtree and dirmeta of a level fetched (or read locally)
        // in parallel, as many requests in flight as for content.
        let mut level = vec![cm.root_tree];
        let mut seen = HashSet::from([cm.root_tree]);
        let mut files = Vec::new();
        let mut seen_files = HashSet::new();
        while !level.is_empty() {
            let trees: Vec<Result<DirTree, RepoError>> = pool.install(|| {
                use rayon::prelude::*;
                level
                    .par_iter()
                    .map(|t| {
                        let d = self.fetch_meta(t, ObjectType::DirTree)?;
                        DirTree::parse(&d)
                            .map_err(|e| RepoError::Fetch(format!("dirtree {t}: {e}")))
                    })
                    .collect()
            });
            let mut next = Vec::new();
            let mut metas = Vec::new();
            for dt in trees {
                let dt = dt?;
                for (_, fc) in dt.files {
                    if seen_files.insert(fc) {
                        files.push(fc);
                    }
                }
                for (_, tc, mc) in dt.dirs {
                    metas.push(mc);
                    if seen.insert(tc) {
                        next.push(tc);
                    }
                }
            }
            metas.sort_unstable_by_key(|m| m.0);
            metas.dedup();
            pool.install(|| {
                use rayon::prelude::*;
                metas
                    .par_iter()
                    .try_for_each(|m| self.fetch_meta(m, ObjectType::DirMeta).map(|_| ()))
            })?;
            progress.set_message(format!(
                "metadata {}",
                self.stats.meta_fetched.load(Ordering::Relaxed)
            ));
            level = next;
        }
        // Which content objects are missing: one stat each, in parallel.
        let files: Vec<Checksum> = pool.install(|| {
            use rayon::prelude::*;
            files
                .into_par_iter()
                .filter(|fc| !self.dest.has_object(fc, ObjectType::File))
                .collect()
        });
        progress.set_length(files.len() as u64);
        let errs: Vec<RepoError> = pool.install(|| {
            use rayon::prelude::*;
            files
                .par_iter()
                .filter_map(|fc| {
                    let r = self.fetch_content(fc).err();
                    progress.inc(1);
                    r
                })
                .collect()
        });
        if let Some(e) = errs.into_iter().next() {
            return Err(e);
        }
        self.dest.finish()?;
        fs::remove_file(&partial).ok();
        Ok(())
    }
}

/// Pulls `refs` (names on the source) into `dest`; each ref is stored as `local_prefix + name`
/// (`"REMOTE:"` for remotes, `""` for pull-local). Returns the stats.
pub fn pull(
    dest: &Store,
    src: &Source,
    refs: &[String],
    local_prefix: &str,
) -> Result<PullStats, RepoError> {
    if src_is_same(dest, src) {
        return Err(RepoError::Usage(
            "source and destination are the same repository".into(),
        ));
    }
    src.check_mode()?;
    let txn = dest.begin()?;
    let _staging = txn.staging_guard();
    let p = Puller {
        dest: &txn,
        src,
        bytes: Arc::new(AtomicU64::new(0)),
        stats: PullStats::default(),
    };
    let progress = if io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} objects {msg} [{elapsed_precise}] {per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut resolved = Vec::new();
    for r in refs {
        resolved.push((r.clone(), src.resolve(r)?));
    }
    for (name, c) in &resolved {
        // A static delta the source lists makes what it can; the walk below fetches the rest.
        let delta = super::delta::fetch::pull_delta(
            &txn,
            src,
            &format!("{local_prefix}{name}"),
            c,
            &p.bytes,
        );
        if let Err(e) = delta.and_then(|_| p.pull_commit(c, &progress)) {
            // Keep what was fetched and verified: the next pull resumes from it.
            let _ = txn.finish();
            return Err(e);
        }
        dest.write_ref(&format!("{local_prefix}{name}"), c)?;
    }
    progress.finish_and_clear();
    p.stats
        .bytes
        .store(p.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
    Ok(p.stats)
}

fn src_is_same(dest: &Store, src: &Source) -> bool {
    let d = fs::canonicalize(&dest.path).ok();
    match src {
        Source::Dir(p) | Source::Local(Store { path: p, .. }) => {
            d.is_some() && fs::canonicalize(p).ok() == d
        }
        Source::Http { .. } => false,
    }
}

/// Whether a local repository mode can serve as a `file://` remote.
pub fn is_archive(s: &Store) -> bool {
    s.mode == Mode::Archive
}
