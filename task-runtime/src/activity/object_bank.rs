//! A bank over the `object_store` crate: local files and memory with the
//! `object-store` feature; Amazon S3, Google Cloud Storage and Azure Blob
//! Storage with `object-store-aws`, `-gcp` and `-azure`, chosen by URL.

use std::fmt;
use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

use super::{Bank, BankError};

/// A bank in an object store: one JSON object per key (`key.json`) under a
/// prefix. The store's async calls run on a private runtime, from a thread of
/// their own when the caller is already inside a runtime (an async activity).
///
/// ```
/// # use taskwire_runtime::activity::{Bank, ObjectStoreBank};
/// # use serde_json::json;
/// let bank = ObjectStoreBank::from_url("memory:///banks/a", Vec::<(String, String)>::new()).unwrap();
/// bank.put("cp1/server/vm1/metadata", &json!({"status": "active"})).unwrap();
/// assert_eq!(bank.list("cp1/").unwrap(), ["cp1/server/vm1/metadata"]);
/// ```
pub struct ObjectStoreBank {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for ObjectStoreBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreBank")
            .field("url", &self.url)
            .finish()
    }
}

impl ObjectStoreBank {
    /// A bank in `store` under `prefix` (`/`-separated; empty for the
    /// store's root); `url` names it in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        url: impl Into<String>,
    ) -> Result<ObjectStoreBank, BankError> {
        let url = url.into();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| BankError::Store {
                location: url.clone(),
                message: format!("cannot start its runtime: {e}"),
            })?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            StorePath::parse(prefix).map_err(|e| BankError::Store {
                location: url.clone(),
                message: format!("prefix `{prefix}` is not a valid object path: {e}"),
            })?;
        }
        Ok(ObjectStoreBank {
            store,
            prefix: prefix.to_owned(),
            url,
            rt,
        })
    }

    /// A bank from a URL: `memory:///prefix` (a new, empty store),
    /// `file:///abs/dir` (local files), and with their features
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`;
    /// `options` configure the store (`aws_region`, `google_service_account`,
    /// `azure_storage_account_name`, ... as `object_store` names them). A URL
    /// whose scheme is unknown or whose feature is off is an error saying so.
    pub fn from_url<K, V>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ObjectStoreBank, BankError>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let bad = |message: String| BankError::Store {
            location: url.to_owned(),
            message,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
        let (store, path) = object_store::parse_url_opts(&parsed, options).map_err(|e| {
            bad(format!(
                "{e} (known schemes: memory, file; s3, gs and az with the features \
                 `object-store-aws`, `-gcp`, `-azure`)"
            ))
        })?;
        ObjectStoreBank::new(Arc::from(store), path.as_ref(), url)
    }

    /// The URL it was made from (or given).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, key: &str) -> Result<StorePath, BankError> {
        let bad = || BankError::BadKey {
            key: key.to_owned(),
        };
        if key.is_empty()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'))
        {
            return Err(bad());
        }
        let full = if self.prefix.is_empty() {
            format!("{key}.json")
        } else {
            format!("{}/{key}.json", self.prefix)
        };
        StorePath::parse(&full).map_err(|_| bad())
    }

    fn error(&self, key: &str, e: object_store::Error) -> BankError {
        BankError::Store {
            location: format!("{}/{key}", self.url.trim_end_matches('/')),
            message: e.to_string(),
        }
    }

    /// Runs `fut` on the private runtime (from another thread inside a
    /// runtime, where blocking on one is not allowed).
    fn block<T: Send>(&self, fut: impl std::future::Future<Output = T> + Send) -> T {
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.rt.block_on(fut))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.rt.block_on(fut)
    }

    async fn list_under(
        &self,
        dir: Option<StorePath>,
    ) -> Result<Vec<StorePath>, object_store::Error> {
        let mut out = Vec::new();
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            let listed = self.store.list_with_delimiter(dir.as_ref()).await?;
            out.extend(listed.objects.into_iter().map(|m| m.location));
            stack.extend(listed.common_prefixes.into_iter().map(Some));
        }
        Ok(out)
    }
}

impl Bank for ObjectStoreBank {
    fn put(&self, key: &str, value: &Value) -> Result<(), BankError> {
        let path = self.path(key)?;
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| BankError::Store {
            location: key.to_owned(),
            message: e.to_string(),
        })?;
        self.block(self.store.put(&path, PutPayload::from(bytes)))
            .map(drop)
            .map_err(|e| self.error(key, e))
    }

    fn get(&self, key: &str) -> Result<Option<Value>, BankError> {
        let path = self.path(key)?;
        let bytes = self.block(async {
            match self.store.get(&path).await {
                Ok(got) => got.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let Some(bytes) = bytes.map_err(|e| self.error(key, e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BankError::Corrupt {
                path: format!("{}/{key}", self.url.trim_end_matches('/')).into(),
                message: e.to_string(),
            })
    }

    fn delete(&self, key: &str) -> Result<(), BankError> {
        let path = self.path(key)?;
        match self.block(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BankError> {
        // Object stores list by whole segments: list the prefix's directory,
        // then keep the keys that start with it.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let full = match (self.prefix.is_empty(), dir.is_empty()) {
            (true, true) => None,
            (true, false) => Some(dir.to_owned()),
            (false, true) => Some(self.prefix.clone()),
            (false, false) => Some(format!("{}/{dir}", self.prefix)),
        };
        let full = match full {
            Some(p) => Some(StorePath::parse(&p).map_err(|_| BankError::BadKey {
                key: prefix.to_owned(),
            })?),
            None => None,
        };
        let paths = self
            .block(self.list_under(full))
            .map_err(|e| self.error(prefix, e))?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut keys: Vec<String> = paths
            .iter()
            .filter_map(|p| {
                p.as_ref()
                    .strip_prefix(strip.as_str())
                    .and_then(|k| k.strip_suffix(".json"))
                    .filter(|k| k.starts_with(prefix))
                    .map(str::to_owned)
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}
