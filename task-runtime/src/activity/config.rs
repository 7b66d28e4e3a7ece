//! Providers from configuration: a directory of `*.conf` files (INI).
//!
//! Each file describes one provider:
//!
//! ```ini
//! [provider]
//! name = OS Infra Provider
//! id = cf56bd3e-97a7-4078-b6d5-f36246333fd9
//! description = Protects servers, volumes and images
//! bank = file-system
//! plugin = server
//! plugin = volume
//!
//! # Handed to the bank named `file-system` as its configuration.
//! [file-system]
//! path = target/protect-bank
//! ```
//!
//! `name`, `id` and `bank` are required, `plugin` may be repeated; any other
//! section is the configuration of the bank or plugin of that name (a section
//! that names neither is an error: it is most likely misspelt). Banks and
//! plugins are found by name in a [`Registry`]; [`Registry::new`] knows the
//! bank `file-system` ([`DirBank`], key `path`). Lines are `key = value`,
//! `[section]`, blank, or comments starting with `#` or `;`. Every mistake —
//! an unknown name, a missing `[provider]` section or key, a duplicate provider
//! id, a line that is none of the above — is an error naming the file, and the
//! line where there is one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ActivityError, Bank, DirBank, ProtectionPlugin, Provider};

/// One section of a configuration file, with the line of each entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section's name (`provider`, or a bank's or plugin's name).
    pub name: String,
    /// The file.
    pub file: PathBuf,
    /// The line of its `[name]` header (0 for a section the file lacks).
    pub line: u32,
    entries: Vec<(String, String, u32)>,
}

impl Section {
    fn empty(name: &str, file: &Path) -> Section {
        Section {
            name: name.to_owned(),
            file: file.to_owned(),
            line: 0,
            entries: Vec::new(),
        }
    }

    /// The value of `key` (the last one, if repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
            .collect()
    }

    /// The value of `key`, or a message saying it is missing.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("section `[{}]` has no `{key}`", self.name))
    }

    /// `(key, value, line)` of every entry, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, u32)> {
        self.entries
            .iter()
            .map(|(k, v, l)| (k.as_str(), v.as_str(), *l))
    }

    fn line_of(&self, key: &str) -> u32 {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or(self.line, |(_, _, l)| *l)
    }
}

/// Builds a plugin from its section.
pub type PluginFactory =
    dyn Fn(&Section) -> Result<Arc<dyn ProtectionPlugin>, String> + Send + Sync;
/// Builds a bank from its section.
pub type BankFactory = dyn Fn(&Section) -> Result<Arc<dyn Bank>, String> + Send + Sync;

/// The bank `object-store`: `url` (`file:///dir`, `memory:///`, `s3://bucket/prefix`,
/// ...) or `path` (a local directory, made if missing); every other key is an
/// option of the store (`aws_region = eu-west-1`).
#[cfg(feature = "object-store")]
fn object_store_bank(section: &Section) -> Result<Arc<dyn Bank>, String> {
    let options: Vec<(&str, &str)> = section
        .entries()
        .filter(|(k, _, _)| *k != "url" && *k != "path")
        .map(|(k, v, _)| (k, v))
        .collect();
    let url = match (section.get("url"), section.get("path")) {
        (Some(url), None) => url.to_owned(),
        (None, Some(path)) => {
            std::fs::create_dir_all(path).map_err(|e| format!("cannot make `{path}`: {e}"))?;
            let abs =
                std::fs::canonicalize(path).map_err(|e| format!("cannot resolve `{path}`: {e}"))?;
            url::Url::from_directory_path(&abs)
                .map_err(|()| format!("`{}` is not an absolute path", abs.display()))?
                .to_string()
        }
        (Some(_), Some(_)) => return Err("give `url` or `path`, not both".into()),
        (None, None) => {
            return Err(format!(
                "section `[{}]` has no `url` or `path`",
                section.name
            ))
        }
    };
    let bank = super::ObjectStoreBank::from_url(&url, options).map_err(|e| e.to_string())?;
    Ok(Arc::new(bank) as Arc<dyn Bank>)
}

/// Plugins and banks by name.
#[derive(Clone)]
pub struct Registry {
    plugins: BTreeMap<String, Arc<PluginFactory>>,
    banks: BTreeMap<String, Arc<BankFactory>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .field("banks", &self.banks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// A registry with the bank `file-system`: a [`DirBank`] in the directory
    /// given by its section's `path`; with the `object-store` feature, the bank
    /// `object-store` too: an `ObjectStoreBank` at
    /// its section's `url` (or local `path`), the section's other keys being
    /// the store's options.
    pub fn new() -> Registry {
        let mut registry = Registry::empty();
        registry.bank("file-system", |section| {
            let path = section.require("path")?;
            Ok(Arc::new(DirBank::new(path)) as Arc<dyn Bank>)
        });
        #[cfg(feature = "object-store")]
        registry.bank("object-store", object_store_bank);
        registry
    }

    /// A registry that knows no names.
    pub fn empty() -> Registry {
        Registry {
            plugins: BTreeMap::new(),
            banks: BTreeMap::new(),
        }
    }

    /// Registers plugin `name` (a second registration replaces the first).
    pub fn plugin(
        &mut self,
        name: impl Into<String>,
        factory: impl Fn(&Section) -> Result<Arc<dyn ProtectionPlugin>, String> + Send + Sync + 'static,
    ) -> &mut Registry {
        self.plugins.insert(name.into(), Arc::new(factory));
        self
    }

    /// Registers bank `name` (a second registration replaces the first).
    pub fn bank(
        &mut self,
        name: impl Into<String>,
        factory: impl Fn(&Section) -> Result<Arc<dyn Bank>, String> + Send + Sync + 'static,
    ) -> &mut Registry {
        self.banks.insert(name.into(), Arc::new(factory));
        self
    }
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or directory that cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not a section header, `key = value`, blank or a comment.
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// A file without a `[provider]` section.
    #[error("{}: no `[provider]` section: a provider file needs one, with `name`, `id`, `bank` and `plugin` lines", file.display())]
    NoProvider {
        /// The file.
        file: PathBuf,
    },
    /// A required key missing from `[provider]`.
    #[error("{}:{line}: `[provider]` has no `{key}`", file.display())]
    MissingKey {
        /// The file.
        file: PathBuf,
        /// The line of the section header.
        line: u32,
        /// The key.
        key: &'static str,
    },
    /// A bank or plugin name nothing registered.
    #[error("{}:{line}: unknown {what} `{name}`; registered {what}s: {}", file.display(), if known.is_empty() { "none".to_owned() } else { known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ") })]
    Unknown {
        /// The file.
        file: PathBuf,
        /// The line naming it.
        line: u32,
        /// `bank` or `plugin`.
        what: &'static str,
        /// The name.
        name: String,
        /// The registered names.
        known: Vec<String>,
    },
    /// A bank or plugin that refused its configuration.
    #[error("{}:{line}: {what} `{name}`: {message}", file.display())]
    Rejected {
        /// The file.
        file: PathBuf,
        /// The line of its section (or of the line naming it).
        line: u32,
        /// `bank` or `plugin`.
        what: &'static str,
        /// The name.
        name: String,
        /// Its message.
        message: String,
    },
    /// Two providers with one id.
    #[error("{}:{line}: provider id `{id}` is already used by `{}`", file.display(), first.display())]
    DuplicateId {
        /// The file with the second.
        file: PathBuf,
        /// The line of its `id`.
        line: u32,
        /// The id.
        id: String,
        /// The file with the first.
        first: PathBuf,
    },
    /// The provider cannot be assembled (two plugins for one resource type).
    #[error("{}:{line}: {source}", file.display())]
    Provider {
        /// The file.
        file: PathBuf,
        /// The line of the plugin that clashed.
        line: u32,
        /// Why.
        #[source]
        source: Box<ActivityError>,
    },
}

const PROVIDER_KEYS: [&str; 5] = ["name", "id", "description", "bank", "plugin"];

/// Reads the sections of an INI text.
fn parse(file: &Path, text: &str) -> Result<Vec<Section>, ConfigError> {
    let syntax = |line: u32, message: String| ConfigError::Syntax {
        file: file.to_owned(),
        line,
        message,
    };
    let mut sections: Vec<Section> = Vec::new();
    let mut parser = ini_core::Parser::new(text)
        .comment_char(b'#')
        .auto_trim(true);
    loop {
        let offset = text.len() - parser.remainder().len();
        let Some(item) = parser.next() else { break };
        let line = text[..offset].matches('\n').count() as u32 + 1;
        match item {
            ini_core::Item::Section(name) => {
                if name.is_empty() {
                    return Err(syntax(line, "a section needs a name: `[name]`".into()));
                }
                if let Some(first) = sections.iter().find(|s| s.name == name) {
                    return Err(syntax(
                        line,
                        format!(
                            "section `[{name}]` again (first on line {}); put its keys in one section",
                            first.line
                        ),
                    ));
                }
                sections.push(Section {
                    name: name.to_owned(),
                    file: file.to_owned(),
                    line,
                    entries: Vec::new(),
                });
            }
            ini_core::Item::Property(key, _) if key.starts_with(';') || key.starts_with('#') => {}
            ini_core::Item::Property(key, Some(value)) => {
                let Some(section) = sections.last_mut() else {
                    return Err(syntax(
                        line,
                        format!("`{key}` is outside any section: put a `[provider]` line above it"),
                    ));
                };
                if key.is_empty() {
                    return Err(syntax(line, format!("`= {value}` has no key")));
                }
                section
                    .entries
                    .push((key.to_owned(), value.to_owned(), line));
            }
            ini_core::Item::Property(key, None) | ini_core::Item::Error(key) => {
                return Err(syntax(
                    line,
                    format!("`{key}` is not `key = value`, a `[section]` or a comment"),
                ));
            }
            ini_core::Item::Comment(_) | ini_core::Item::Blank | ini_core::Item::SectionEnd => {}
        }
    }
    Ok(sections)
}

/// Loads the provider described by one file.
pub fn load_file(path: &Path, registry: &Registry) -> Result<Provider, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_text(path, &text, registry)
}

/// Loads the provider described by `text`, read from `file` (for messages).
pub fn from_text(file: &Path, text: &str, registry: &Registry) -> Result<Provider, ConfigError> {
    let sections = parse(file, text)?;
    let Some(provider) = sections.iter().find(|s| s.name == "provider") else {
        return Err(ConfigError::NoProvider {
            file: file.to_owned(),
        });
    };
    for (key, _, line) in provider.entries() {
        if !PROVIDER_KEYS.contains(&key) {
            return Err(ConfigError::Syntax {
                file: file.to_owned(),
                line,
                message: format!(
                    "unknown key `{key}` in `[provider]`; its keys are {}",
                    PROVIDER_KEYS.map(|k| format!("`{k}`")).join(", ")
                ),
            });
        }
        if key != "plugin" && provider.get_all(key).len() > 1 {
            let first = provider.line_of(key);
            if first != line {
                return Err(ConfigError::Syntax {
                    file: file.to_owned(),
                    line,
                    message: format!(
                        "`{key}` is given twice in `[provider]` (first on line {first})"
                    ),
                });
            }
        }
    }
    let required = |key: &'static str| {
        provider.get(key).ok_or(ConfigError::MissingKey {
            file: file.to_owned(),
            line: provider.line,
            key,
        })
    };
    let (name, id, bank_name) = (required("name")?, required("id")?, required("bank")?);
    let config_of = |name: &str| {
        sections
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| Section::empty(name, file))
    };

    let bank_line = provider.line_of("bank");
    let Some(factory) = registry.banks.get(bank_name) else {
        return Err(ConfigError::Unknown {
            file: file.to_owned(),
            line: bank_line,
            what: "bank",
            name: bank_name.to_owned(),
            known: registry.banks.keys().cloned().collect(),
        });
    };
    let section = config_of(bank_name);
    let bank = factory(&section).map_err(|message| ConfigError::Rejected {
        file: file.to_owned(),
        line: if section.line > 0 {
            section.line
        } else {
            bank_line
        },
        what: "bank",
        name: bank_name.to_owned(),
        message,
    })?;

    let mut out = Provider::new(name, id, bank);
    out.description = provider.get("description").unwrap_or_default().to_owned();
    for (key, plugin_name, line) in provider.entries() {
        if key != "plugin" {
            continue;
        }
        let Some(factory) = registry.plugins.get(plugin_name) else {
            return Err(ConfigError::Unknown {
                file: file.to_owned(),
                line,
                what: "plugin",
                name: plugin_name.to_owned(),
                known: registry.plugins.keys().cloned().collect(),
            });
        };
        let section = config_of(plugin_name);
        let plugin = factory(&section).map_err(|message| ConfigError::Rejected {
            file: file.to_owned(),
            line: if section.line > 0 { section.line } else { line },
            what: "plugin",
            name: plugin_name.to_owned(),
            message,
        })?;
        out.plugin(plugin_name, plugin)
            .map_err(|source| ConfigError::Provider {
                file: file.to_owned(),
                line,
                source: Box::new(source),
            })?;
    }
    // A section that configures nothing is most likely a misspelt name.
    let plugins = provider.get_all("plugin");
    for section in &sections {
        if section.name != "provider"
            && section.name != bank_name
            && !plugins.contains(&section.name.as_str())
        {
            return Err(ConfigError::Syntax {
                file: file.to_owned(),
                line: section.line,
                message: format!(
                    "section `[{}]` configures nothing: this provider's bank is `{bank_name}` and its plugins are {}",
                    section.name,
                    if plugins.is_empty() {
                        "none".to_owned()
                    } else {
                        plugins.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                    }
                ),
            });
        }
    }
    Ok(out)
}

/// Loads every `*.conf` file of `dir`, in name order; two providers with one
/// id are an error naming both files.
pub fn load_dir(dir: &Path, registry: &Registry) -> Result<Vec<Provider>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut providers: Vec<(Provider, PathBuf)> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Io {
            path: file.clone(),
            source,
        })?;
        let provider = from_text(&file, &text, registry)?;
        if let Some((_, first)) = providers.iter().find(|(p, _)| p.id == provider.id) {
            let line = parse(&file, &text)?
                .into_iter()
                .find(|s| s.name == "provider")
                .map_or(0, |s| s.line_of("id"));
            return Err(ConfigError::DuplicateId {
                file,
                line,
                id: provider.id,
                first: first.clone(),
            });
        }
        providers.push((provider, file));
    }
    Ok(providers.into_iter().map(|(p, _)| p).collect())
}
