//! `atomboot admin ...`: the deployer's verbs (OSTree's names and flags).

use crate::deploy::{self, bootfs, status, Admin, DeployOptions, Sysroot};
use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the sysroot and the boot partition are.
#[derive(Debug, Args)]
pub struct Where {
    /// The sysroot (root file system holding /ostree). Default: $OSTREE_SYSROOT, else / (a running
    /// system), as ostree.
    #[arg(long, global = true)]
    sysroot: Option<PathBuf>,
    /// The FAT boot partition: a mounted directory or an image file (bare FAT or an MBR disk image).
    /// Default: SYSROOT/boot.
    #[arg(long, global = true)]
    boot: Option<PathBuf>,
    /// The kernel command line naming the booted deployment. Default: /proc/cmdline when --sysroot is /,
    /// none (offline) otherwise.
    #[arg(long, global = true)]
    cmdline: Option<PathBuf>,
    /// Board profile for the device tree check (default: SYSROOT/ostree/atomboot/board).
    #[arg(long, global = true)]
    board: Option<String>,
    /// The OSTree repository to deploy from (default SYSROOT/ostree/repo).
    #[arg(long, global = true)]
    repo: Option<PathBuf>,
    /// Deploy from a plain-directory stand-in repository (refs/, commits/) instead of SYSROOT/ostree/repo.
    #[arg(long, global = true, hide = true)]
    tree_source: Option<PathBuf>,
}

/// The admin verbs.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the sysroot skeleton in DIR (and prepare --boot when given).
    InitFs {
        /// The new sysroot.
        dir: PathBuf,
    },
    /// Create a stateroot /ostree/deploy/OS.
    OsInit {
        /// The OS name.
        os: String,
    },
    /// Deploy a commit as the new default; the previous default becomes the fallback.
    Deploy {
        /// Stateroot.
        #[arg(long)]
        os: Option<String>,
        /// Kernel argument K=V to add (repeatable).
        #[arg(long = "karg")]
        kargs: Vec<String>,
        /// Start from the running kernel's arguments.
        #[arg(long)]
        karg_proc_cmdline: bool,
        /// Deploy even a commit that failed before, or whose device tree does not match the board.
        #[arg(long)]
        force: bool,
        /// Re-hash every object checked out (default: trusted as verified when it entered the repository).
        #[arg(long)]
        verify: bool,
        /// REF, REMOTE:REF or a commit checksum.
        refspec: String,
    },
    /// Show deployments and what the last boot did.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove deployment N (0-based, as `status` lists them).
    Undeploy {
        /// Index.
        n: usize,
    },
    /// Make deployment N the default.
    SetDefault {
        /// Make it the default even if its commit failed before.
        #[arg(long)]
        force: bool,
        /// Index.
        n: usize,
    },
    /// Make the fallback the default.
    Rollback,
    /// The running system is healthy: reset the boot counters in one env write.
    MarkGood,
    /// Remove boot files and deployments no loader copy names.
    Cleanup,
    /// A writable overlay on /usr of the booted deployment (dropped by the next deploy unless --hotfix).
    Unlock {
        /// Keep the overlay across deploys (a hotfix on this deployment).
        #[arg(long)]
        hotfix: bool,
    },
    /// A flashable disk image: MBR, FAT boot partition (board files, agent, boot.scr, boot files, loader
    /// copies, env pair), ext4 root with the sysroot and one deployment. Needs --board.
    Image {
        /// Stateroot.
        #[arg(long, default_value = "debian")]
        os: String,
        /// Kernel argument K=V (repeatable).
        #[arg(long = "karg")]
        kargs: Vec<String>,
        /// The agent binary to put in the boot partition's root.
        #[arg(long)]
        agent: Option<PathBuf>,
        /// The boot script (boot.scr, made with mkimage) for the boot partition's root.
        #[arg(long)]
        boot_scr: Option<PathBuf>,
        /// Every file of this directory goes to the boot partition's root (default target/board/BOARD
        /// when it exists).
        #[arg(long)]
        board_dir: Option<PathBuf>,
        /// Boot partition size in MiB.
        #[arg(long, default_value_t = 64)]
        boot_size: u64,
        /// Root partition size in MiB.
        #[arg(long, default_value_t = 512)]
        root_size: u64,
        /// Skip the device tree check.
        #[arg(long)]
        force: bool,
        /// What to deploy.
        refspec: String,
        /// The disk image to write.
        output: PathBuf,
    },
    /// Pull the default's origin ref and deploy it if it moved.
    Upgrade {
        /// Kernel argument K=V to add (repeatable).
        #[arg(long = "karg")]
        kargs: Vec<String>,
    },
}

/// The `admin` command with its location options.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    place: Where,
    #[command(subcommand)]
    cmd: AdminCommand,
}

impl Where {
    fn sysroot(&self) -> PathBuf {
        self.sysroot
            .clone()
            .unwrap_or_else(super::repo_compat::default_sysroot)
    }
}

fn board_of(place: &Where) -> Result<Option<deploy::board::BoardInfo>> {
    let name = match &place.board {
        Some(b) => Some(b.clone()),
        None => {
            std::fs::read_to_string(Sysroot::new(&physical_root(&place.sysroot())).board_file())
                .ok()
                .map(|s| s.trim().to_string())
        }
    };
    match name {
        None => Ok(None),
        Some(n) => deploy::board::lookup(&n)
            .map(Some)
            .ok_or_else(|| anyhow!("unknown board profile {n:?}")),
    }
}

fn cmdline_of(place: &Where) -> Result<Option<String>> {
    let path = match &place.cmdline {
        Some(p) => Some(p.clone()),
        None if place.sysroot() == Path::new("/") => Some(PathBuf::from("/proc/cmdline")),
        None => None,
    };
    path.map(|p| {
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    })
    .transpose()
}

/// On a running system `/` is the deployment; the physical root is mounted at `/sysroot` (OSTree's
/// convention, and the initramfs's). `--sysroot /` means that one when `/ostree/deploy` is not at `/`.
fn physical_root(given: &Path) -> PathBuf {
    if given == Path::new("/")
        && !Path::new("/ostree/deploy").is_dir()
        && Path::new("/sysroot/ostree/deploy").is_dir()
    {
        PathBuf::from("/sysroot")
    } else {
        given.to_path_buf()
    }
}

/// Runs an admin verb.
pub fn run(args: AdminArgs) -> Result<ExitCode> {
    let place = &args.place;
    let sysroot = place.sysroot();
    let root = physical_root(&sysroot);
    let boot_path = place.boot.clone().unwrap_or_else(|| sysroot.join("boot"));
    match &args.cmd {
        AdminCommand::InitFs { dir } => {
            deploy::verbs::init_fs(dir, place.board.as_deref())?;
            if let Some(b) = &place.boot {
                deploy::image::check_boot_volume(b)?;
                let mut fs = bootfs::open(b)?;
                deploy::verbs::init_boot(fs.as_mut())?;
            }
            println!("initialised sysroot {}", dir.display());
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::Image {
            os,
            kargs,
            agent,
            boot_scr,
            board_dir,
            boot_size,
            root_size,
            force,
            refspec,
            output,
        } => {
            let board = place
                .board
                .clone()
                .ok_or_else(|| anyhow!("admin image needs --board (am335x, qemu-virt)"))?;
            let mut files = Vec::new();
            let dir = board_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("target/board").join(&board));
            if board_dir.is_some() || dir.is_dir() {
                let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot list board files in {}", dir.display()))?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                names.sort();
                files.extend(names);
            }
            files.extend(agent.clone());
            files.extend(boot_scr.clone());
            let tree_source;
            let repo_source;
            let source: &dyn deploy::source::CommitSource = match &place.tree_source {
                Some(p) => {
                    tree_source = deploy::source::TreeSource::new(p);
                    &tree_source
                }
                None => {
                    let repo = place.repo.clone().ok_or_else(|| {
                        anyhow!("admin image needs --repo REPO (the OSTree repository holding REF)")
                    })?;
                    repo_source = deploy::source::RepoSource::new(&repo);
                    &repo_source
                }
            };
            let id = deploy::image::build(
                source,
                &deploy::image::ImageOptions {
                    board,
                    os: os.clone(),
                    refspec: refspec.clone(),
                    kargs: kargs.clone(),
                    boot_files: files,
                    boot_mib: *boot_size,
                    root_mib: *root_size,
                    force: *force,
                },
                output,
            )?;
            println!("wrote {} with {}", output.display(), id.path());
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::OsInit { os } => {
            deploy::verbs::os_init(&root, os)?;
            println!("stateroot {os} ready");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let read_only = matches!(args.cmd, AdminCommand::Status { .. });
    let boot = if read_only {
        bootfs::open_read_only(&boot_path)?
    } else {
        bootfs::open(&boot_path)?
    };
    let tree;
    let repo;
    let source: Option<&dyn deploy::source::CommitSource> = match &place.tree_source {
        Some(p) => {
            tree = deploy::source::TreeSource::new(p);
            Some(&tree)
        }
        None => {
            // Remotes also come from the sysroot's /etc/ostree/remotes.d (where ostree and Yocto
            // images put them on a device).
            repo = deploy::source::RepoSource::new(
                &place
                    .repo
                    .clone()
                    .unwrap_or_else(|| root.join("ostree/repo")),
            )
            .with_remotes_d(&sysroot.join("etc/ostree/remotes.d"));
            Some(&repo)
        }
    };
    let mut admin = Admin {
        sysroot: Sysroot::new(&root),
        boot,
        source,
        cmdline: cmdline_of(place)?,
        board: board_of(place)?,
    };
    match args.cmd {
        AdminCommand::InitFs { .. } | AdminCommand::OsInit { .. } | AdminCommand::Image { .. } => {
            unreachable!()
        }
        AdminCommand::Deploy {
            os,
            kargs,
            karg_proc_cmdline,
            force,
            verify,
            refspec,
        } => {
            let id = admin.deploy(&DeployOptions {
                os,
                refspec,
                kargs,
                karg_proc_cmdline,
                force,
                verify,
            })?;
            println!(
                "deployed {} (default at next boot; the previous default is the fallback)",
                id.path()
            );
        }
        AdminCommand::Status { json } => {
            let v = status::gather(&mut admin)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", status::render_text(&v));
            }
        }
        AdminCommand::Undeploy { n } => println!("{}", admin.undeploy(n)?),
        AdminCommand::SetDefault { n, force } => println!("{}", admin.set_default(n, force)?),
        AdminCommand::Rollback => println!("{}", admin.rollback()?),
        AdminCommand::MarkGood => println!("{}", admin.mark_good()?),
        AdminCommand::Cleanup => {
            for r in admin.cleanup()? {
                println!("removed {r}");
            }
        }
        AdminCommand::Unlock { hotfix } => {
            let live = sysroot == Path::new("/") && place.cmdline.is_none();
            let (id, upper) = admin.unlock(hotfix, live)?;
            println!(
                "{} unlocked ({}): /usr overlay upper directory {}{}",
                id.short(),
                if hotfix { "hotfix" } else { "development" },
                upper.display(),
                if live {
                    ""
                } else {
                    "; takes effect at the next boot"
                }
            );
        }
        AdminCommand::Upgrade { kargs } => {
            match admin.upgrade(&DeployOptions {
                kargs,
                ..Default::default()
            })? {
                Some(id) => println!("deployed {}", id.path()),
                None => println!("no upgrade available"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
