//! Processes the harness starts: free loopback ports for them and whether they still run.

use std::fs;
use std::net::TcpListener;
use std::path::Path;

use anyhow::{Context, Result};

/// A loopback port nothing listens on at the moment of asking.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// True while the process exists and has not exited (a zombie has exited but not yet been reaped).
pub(crate) fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}
