//! The browser the dashboard's tests drive: Debian's `chromium` and
//! `chromium-driver`. Installed with apt-get when missing and this runs as
//! root (as on CI); otherwise fails at once with one line saying how.
//!
//! Owns only that check: the suite finds both at their Debian paths.

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

fn present() -> bool {
    Path::new(CHROMIUM).is_file() && Path::new(DRIVER).is_file()
}

fn root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure Chromium and its WebDriver are installed.
pub fn ensure() -> Result<(), String> {
    if present() {
        return Ok(());
    }
    if !root() {
        return Err(
            "the dashboard's browser tests need Chromium: sudo apt-get install chromium chromium-driver"
                .into(),
        );
    }
    eprintln!("xtask: installing Debian's chromium and chromium-driver (the dashboard's browser tests)");
    crate::run(Command::new("apt-get").args(["update", "-q"]))?;
    crate::run(Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args([
        "install",
        "-y",
        "-q",
        "chromium",
        "chromium-driver",
    ]))?;
    if present() {
        Ok(())
    } else {
        Err(format!("apt-get installed chromium, but {CHROMIUM} or {DRIVER} is missing"))
    }
}
