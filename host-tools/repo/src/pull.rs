//! Pull: from an archive repo over HTTP(S) or `file://`, or from any local repo (`pull-local`).
//! Only missing objects are fetched; content objects are fetched in parallel; every object is verified
//! against its checksum before it is stored (a bad object is never written); an interrupted pull
//! resumes (present objects are skipped, `state/<commit>.commitpartial` marks incomplete commits).
//! A commit's detached metadata (`.commitmeta`, its signatures) comes along; [`pull_resolved`] checks it
//! against a remote's keys (`crate::sign`) before anything is written.

use super::inflate::ExactInflate;
use super::lock::{LockKind, RepoLock};
use super::objects::{
    Checksum, Commit, DirEntry, DirMeta, DirTree, FileHeader, ObjectType, MAX_METADATA_SIZE,
};
use super::store::{write_atomic, Mode, Store, Transaction};
use super::RepoError;
use std::collections::HashSet;
use std::fs;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest metadata object (and summary, config) accepted: OSTree's limit.
const MAX_META: u64 = MAX_METADATA_SIZE;
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

/// The peer closed the connection before answering (a stale kept-alive connection).
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
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

    /// Where `rel` is on the source, for messages.
    pub fn describe(&self, rel: &str) -> String {
        match self {
            Source::Http { base, .. } => url_join(base, rel),
            Source::Dir(d) => d.join(rel).display().to_string(),
            Source::Local(s) => s.path.join(rel).display().to_string(),
        }
    }

    /// Whether the source holds this commit object (a 404 or an error reading it: no).
    fn has_commit(&self, c: &Checksum) -> bool {
        match self {
            Source::Local(s) => s.has_object(c, ObjectType::Commit),
            _ => matches!(
                self.get(
                    &Self::meta_rel(c, ObjectType::Commit),
                    &Arc::new(AtomicU64::new(0))
                ),
                Ok(Some(_))
            ),
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
                // A kept-alive connection that the server closed after its last response (without
                // `Connection: close`) fails the next request before any response: one retry on a new
                // connection, as libcurl does for ostree.
                let mut retried = false;
                let resp = loop {
                    match agent.get(&url).call() {
                        Ok(r) => break r,
                        Err(ureq::Error::Io(e)) if !retried && is_disconnect(&e) => retried = true,
                        Err(e) => return Err(RepoError::Fetch(format!("{url}: {e}"))),
                    }
                };
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

    /// A small file of the source (`summary`, `summary.sig`, ...), `None` when it has none.
    pub fn fetch_optional(&self, rel: &str) -> Result<Option<Vec<u8>>, RepoError> {
        let c = Arc::new(AtomicU64::new(0));
        let Some(r) = self.get(rel, &c)? else {
            return Ok(None);
        };
        let mut v = Vec::new();
        r.take(MAX_META + 1)
            .read_to_end(&mut v)
            .map_err(|e| RepoError::Fetch(format!("{}: {e}", self.describe(rel))))?;
        if v.len() as u64 > MAX_META {
            return Err(RepoError::Fetch(format!(
                "{}: larger than {MAX_META} bytes",
                self.describe(rel)
            )));
        }
        Ok(Some(v))
    }

    /// A commit object (checked against its checksum) and its detached metadata, if any; nothing stored.
    /// A commit's detached metadata (`.commitmeta`), when the source has one.
    pub fn fetch_detached(&self, c: &Checksum) -> Result<Option<Vec<u8>>, RepoError> {
        match self {
            Source::Local(s) => crate::sign::ops::read_detached(s, c),
            _ => self.fetch_optional(&Source::meta_rel(c, ObjectType::CommitMeta)),
        }
    }

    pub fn fetch_commit(&self, c: &Checksum) -> Result<(Vec<u8>, Option<Vec<u8>>), RepoError> {
        let (data, detached) = match self {
            Source::Local(s) => (
                s.read_meta(c, ObjectType::Commit)?,
                crate::sign::ops::read_detached(s, c)?,
            ),
            _ => (
                self.get_bytes(
                    &Source::meta_rel(c, ObjectType::Commit),
                    &format!("commit object {c}"),
                    &Arc::new(AtomicU64::new(0)),
                )?,
                self.fetch_optional(&Source::meta_rel(c, ObjectType::CommitMeta))?,
            ),
        };
        let got = Checksum::of(&data);
        if got != *c {
            return Err(RepoError::Fetch(format!(
                "{}: commit object {c} has checksum {got}",
                self.describe(&Source::meta_rel(c, ObjectType::Commit))
            )));
        }
        Ok((data, detached))
    }

    /// Checks the remote is an archive repository (for Http/Dir).
    pub fn check_mode(&self) -> Result<(), RepoError> {
        if let Source::Local(_) = self {
            return Ok(());
        }
        let c = Arc::new(AtomicU64::new(0));
        let cfg = self.get_bytes("config", "repository config", &c)?;
        let text = String::from_utf8_lossy(&cfg);
        let mode = super::keyfile::KeyFile::parse(&text).and_then(|k| k.get("core", "mode"));
        match mode.as_ref().map(Option::as_deref) {
            Ok(Some("archive-z2")) | Ok(Some("archive")) => Ok(()),
            other => Err(RepoError::Fetch(format!(
                "{}: {}; only archive repositories can be pulled over HTTP or file:// (use pull-local for others)",
                self.describe("config"),
                match other {
                    Ok(m) => format!("remote repository mode is {:?}", m.unwrap_or("none")),
                    Err(e) => format!("not an OSTree repository config ({e})"),
                }
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
    dest: &'a Transaction,
    src: &'a Source,
    /// Commit objects already fetched and checked against their checksums (for their signatures): the
    /// walk stores these bytes instead of fetching them again.
    fetched: std::collections::HashMap<Checksum, Vec<u8>>,
    bytes: Arc<AtomicU64>,
    stats: PullStats,
    /// One plain line per phase instead of a bar (see [`plain_progress`]).
    lines: bool,
}

impl Puller<'_> {
    /// One `pull: ...` line on stderr, in plain mode.
    fn phase(&self, what: std::fmt::Arguments<'_>) {
        if self.lines {
            eprintln!(
                "pull: {what} ({} metadata, {} content objects, {} bytes fetched so far)",
                self.stats.meta_fetched.load(Ordering::Relaxed),
                self.stats.content_fetched.load(Ordering::Relaxed),
                self.bytes.load(Ordering::Relaxed)
            );
        }
    }
}

impl Puller<'_> {
    fn fetch_meta(&self, c: &Checksum, t: ObjectType) -> Result<Vec<u8>, RepoError> {
        if self.dest.has_object(c, t) {
            return self.dest.read_meta(c, t);
        }
        let rel = Source::meta_rel(c, t);
        let data = match self.src {
            _ if t == ObjectType::Commit && self.fetched.contains_key(c) => {
                self.fetched.get(c).cloned().unwrap_or_default()
            }
            Source::Local(s) => {
                let d = s.read_meta(c, t)?;
                if d.len() as u64 > MAX_META {
                    return Err(RepoError::Fetch(format!(
                        "{}: larger than {MAX_META} bytes",
                        self.src.describe(&rel)
                    )));
                }
                d
            }
            _ => self
                .src
                .get_bytes(&rel, &format!("{} object {c}", t.name()), &self.bytes)?,
        };
        let refused = |m: String| RepoError::Fetch(format!("{}: {m}", self.src.describe(&rel)));
        let got = Checksum::of(&data);
        if got != *c {
            return Err(refused(format!(
                "{} object {c}: content has checksum {got}",
                t.name()
            )));
        }
        // Checked before it is stored: an object the repository could not use is never kept.
        validate_meta(t, &data).map_err(|e| refused(format!("{} object {c}: {e}", t.name())))?;
        self.dest.write_meta_verified(t, c, &data)?;
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
        // The tree, one level at a time: the dirtrees of a level are fetched (or read locally) in parallel,
        // each walked without being built and dropped once its children are merged, so what a pull holds
        // of a tree is one dirtree per worker (at most MAX_META bytes each) plus checksums.
        let mut level = vec![cm.root_tree];
        let mut seen = HashSet::from([cm.root_tree]);
        let mut files = Vec::new();
        let mut seen_files = HashSet::new();
        while !level.is_empty() {
            #[derive(Default)]
            struct Found {
                next: Vec<Checksum>,
                metas: Vec<Checksum>,
            }
            let found = std::sync::Mutex::new(Found::default());
            let shared = std::sync::Mutex::new((&mut seen, &mut seen_files, &mut files));
            pool.install(|| {
                use rayon::prelude::*;
                level.par_iter().try_for_each(|t| {
                    let d = self.fetch_meta(t, ObjectType::DirTree)?;
                    let (mut fs, mut ds) = (Vec::new(), Vec::new());
                    DirTree::visit(&d, |e| match e {
                        DirEntry::File(_, fc) => fs.push(fc),
                        DirEntry::Dir(_, tc, mc) => ds.push((tc, mc)),
                    })
                    .map_err(|e| RepoError::Fetch(format!("dirtree {t}: {e}")))?;
                    drop(d);
                    let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                    let (seen, seen_files, files) = &mut *guard;
                    let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                    for fc in fs {
                        if seen_files.insert(fc) {
                            files.push(fc);
                        }
                    }
                    for (tc, mc) in ds {
                        f.metas.push(mc);
                        if seen.insert(tc) {
                            f.next.push(tc);
                        }
                    }
                    Ok::<(), RepoError>(())
                })
            })?;
            let Found { next, mut metas } = found.into_inner().unwrap_or_else(|e| e.into_inner());
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
        self.phase(format_args!(
            "commit {commit}: metadata complete; {} content objects to fetch",
            files.len()
        ));
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
        self.dest.flush()?;
        fs::remove_file(&partial).ok();
        Ok(())
    }
}

/// Pulls `refs` (names on the source) into `dest`; each ref is stored as `local_prefix + name`
/// (`"REMOTE:"` for remotes, `""` for pull-local and `--mirror`). Returns the stats.
pub fn pull(
    dest: &Store,
    src: &Source,
    refs: &[String],
    local_prefix: &str,
) -> Result<PullStats, RepoError> {
    pull_with_depth(dest, src, refs, local_prefix, 0)
}

/// [`pull`] plus up to `depth` ancestors of each commit (`-1`: all), as ostree's `pull --depth=N`. An
/// ancestor the source does not have ends the walk (ostree's history ends there too: `log` then shows
/// "History beyond this commit not fetched").
pub fn pull_with_depth(
    dest: &Store,
    src: &Source,
    refs: &[String],
    local_prefix: &str,
    depth: i64,
) -> Result<PullStats, RepoError> {
    if src_is_same(dest, src) {
        return Err(RepoError::Usage(
            "source and destination are the same repository".into(),
        ));
    }
    src.check_mode()?;
    let mut resolved = Vec::new();
    for r in refs {
        resolved.push((r.clone(), src.resolve(r)?));
    }
    pull_resolved_depth(dest, src, &resolved, local_prefix, None, depth)
}

/// Pulls commits already resolved (`(name on the source, commit)`) from a source checked with
/// [`Source::check_mode`]. With `trust`, each commit and its detached metadata are fetched (the commit
/// from a static delta's superblock when the pull uses one) and checked first: a refused commit leaves
/// the repository untouched.
/// A commit's `.commitmeta` (signatures) is stored after its objects, before its ref.
pub fn pull_resolved(
    dest: &Store,
    src: &Source,
    resolved: &[(String, Checksum)],
    local_prefix: &str,
    trust: Option<&crate::sign::RemoteTrust>,
) -> Result<PullStats, RepoError> {
    pull_resolved_depth(dest, src, resolved, local_prefix, trust, 0)
}

/// [`pull_resolved`] plus up to `depth` ancestors of each commit (see [`pull_with_depth`]). The caller
/// has checked the source with [`Source::check_mode`] (it resolved the refs there).
pub fn pull_resolved_depth(
    dest: &Store,
    src: &Source,
    resolved: &[(String, Checksum)],
    local_prefix: &str,
    trust: Option<&crate::sign::RemoteTrust>,
    depth: i64,
) -> Result<PullStats, RepoError> {
    if src_is_same(dest, src) {
        return Err(RepoError::Usage(
            "source and destination are the same repository".into(),
        ));
    }
    let bytes = Arc::new(AtomicU64::new(0));
    let mut detached = Vec::new();
    let mut deltas = Vec::new();
    let mut fetched = std::collections::HashMap::new();
    for (name, c) in resolved {
        // A static delta the source lists for this commit: its superblock, fetched and checked, carries
        // the commit object.
        let found = super::delta::fetch::find_delta(
            dest,
            src,
            &format!("{local_prefix}{name}"),
            c,
            &bytes,
        )?;
        // Checked first when the remote asks for signatures (the commit object taken from the delta's
        // superblock when there is one, else fetched); otherwise the commit object comes with the walk
        // below (or from the static delta, when the server keeps only the delta).
        let meta = match trust {
            Some(t) if t.commit_keys.is_some() => {
                let (data, meta) = match found.as_ref().and_then(|f| f.commit(c)) {
                    Some(data) => (data.to_vec(), src.fetch_detached(c)?),
                    None => src.fetch_commit(c)?,
                };
                t.check_commit(c, &data, meta.as_deref())?;
                fetched.insert(*c, data);
                meta
            }
            _ => src.fetch_detached(c)?,
        };
        detached.push(meta);
        deltas.push(found);
    }
    // Shared: prune (exclusive) waits until this pull's objects are named by its refs.
    let _lock = RepoLock::acquire(&dest.path, LockKind::Shared)?;
    let txn = dest.begin()?;
    let p = Puller {
        dest: &txn,
        src,
        fetched,
        bytes,
        stats: PullStats::default(),
        lines: plain_progress(),
    };
    let progress = if !p.lines {
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
    for (((name, c), meta), found) in resolved.iter().zip(&detached).zip(&deltas) {
        p.phase(format_args!("{name} is commit {c}"));
        // A static delta the source lists makes what it can; the walk below fetches the rest.
        let applied = match found {
            Some(f) => super::delta::fetch::apply_delta(&txn, src, f, &p.bytes),
            None => Ok(None),
        };
        if let Err(e) = applied {
            // Keep what was fetched and verified: the next pull resumes from it.
            let _ = txn.flush();
            p.phase(format_args!("stopped: {e}; what was fetched is kept"));
            return Err(e);
        }
        let mut cur = Some(*c);
        let mut left = depth;
        while let Some(commit) = cur.take() {
            if let Err(e) = p.pull_commit(&commit, &progress) {
                // Keep what was fetched and verified: the next pull resumes from it.
                let _ = txn.flush();
                p.phase(format_args!("stopped: {e}; what was fetched is kept"));
                return Err(e);
            }
            if left == 0 {
                break;
            }
            left -= 1;
            let cm = Commit::parse(&txn.read_meta(&commit, ObjectType::Commit)?)
                .map_err(|e| RepoError::Fetch(format!("commit {commit}: {e}")))?;
            cur = cm.parent.filter(|parent| {
                txn.has_object(parent, ObjectType::Commit) || src.has_commit(parent)
            });
        }
        if let Some(m) = meta {
            crate::sign::ops::write_detached(dest, c, m)?;
        }
        dest.write_ref(&format!("{local_prefix}{name}"), c)?;
    }
    progress.finish_and_clear();
    // Staging directories of other boots, or abandoned long ago (ours is empty now and held).
    txn.cleanup_tmp()?;
    p.phase(format_args!("done"));
    p.stats
        .bytes
        .store(p.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
    let stats = p.stats;
    txn.commit()?;
    Ok(stats)
}

/// Progress as plain lines, not a redrawn bar: stderr is not a terminal (a log, a pipe), or it is one
/// without a known terminal type (`TERM` unset, empty or `dumb`: a serial console driven by init or a
/// boot script, where a spinner's carriage returns and escapes would pile up).
fn plain_progress() -> bool {
    !io::stderr().is_terminal()
        || matches!(
            std::env::var("TERM").as_deref(),
            Err(_) | Ok("") | Ok("dumb")
        )
}

/// Checks a metadata object's structure as the repository will read it, before it is stored.
fn validate_meta(t: ObjectType, data: &[u8]) -> Result<(), String> {
    match t {
        ObjectType::Commit => Commit::parse(data).map(|_| ()).map_err(|e| e.to_string()),
        ObjectType::DirTree => DirTree::visit(data, |_| {}).map_err(|e| e.to_string()),
        ObjectType::DirMeta => DirMeta::parse_object(data)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        ObjectType::CommitMeta => super::gvariant::Type::parse("a{sv}")
            .and_then(|ty| super::gvariant::parse(&ty, data))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        ObjectType::File => Ok(()),
    }
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
