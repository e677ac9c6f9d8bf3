//! Opens the object store behind the storage root.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::StorageError;

/// The local directory behind `root`, when it is one.
pub fn local_dir(root: &str) -> Option<std::path::PathBuf> {
    match root.split_once("://") {
        None => Some(root.into()),
        Some(("file", path)) => Some(path.into()),
        Some(_) => None,
    }
}

/// Opens `root`: a local directory path (created if missing), or a `file://` URL.
pub fn open_store(root: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let open_err = |reason: String| StorageError::Open {
        root: root.to_owned(),
        reason,
    };
    let path = match root.split_once("://") {
        None => root,
        Some(("file", path)) => path,
        Some((scheme, _)) => {
            return Err(open_err(format!(
                "scheme {scheme}:// is not supported, use a local directory"
            )));
        }
    };
    std::fs::create_dir_all(path).map_err(|e| open_err(e.to_string()))?;
    let store = LocalFileSystem::new_with_prefix(path).map_err(|e| open_err(e.to_string()))?;
    Ok(Arc::new(store))
}
