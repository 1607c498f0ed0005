//! The build server of the device-update tests: a small HTTP/1.1 file server on the host's loopback
//! (127.0.0.1, an ephemeral port) that the guest reaches through QEMU's `guestfwd` (see [`crate::machine`]).
//! It logs every request (path, status, body bytes sent, whether the body was sent whole) so a test can
//! tell which objects a pull fetched, and it can go down and come back: `go_down_after(BYTES)` stops it in
//! the middle of a response once that many body bytes were sent (the connection is dropped, later
//! connections are closed at once, as when the server's process is gone), `come_back()` serves again.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the server answered (or began to answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The request path (`/objects/ab/cdef....filez`).
    pub path: String,
    /// 200 or 404.
    pub status: u16,
    /// Body bytes written to the connection.
    pub bytes: u64,
    /// The whole body was sent.
    pub complete: bool,
}

struct State {
    root: PathBuf,
    down: AtomicBool,
    /// Body bytes left before the server goes down (None: no limit).
    budget: Mutex<Option<u64>>,
    log: Mutex<Vec<Served>>,
    stop: AtomicBool,
}

/// A running server; stopped on drop.
pub struct BuildServer {
    port: u16,
    state: Arc<State>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl BuildServer {
    /// Serves the files under `root` on 127.0.0.1 (an ephemeral port).
    pub fn start(root: &Path) -> BuildServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(State {
            root: root.to_path_buf(),
            down: AtomicBool::new(false),
            budget: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let st = Arc::clone(&state);
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = Arc::clone(&st);
                std::thread::spawn(move || serve(&st, conn));
            }
        });
        BuildServer {
            port,
            state,
            accept: Some(accept),
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL on the host.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Goes down once `bytes` more body bytes were sent (in the middle of a response).
    pub fn go_down_after(&self, bytes: u64) {
        *lock(&self.state.budget) = Some(bytes);
    }

    /// Whether the server is down.
    pub fn is_down(&self) -> bool {
        self.state.down.load(Ordering::SeqCst)
    }

    /// Serves again, without a limit.
    pub fn come_back(&self) {
        *lock(&self.state.budget) = None;
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Every request so far, in order.
    pub fn log(&self) -> Vec<Served> {
        lock(&self.state.log).clone()
    }

    /// Forgets the log.
    pub fn clear_log(&self) {
        lock(&self.state.log).clear();
    }
}

impl Drop for BuildServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.down.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The file a request path names under `root`; None for anything that leaves it.
fn file_for(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.split('?').next()?.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

/// One connection: HTTP/1.1 GET requests, kept alive until the client closes it.
fn serve(st: &State, conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut reader = BufReader::new(conn);
    loop {
        if st.down.load(Ordering::SeqCst) {
            return;
        }
        let mut request = String::new();
        match reader.read_line(&mut request) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut close = false;
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if h.eq_ignore_ascii_case("connection: close") {
                close = true;
            }
        }
        if st.down.load(Ordering::SeqCst) {
            return;
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let body = if method == "GET" {
            file_for(&st.root, path)
                .filter(|p| p.is_file())
                .and_then(|p| std::fs::read(p).ok())
        } else {
            None
        };
        let Some(body) = body else {
            let msg = b"not found\n";
            let head = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
                msg.len()
            );
            lock(&st.log).push(Served {
                path: path.to_string(),
                status: 404,
                bytes: 0,
                complete: true,
            });
            if out.write_all(head.as_bytes()).is_err() || out.write_all(msg).is_err() {
                return;
            }
            if close {
                return;
            }
            continue;
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
            body.len()
        );
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut sent = 0u64;
        let mut complete = true;
        for chunk in body.chunks(16 * 1024) {
            let allowed = {
                let mut budget = lock(&st.budget);
                match *budget {
                    None => chunk.len(),
                    Some(left) => {
                        let n = (left as usize).min(chunk.len());
                        *budget = Some(left - n as u64);
                        if n < chunk.len() {
                            st.down.store(true, Ordering::SeqCst);
                        }
                        n
                    }
                }
            };
            if out.write_all(&chunk[..allowed]).is_err() {
                complete = false;
                break;
            }
            sent += allowed as u64;
            if allowed < chunk.len() {
                complete = false;
                break;
            }
        }
        lock(&st.log).push(Served {
            path: path.to_string(),
            status: 200,
            bytes: sent,
            complete,
        });
        if !complete {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
        if close {
            return;
        }
    }
}

/// Reads a whole response with the host's std only (for the server's own test).
#[cfg(test)]
fn get(port: u16, path: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut v = Vec::new();
    s.read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_logs_goes_down_mid_body_and_comes_back() {
        let dir = std::env::temp_dir().join(format!("atomboot-http-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("objects")).unwrap();
        std::fs::write(dir.join("objects/a"), vec![7u8; 100_000]).unwrap();
        let srv = BuildServer::start(&dir);
        let r = get(srv.port(), "/objects/a").unwrap();
        assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(r.ends_with(&[7u8; 100]));
        let r = get(srv.port(), "/../etc/passwd").unwrap();
        assert!(r.starts_with(b"HTTP/1.1 404"));
        srv.go_down_after(40_000);
        let r = get(srv.port(), "/objects/a").unwrap();
        let body_start = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(r.len() - body_start, 40_000, "cut mid-body");
        assert!(srv.is_down());
        // Down: a new connection is closed without an answer.
        match get(srv.port(), "/objects/a") {
            Ok(r) => assert_eq!(r, b""),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "{e}"
            ),
        }
        srv.come_back();
        assert!(get(srv.port(), "/objects/a")
            .unwrap()
            .starts_with(b"HTTP/1.1 200 OK"));
        let log = srv.log();
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!(
            log[2],
            Served {
                path: "/objects/a".into(),
                status: 200,
                bytes: 40_000,
                complete: false
            }
        );
        assert!(log[3].complete && log[3].bytes == 100_000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
