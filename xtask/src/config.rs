//! Per-provider code generation settings, read from `specs/<provider>/codegen.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The contents of one `specs/<provider>/codegen.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The crate that receives `src/generated.rs`, relative to the workspace root.
    pub crate_dir: PathBuf,
    /// The provider's OpenAPI documents, relative to the spec folder, merged in this order.
    pub documents: Vec<PathBuf>,
    /// The repair file, relative to the spec folder.
    pub patch: Option<PathBuf>,
    /// The folder of documented example payloads, relative to the spec folder.
    pub examples: Option<PathBuf>,
    /// Total timeout of the generated `Client::new`, in seconds.
    pub timeout_secs: u64,
    /// Schema name -> Rust path of a hand-written replacement type.
    #[serde(default)]
    pub replace: BTreeMap<String, String>,
    /// Provider-specific settings of the validator's rules.
    #[serde(default)]
    pub validate: crate::validate::Policy,
}

/// A provider: its name (the folder under `specs/`), its folder and its settings.
#[derive(Debug)]
pub struct Provider {
    /// The folder name under `specs/`, e.g. `rocketreach`.
    pub name: String,
    /// `specs/<name>`.
    pub spec_dir: PathBuf,
    /// The parsed `codegen.toml`.
    pub config: ProviderConfig,
}

impl Provider {
    /// The path of the generated file.
    pub fn generated_path(&self, root: &Path) -> PathBuf {
        root.join(&self.config.crate_dir)
            .join("src")
            .join("generated.rs")
    }

    /// The path of the generated subcommands of the `tollgate` command.
    pub fn cli_path(&self, root: &Path) -> PathBuf {
        root.join("crates")
            .join("cli")
            .join("src")
            .join("generated")
            .join(format!("{}.rs", self.name))
    }

    /// The path of the repaired document the sandbox serves.
    pub fn sandbox_spec_path(&self, root: &Path) -> PathBuf {
        root.join("crates")
            .join("sandbox")
            .join("specs")
            .join(format!("{}.json", self.name))
    }
}

/// Every provider under `specs/`, sorted by name, or only `only` when given.
pub fn providers(root: &Path, only: Option<&str>) -> Result<Vec<Provider>> {
    let specs = root.join("specs");
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&specs).with_context(|| format!("reading {}", specs.display()))?;
    for entry in entries {
        let entry = entry?;
        let config_path = entry.path().join("codegen.toml");
        if !config_path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let config: ProviderConfig = toml::from_str(&text)
            .with_context(|| format!("{}: invalid codegen settings", config_path.display()))?;
        if config.documents.is_empty() {
            bail!("{}: `documents` is empty", config_path.display());
        }
        out.push(Provider {
            name,
            spec_dir: entry.path(),
            config,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(only) = only {
        out.retain(|p| p.name == only);
        if out.is_empty() {
            bail!(
                "no provider named `{only}` under {} (expected specs/{only}/codegen.toml)",
                specs.display()
            );
        }
    }
    Ok(out)
}
