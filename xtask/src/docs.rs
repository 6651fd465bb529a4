//! `cargo xtask docs`: the book in `docs/`, built by the pinned mdBook
//! (installed into `target/tools` on first use), then every relative link
//! and image of the built pages checked to name a file that exists. A page
//! listed in `SUMMARY.md` but missing fails mdBook itself
//! (`create-missing = false` in `docs/book.toml`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The mdBook release the book is built with (rust-version 1.88).
const MDBOOK_VERSION: &str = "0.5.4";

pub fn build(root: &Path) -> Result<(), String> {
    let mdbook = install(root)?;
    crate::run(Command::new(&mdbook).current_dir(root).args(["build", "docs"]))?;
    let book = root.join("target/book");
    let broken = broken_links(&book)?;
    if !broken.is_empty() {
        return Err(format!("the book has {} broken link(s):\n  {}", broken.len(), broken.join("\n  ")));
    }
    eprintln!("xtask: the book is in {} (no broken links)", book.join("index.html").display());
    Ok(())
}

/// `target/tools/bin/mdbook` at the pinned version, installed if missing.
fn install(root: &Path) -> Result<PathBuf, String> {
    let tools = root.join("target/tools");
    let mdbook = tools.join("bin/mdbook");
    let version = Command::new(&mdbook).arg("--version").output();
    if version.is_ok_and(|v| String::from_utf8_lossy(&v.stdout).contains(MDBOOK_VERSION)) {
        return Ok(mdbook);
    }
    eprintln!("xtask: installing mdbook {MDBOOK_VERSION} into {} (a few minutes, once)", tools.display());
    crate::run(
        crate::cargo()
            .args(["install", "mdbook", "--version", MDBOOK_VERSION, "--locked", "--root"])
            .arg(&tools),
    )?;
    Ok(mdbook)
}

/// Every `href`/`src` of the built pages that is relative and names no file.
fn broken_links(book: &Path) -> Result<Vec<String>, String> {
    let mut pages = Vec::new();
    html_files(book, &mut pages)?;
    let mut broken = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
        for link in links(&text) {
            let target = link.split(['#', '?']).next().unwrap_or_default();
            if target.is_empty() || target.contains(':') || target.starts_with("//") {
                continue;
            }
            let dir = page.parent().expect("a page is in a folder");
            let resolved = if let Some(absolute) = target.strip_prefix('/') {
                book.join(absolute)
            } else {
                dir.join(target)
            };
            if !resolved.exists() {
                let from = page.strip_prefix(book).unwrap_or(&page).display().to_string();
                broken.push(format!("{from}: {link}"));
            }
        }
    }
    broken.sort();
    broken.dedup();
    Ok(broken)
}

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            html_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
    Ok(())
}

/// The values of `href="…"` and `src="…"` attributes in `html`.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].replace("&amp;", "&"));
                rest = &rest[end..];
            }
        }
    }
    found
}
