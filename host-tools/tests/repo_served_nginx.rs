//! A repository made by atomboot, served the usual way: nginx (scripts/setup.sh installs nginx-light)
//! running its workers as `www-data`, as Debian's nginx does, so every file of the repository must be
//! readable by another user. Both `ostree` and atomboot pull from it and get the same commit. A missing
//! nginx or ostree fails the test.

#[path = "dropin_common.rs"]
mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(root: &Path, work: &Path) -> Nginx {
        // A free loopback port (nginx cannot be asked for an ephemeral one).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(work.join("tmp")).unwrap();
        let conf = work.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process on;\nuser www-data;\nworker_processes 1;\npid {w}/nginx.pid;\n\
                 error_log {w}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  \
                 client_body_temp_path {w}/tmp;\n  proxy_temp_path {w}/tmp;\n  fastcgi_temp_path {w}/tmp;\n  \
                 uwsgi_temp_path {w}/tmp;\n  scgi_temp_path {w}/tmp;\n  server {{\n    listen 127.0.0.1:{port};\n    \
                 root {r};\n  }}\n}}\n",
                w = work.display(),
                r = root.display()
            ),
        )
        .unwrap();
        let child = Command::new(which("nginx"))
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (scripts/setup.sh installs nginx-light)");
        let n = Nginx { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(work.join("error.log")).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_repo_made_by_atomboot_is_pulled_through_nginx_as_www_data() {
    let tmp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    // The served tree must be traversable by www-data (tempdir makes 0700 directories).
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let tree = tmp.path().join("tree");
    os_tree(&tree, 1, "usr/etc");
    let env = vec![];
    // umask 022 as a build machine's shell has it: directories 0755, and the files must be 0644.
    let made = sh(
        Tool::Atomboot,
        tmp.path(),
        &www,
        &env,
        &format!(
            "set -e\numask 022\nostree --repo=repo init --mode=archive\n\
             ostree --repo=repo commit -b os/stable -s one {}\nostree --repo=repo summary -u",
            tree.display()
        ),
    );
    assert_eq!(made.code, 0, "{made:?}");
    let commit = made.stdout.trim().to_string();
    let nginx = Nginx::start(&www, &tmp.path().join("nginx"));
    let url = format!("http://127.0.0.1:{}/repo", nginx.port);
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let dir = tmp.path().join(format!("client-{}", tool.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let o = sh(
            tool,
            tmp.path(),
            &dir,
            &env,
            &format!(
                "set -e\nostree --repo=r init --mode=archive\n\
                 ostree --repo=r remote add --no-gpg-verify origin {url}\n\
                 ostree --repo=r remote refs origin\nostree --repo=r pull origin os/stable\n\
                 ostree --repo=r rev-parse origin:os/stable\nostree --repo=r fsck >/dev/null"
            ),
        );
        assert_eq!(o.code, 0, "{}: {o:?}", tool.name());
        assert!(
            o.stdout.starts_with("origin:os/stable\n") && o.stdout.trim_end().ends_with(&commit),
            "{}: {}",
            tool.name(),
            o.stdout
        );
    }
}
