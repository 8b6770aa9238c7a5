//! What `cargo xtask ci`'s packaging step needs besides `cargo package` itself: the workspace's
//! members and which of them are published, and a clean slate for cargo's copies of the
//! packages it verifies.
//!
//! `cargo package --workspace` puts each `.crate` it makes in a local registry
//! (`<target>/package/tmp-registry`), and builds each package against the others from there.
//! cargo takes a registry's crates for immutable, which ours are not from one run to the next
//! (the next CI run on the same machine, a developer's second `cargo xtask ci`):
//!
//! - it unpacks each under `$CARGO_HOME/registry/src/<registry>/<name>-<version>` and, once a
//!   name and version is there, never unpacks it again;
//! - it judges a registry crate's build fresh by its name, version and settings, never by its
//!   files.
//!
//! Either would verify a package against its dependencies as they were at the first run. So
//! before the step, both are removed: the unpacked copies (only this workspace's published
//! packages, only in local registries, whose directory names start with `-`, having no host),
//! and their builds in the step's own target directory, [`TARGET_DIR`] (where every build of
//! one of our packages is one of those).

use std::path::{Path, PathBuf};

/// The packaging step's target directory (`--target-dir`, relative to the workspace root): the
/// `.crate` files and the verification builds, apart from the workspace's own builds, so that
/// [`prepare`] can remove the builds of our packages without touching those.
pub(crate) const TARGET_DIR: &str = "target/package-check";

/// A member of the workspace, as its manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// `[package] name`.
    pub(crate) name: String,
    /// False when the manifest says `publish = false`.
    pub(crate) publish: bool,
}

/// The members listed in the workspace manifest (a one-line `members = [...]`).
pub(crate) fn workspace_members(root: &Path) -> Result<Vec<Member>, String> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let manifest = read(root.join("Cargo.toml"))?;
    let members = manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("members = ["))
        .ok_or("the workspace manifest has no one-line `members = [...]`")?;
    members
        .trim_end_matches(']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|dir| {
            let manifest = read(root.join(dir).join("Cargo.toml"))?;
            let name = field(&manifest, "name")
                .ok_or_else(|| format!("{dir}/Cargo.toml has no `name`"))?;
            let publish = field(&manifest, "publish").as_deref() != Some("false");
            Ok(Member { name, publish })
        })
        .collect()
}

/// The value of the first `key = value` line (quotes removed): in a member's manifest, the
/// `[package]` section comes first.
fn field(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let value = line.trim().strip_prefix(key)?.trim_start();
        Some(value.strip_prefix('=')?.trim().trim_matches('"').to_owned())
    })
}

/// cargo's home: `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// Removes cargo's unpacked copies of `names` (any version) from the local registries under
/// `cargo_home`; returns the directories removed.
pub(crate) fn forget_unpacked(cargo_home: &Path, names: &[String]) -> Result<Vec<PathBuf>, String> {
    let src = cargo_home.join("registry").join("src");
    let registries = match std::fs::read_dir(&src) {
        Ok(entries) => entries,
        // Nothing unpacked yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", src.display())),
    };
    let mut removed = Vec::new();
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(packages) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for package in packages.flatten() {
            let dir = package.file_name().to_string_lossy().into_owned();
            let ours = names.iter().any(|name| {
                dir.strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                let path = package.path();
                std::fs::remove_dir_all(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}

/// Whether `file` (in a target directory's `deps`, `.fingerprint` or `build`) is a build of
/// one of `names`: `oidc-core-<hash>`, `liboidc_core-<hash>.rlib`, `oidc_core-<hash>.d`.
fn built_from(file: &str, names: &[String]) -> bool {
    let file = file.strip_prefix("lib").unwrap_or(file);
    names.iter().any(|name| {
        [name.clone(), name.replace('-', "_")].iter().any(|stem| {
            file.strip_prefix(stem.as_str())
                .is_some_and(|rest| rest.starts_with('-'))
        })
    })
}

/// Removes the builds of `names` from the `debug` profile of `target`; returns the files and
/// directories removed.
pub(crate) fn forget_built(target: &Path, names: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut removed = Vec::new();
    for dir in ["deps", ".fingerprint", "build"] {
        let dir = target.join("debug").join(dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if !built_from(&entry.file_name().to_string_lossy(), names) {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            gone.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Runs before `cargo package --workspace`: see the module documentation.
pub(crate) fn prepare(root: &Path) -> Result<(), String> {
    let published: Vec<String> = workspace_members(root)?
        .into_iter()
        .filter(|m| m.publish)
        .map(|m| m.name)
        .collect();
    if let Some(home) = cargo_home() {
        for dir in forget_unpacked(&home, &published)? {
            println!("==> removed cargo's unpacked copy {}", dir.display());
        }
    }
    let built = forget_built(&root.join(TARGET_DIR), &published)?;
    if !built.is_empty() {
        println!(
            "==> removed {} build files of the packages from {TARGET_DIR}",
            built.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only this workspace's packages, any version, and only in local registries: crates.io's
    /// unpacked crates, and a package whose name merely starts with one of ours, stay.
    #[test]
    fn forgets_only_our_packages_in_local_registries() {
        let home = std::env::temp_dir().join(format!("xtask-forget-{}", std::process::id()));
        let src = home.join("registry").join("src");
        let dirs = [
            "-14cd1cce6819ff87/oidc-core-0.1.0",
            "-14cd1cce6819ff87/oidc-core-extra-0.1.0",
            "-14cd1cce6819ff87/oidc-runtime-0.2.0-rc.1",
            "-0123456789abcdef/oidc-core-0.1.0",
            "index.crates.io-1949cf8c6b5b557f/oidc-core-0.1.0",
            "index.crates.io-1949cf8c6b5b557f/serde-1.0.228",
        ];
        for dir in dirs {
            std::fs::create_dir_all(src.join(dir).join("src")).unwrap();
        }
        let names = ["oidc-core".to_owned(), "oidc-runtime".to_owned()];
        let mut removed = forget_unpacked(&home, &names).unwrap();
        removed.sort();
        let expected = [
            "-0123456789abcdef/oidc-core-0.1.0",
            "-14cd1cce6819ff87/oidc-core-0.1.0",
            "-14cd1cce6819ff87/oidc-runtime-0.2.0-rc.1",
        ]
        .map(|dir| src.join(dir));
        assert_eq!(removed, expected);
        for dir in dirs {
            assert_eq!(
                src.join(dir).exists(),
                !expected.contains(&src.join(dir)),
                "{dir}"
            );
        }
        // A second run finds nothing more to remove, and a home with no registry is fine.
        assert!(forget_unpacked(&home, &names).unwrap().is_empty());
        std::fs::remove_dir_all(&home).unwrap();
        assert!(forget_unpacked(&home, &names).unwrap().is_empty());
    }

    /// The builds of our packages go, whatever their kind of file; the other crates' stay,
    /// and so do those whose name only starts like one of ours.
    #[test]
    fn forgets_only_the_builds_of_our_packages() {
        let target = std::env::temp_dir().join(format!("xtask-built-{}", std::process::id()));
        let debug = target.join("debug");
        let files = [
            "deps/liboidc_core-0123abcd.rlib",
            "deps/liboidc_core-0123abcd.rmeta",
            "deps/oidc_core-0123abcd.d",
            "deps/liboidc_core_extra-0123abcd.rlib",
            "deps/libserde-0123abcd.rlib",
            "deps/oidc-core.txt",
        ];
        for file in files {
            let path = debug.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"").unwrap();
        }
        let fingerprints = [
            "oidc-core-0123abcd",
            "oidc-runtime-4567ef01",
            "serde-0123abcd",
        ];
        for dir in fingerprints {
            std::fs::create_dir_all(debug.join(".fingerprint").join(dir)).unwrap();
        }
        let names = ["oidc-core".to_owned(), "oidc-runtime".to_owned()];
        let removed = forget_built(&target, &names).unwrap();
        let gone: Vec<PathBuf> = [
            "deps/liboidc_core-0123abcd.rlib",
            "deps/liboidc_core-0123abcd.rmeta",
            "deps/oidc_core-0123abcd.d",
            ".fingerprint/oidc-core-0123abcd",
            ".fingerprint/oidc-runtime-4567ef01",
        ]
        .iter()
        .map(|f| debug.join(f))
        .collect();
        assert_eq!(removed.len(), gone.len(), "{removed:?}");
        for path in &gone {
            assert!(
                removed.contains(path) && !path.exists(),
                "{}",
                path.display()
            );
        }
        for kept in [
            "deps/liboidc_core_extra-0123abcd.rlib",
            "deps/libserde-0123abcd.rlib",
            "deps/oidc-core.txt",
            ".fingerprint/serde-0123abcd",
        ] {
            assert!(debug.join(kept).exists(), "{kept}");
        }
        std::fs::remove_dir_all(&target).unwrap();
        assert!(forget_built(&target, &names).unwrap().is_empty());
    }

    /// The members and their `publish` flag, as in this workspace's manifests.
    #[test]
    fn reads_the_workspace_members() {
        let members = workspace_members(&crate::workspace_root()).unwrap();
        let find = |name: &str| members.iter().find(|m| m.name == name).cloned();
        assert_eq!(
            find("oidc-core"),
            Some(Member {
                name: "oidc-core".into(),
                publish: true
            })
        );
        assert_eq!(
            find("xtask"),
            Some(Member {
                name: "xtask".into(),
                publish: false
            })
        );
        assert!(members.len() >= 10, "{members:?}");
    }
}
