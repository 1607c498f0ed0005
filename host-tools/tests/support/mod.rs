//! What the repository tests share: running `atomboot` or `ostree` on a repository, and a small static
//! HTTP/1.1 server on 127.0.0.1 (ephemeral port, keep-alive, one thread per connection) whose answer to
//! each request a test can change (misbehaving servers, request logs, stalls).
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The `atomboot` under test: this build's, or the one `ATOMBOOT_BIN` names (to run a suite against an
/// older build and see each test fail before its fix).
pub fn atomboot_bin() -> String {
    std::env::var("ATOMBOOT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_atomboot").to_string())
}

/// Runs `prog` (`atomboot`: the binary under test, see [`atomboot_bin`]; anything else from PATH or an
/// absolute path) with `--repo=REPO` and `args`: (success, stdout, stderr).
pub fn cmd(prog: &str, repo: &Path, args: &[&str]) -> (bool, String, String) {
    let p = if prog == "atomboot" {
        atomboot_bin()
    } else {
        prog.to_string()
    };
    let o = Command::new(p)
        .arg(format!("--repo={}", repo.display()))
        .args(args)
        .output()
        .expect("spawn (is ostree installed? scripts/setup.sh installs it)");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// As [`cmd`], which must succeed: its stdout.
pub fn ok(prog: &str, repo: &Path, args: &[&str]) -> String {
    let (s, out, err) = cmd(prog, repo, args);
    assert!(s, "{prog} {args:?}: {out}{err}");
    out
}

/// One request as the server read it.
pub struct Request<'a> {
    /// The path asked for (`/objects/ab/cd….filez`).
    pub path: &'a str,
    /// How many requests this connection had answered before this one (0: a new connection).
    pub answered: usize,
    /// The directory served.
    pub root: &'a Path,
}

impl Request<'_> {
    /// The file asked for: `200 OK` and its bytes, or `404 Not Found`.
    pub fn file(&self) -> Reply {
        match fs::read(self.root.join(self.path.trim_start_matches('/'))) {
            Ok(body) => Reply::ok(body),
            Err(_) => Reply::not_found(),
        }
    }
}

/// What the server does with a request.
pub enum Reply {
    /// Answer with this status line, body and (if any) Content-Type.
    Send {
        status: &'static str,
        body: Vec<u8>,
        content_type: Option<&'static str>,
    },
    /// Hold the request this long without answering, then close.
    Hold(Duration),
    /// Close the connection without answering.
    Close,
}

impl Reply {
    /// `200 OK` with `body`.
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply::Send {
            status: "200 OK",
            body,
            content_type: None,
        }
    }

    /// `404 Not Found`.
    pub fn not_found() -> Reply {
        Reply::Send {
            status: "404 Not Found",
            body: b"not found".to_vec(),
            content_type: None,
        }
    }
}

/// Serves `root`, answering each request as `answer` says; returns the server's URL.
pub fn serve_with(
    root: PathBuf,
    answer: impl Fn(&Request<'_>) -> Reply + Send + Sync + 'static,
) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (root, answer) = (root.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                // One request after the other on the same connection, until the client closes it.
                for answered in 0.. {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/");
                    let req = Request {
                        path,
                        answered,
                        root: &root,
                    };
                    let (status, body, content_type) = match answer(&req) {
                        Reply::Send {
                            status,
                            body,
                            content_type,
                        } => (status, body, content_type),
                        Reply::Hold(d) => {
                            std::thread::sleep(d);
                            return;
                        }
                        Reply::Close => {
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                    };
                    let ctype = content_type
                        .map(|t| format!("Content-Type: {t}\r\n"))
                        .unwrap_or_default();
                    let sent = write!(
                        conn,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{ctype}\r\n",
                        body.len()
                    )
                    .and_then(|_| conn.write_all(&body));
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// Serves the files under `root` as they are; returns the server's URL.
pub fn serve(root: PathBuf) -> String {
    serve_with(root, |req| req.file())
}
