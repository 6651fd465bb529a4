//! Which host directories a sidecar may grant (its `dirs`), decided once
//! here for every way a plugin arrives. An API admin must not become the
//! host, so:
//!
//! - an upload may grant only absolute paths inside the roots the operator
//!   names (`TASKBOX_ALLOWED_DIRS`; none by default, so no directory);
//! - a file in the plugin directory may also grant its own directory and
//!   what is below it (a relative path is taken from there);
//! - a path is judged after resolving it (`..` and every symlink), so a
//!   symlink planted inside a root cannot lead out of it; the resolved
//!   path is what the run gets;
//! - never `/proc`, `/sys`, `/dev`, nor a directory that holds or lies
//!   inside what taskbox keeps to itself (the database file, the key file,
//!   the artifact cache), whatever the roots say.
//!
//! A refusal names the entry as written, never a resolved host path.

use std::path::{Path, PathBuf};

use super::origin::Origin;

/// What the host keeps from every plugin, whatever the roots allow.
const SYSTEM: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The directories a sidecar may grant on this node (by default: none but
/// a directory file's own plugin directory).
#[derive(Debug, Clone)]
pub struct DirPolicy {
    /// `TASKBOX_ALLOWED_DIRS`, resolved.
    roots: Vec<PathBuf>,
    /// Paths no grant may hold or lie inside, resolved.
    forbidden: Vec<PathBuf>,
}

impl Default for DirPolicy {
    fn default() -> Self {
        Self::new(&[], &[])
    }
}

impl DirPolicy {
    /// The roots the operator allows, and what taskbox keeps to itself
    /// (the database file, the key file, the artifact cache: those that
    /// exist are resolved; the system directories are always kept).
    pub fn new(roots: &[PathBuf], own: &[PathBuf]) -> Self {
        // What does not exist yet (a key file made at start) is kept by
        // the path it will have.
        let future = |p: &PathBuf| {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some(parent.canonicalize().ok()?.join(p.file_name()?))
        };
        let own = own.iter().filter_map(|p| p.canonicalize().ok().or_else(|| future(p)));
        let forbidden = SYSTEM.iter().map(PathBuf::from).chain(own).collect();
        Self { roots: roots.iter().filter_map(|p| p.canonicalize().ok()).collect(), forbidden }
    }

    /// The host directory the run gets for the entry `guest = host`, of a
    /// sidecar that arrived as `origin` beside `plugin_dir`; or why not.
    pub fn grant(
        &self,
        guest: &str,
        host: &Path,
        plugin_dir: &Path,
        origin: Origin,
    ) -> Result<PathBuf, String> {
        let written = host.display();
        let refuse = |why: String| format!("dirs.{guest:?} = {written:?}: {why}");
        let path = match (host.is_absolute(), origin) {
            (true, _) => host.to_owned(),
            (false, Origin::Directory) => plugin_dir.join(host),
            (false, Origin::Upload) => {
                return Err(refuse(
                    "an uploaded sidecar must name an absolute directory inside TASKBOX_ALLOWED_DIRS".into(),
                ));
            }
        };
        let resolved = path.canonicalize().map_err(|_| refuse("no such directory on this node".into()))?;
        if !resolved.is_dir() {
            return Err(refuse("not a directory".into()));
        }
        let own = match origin {
            Origin::Directory => plugin_dir.canonicalize().ok(),
            Origin::Upload => None,
        };
        if !self.roots.iter().chain(&own).any(|root| resolved.starts_with(root)) {
            let allowed = match origin {
                Origin::Directory => "the plugin directory or TASKBOX_ALLOWED_DIRS",
                Origin::Upload => "TASKBOX_ALLOWED_DIRS",
            };
            return Err(refuse(format!(
                "outside the directories this node lets plugins read ({allowed}; symlinks and .. resolved)"
            )));
        }
        if self.forbidden.iter().any(|f| resolved.starts_with(f) || f.starts_with(&resolved)) {
            return Err(refuse(
                "holds or lies inside what the host keeps from plugins (/proc, /sys, /dev, the database, \
                 the key file, the artifact cache)"
                    .into(),
            ));
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resolved_paths_inside_a_root_and_outside_what_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let plugins = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("data")).unwrap();
        std::fs::create_dir(root.path().join("cache")).unwrap();
        std::os::unix::fs::symlink("/", root.path().join("escape")).unwrap();
        let policy = DirPolicy::new(&[root.path().to_owned()], &[root.path().join("cache")]);
        let data = root.path().join("data");
        assert!(policy.grant("/d", &data, plugins.path(), Origin::Upload).is_ok());
        for bad in [root.path().join("escape"), root.path().join("data/../.."), root.path().join("cache")] {
            let e = policy.grant("/d", &bad, plugins.path(), Origin::Upload).unwrap_err();
            assert!(e.starts_with("dirs.\"/d\""), "{e}");
        }
        assert!(policy.grant("/d", Path::new("data"), plugins.path(), Origin::Upload).is_err(), "relative");
        assert!(policy.grant("/p", Path::new("/proc/self"), plugins.path(), Origin::Upload).is_err());
        let everywhere = DirPolicy::new(&[PathBuf::from("/")], &[]);
        assert!(
            everywhere.grant("/h", Path::new("/"), plugins.path(), Origin::Upload).is_err(),
            "holds /proc"
        );
        std::fs::create_dir(plugins.path().join("own")).unwrap();
        let none = DirPolicy::new(&[], &[]);
        assert!(none.grant("/o", Path::new("own"), plugins.path(), Origin::Directory).is_ok());
        assert!(none.grant("/o", Path::new(".."), plugins.path(), Origin::Directory).is_err());
    }
}
