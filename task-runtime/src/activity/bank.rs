//! Banks: where checkpoints are kept.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where a provider keeps its checkpoints: JSON values under `/`-separated
/// keys (`checkpoint/type/id/name`).
pub trait Bank: Send + Sync + fmt::Debug {
    /// Stores `value` under `key`, replacing what was there.
    fn put(&self, key: &str, value: &Value) -> Result<(), BankError>;
    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Value>, BankError>;
    /// Deletes `key` (deleting a missing key is not an error).
    fn delete(&self, key: &str) -> Result<(), BankError>;
    /// The keys that start with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, BankError>;
}

/// Why a bank operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// A key that is empty, absolute, or has an empty, `.` or `..` segment.
    #[error(
        "bank key `{key}` is not valid: keys are `/`-separated names, none empty, `.` or `..`"
    )]
    BadKey {
        /// The key.
        key: String,
    },
    /// The file system said no.
    #[error("bank file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An object store that said no, or cannot be reached or configured.
    #[error("bank object `{location}`: {message}")]
    Store {
        /// The store's URL and the key, or the URL alone.
        location: String,
        /// Why.
        message: String,
    },
    /// A stored file that is not JSON.
    #[error("bank file `{path}` is not JSON: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// A bank in a directory: one JSON file per key (`key.json`), written to a
/// temporary file, synced, then renamed into place.
#[derive(Debug, Clone)]
pub struct DirBank {
    root: PathBuf,
}

impl DirBank {
    /// A bank in `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> DirBank {
        DirBank { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, BankError> {
        let bad = || BankError::BadKey {
            key: key.to_owned(),
        };
        if key.is_empty() {
            return Err(bad());
        }
        let mut path = self.root.clone();
        let segments: Vec<&str> = key.split('/').collect();
        for (i, &segment) in segments.iter().enumerate() {
            if segment.is_empty()
                || segment == "."
                || segment == ".."
                || segment.contains('\\')
                || segment.contains('\0')
            {
                return Err(bad());
            }
            if i + 1 == segments.len() {
                path.push(format!("{segment}.json"));
            } else {
                path.push(segment);
            }
        }
        Ok(path)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BankError + '_ {
    move |source| BankError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Bank for DirBank {
    fn put(&self, key: &str, value: &Value) -> Result<(), BankError> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| BankError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    fn get(&self, key: &str) -> Result<Option<Value>, BankError> {
        let path = self.path(key)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BankError::Corrupt {
                path,
                message: e.to_string(),
            })
    }

    fn delete(&self, key: &str) -> Result<(), BankError> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BankError> {
        let mut keys = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io(&dir))?;
                let path = entry.path();
                if entry.file_type().map_err(io(&path))?.is_dir() {
                    stack.push(path);
                } else if let Some(key) = path
                    .strip_prefix(&self.root)
                    .ok()
                    .and_then(|rel| rel.to_str())
                    .and_then(|rel| rel.strip_suffix(".json"))
                {
                    let key = key.replace(std::path::MAIN_SEPARATOR, "/");
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}
