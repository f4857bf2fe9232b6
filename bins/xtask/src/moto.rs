//! `cargo xtask moto up|down`: moto's server mode (PyPI `moto[server]`), a widely used AWS API emulator, on a free
//! loopback port. The endpoint goes to `target/moto/endpoint` for tests to read.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{alive, free_port};
use crate::say;

fn dir(root: &Path) -> PathBuf {
    root.join("target/moto")
}

pub(crate) fn run(root: &Path, action: Option<&str>) -> Result<()> {
    match action {
        Some("up") => up(root),
        Some("down") => down(root),
        _ => bail!("usage: cargo xtask moto <up|down>"),
    }
}

/// The endpoint of the running moto.
pub(crate) fn endpoint(root: &Path) -> Result<String> {
    let path = dir(root).join("endpoint");
    let endpoint = fs::read_to_string(&path)
        .with_context(|| format!("reading {}: is moto up? (cargo xtask moto up)", path.display()))?;
    Ok(endpoint.trim().to_string())
}

fn installed() -> bool {
    Command::new("moto_server").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Installs moto's server from PyPI unless it is there.
pub(crate) fn install() -> Result<()> {
    if installed() {
        return Ok(());
    }
    say("installing moto[server] with pip");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "moto[server]>=5.1,<6"])
        .status()
        .context("python3 is not on PATH: install Python 3 with pip and retry")?;
    if !status.success() || !installed() {
        bail!("`python3 -m pip install moto[server]` failed ({status}); install it by hand and retry");
    }
    Ok(())
}

fn up(root: &Path) -> Result<()> {
    let dir = dir(root);
    if let Ok(pid) = fs::read_to_string(dir.join("pid"))
        && pid.trim().parse().is_ok_and(alive)
    {
        say(&format!("moto is already running at {}", fs::read_to_string(dir.join("endpoint"))?.trim()));
        return Ok(());
    }
    install()?;
    fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let log = fs::File::create(dir.join("moto.log"))?;
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("could not start moto_server")?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let code =
            Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &endpoint]).output();
        if code.is_ok_and(|o| o.stdout.starts_with(b"2")) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("moto did not answer at {endpoint} within 30 s; see {}", dir.join("moto.log").display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    fs::write(dir.join("pid"), child.id().to_string())?;
    fs::write(dir.join("endpoint"), &endpoint)?;
    say(&format!("moto up at {endpoint} in {:.1} s", started.elapsed().as_secs_f64()));
    Ok(())
}

fn down(root: &Path) -> Result<()> {
    let dir = dir(root);
    if let Ok(pid) = fs::read_to_string(dir.join("pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
        say(&format!("stopped moto (pid {})", pid.trim()));
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}
