//! The Debian packages the suite drives: `chromium` and `chromium-driver`
//! (the dashboard's browser tests) and `prometheus` (its `promtool` checks
//! `/metrics` and the alert rules in the book). Installed with apt-get when
//! missing and this runs as root (as on CI); otherwise fails at once with
//! one line saying how.
//!
//! Owns only that check: the suite finds each at its Debian path.

use std::path::Path;
use std::process::Command;

/// Each file the suite needs, and the package that has it.
const NEEDED: [(&str, &str); 3] = [
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
    ("/usr/bin/promtool", "prometheus"),
];

fn missing() -> Vec<&'static str> {
    NEEDED.iter().filter(|(file, _)| !Path::new(file).is_file()).map(|(_, package)| *package).collect()
}

fn root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure the packages are installed.
pub fn ensure() -> Result<(), String> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    if !root() {
        return Err(format!("the suite needs Debian's {0}: sudo apt-get install {0}", missing.join(" ")));
    }
    eprintln!("xtask: installing Debian's {} (the suite drives them)", missing.join(", "));
    crate::run(Command::new("apt-get").args(["update", "-q"]))?;
    crate::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q"])
            .args(&missing),
    )?;
    match self::missing().as_slice() {
        [] => Ok(()),
        still => Err(format!("apt-get ran, but the files of {} are missing", still.join(", "))),
    }
}
