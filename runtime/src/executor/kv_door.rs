//! The key-value door (DESIGN §9): `wasi:keyvalue@0.2.0-draft2` (`store`,
//! `atomics`, `batch`) for guests, over whichever [`KeyValue`] the caller
//! hands the run. Closed unless the plugin's sidecar names buckets.
//!
//! Owns the guest's view: which buckets it may open (only those its sidecar
//! names; any other is `access-denied`), the sidecar's bounds it hands every
//! write (the store checks them, with the write), and turning every store
//! failure into an error value for the guest, never a trap and never a host
//! failure.

use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::capture::Capture;
use crate::contract::kv::{Bounds, KeyValue, KvError, PAGE};

wasmtime::component::bindgen!({
    path: "../wit/deps/keyvalue",
    world: "imports",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": OpenBucket,
        "wasi:keyvalue/atomics.cas": CasRead,
    },
});

use wasi::keyvalue::{atomics, batch, store};

/// A bucket a guest opened.
pub struct OpenBucket {
    name: String,
}

/// A key's value as a guest's `cas` read it.
pub struct CasRead {
    bucket: String,
    key: String,
    current: Option<Vec<u8>>,
}

/// One run's key-value grant.
#[derive(Clone)]
pub struct KvDoor {
    pub store: Arc<dyn KeyValue>,
    /// The buckets the plugin may open.
    pub buckets: Arc<[String]>,
    pub bounds: Bounds,
}

/// What the door's host functions reach of one run's state.
pub(crate) struct KvView<'a> {
    /// `None`: the plugin may open no bucket.
    pub(crate) door: Option<&'a KvDoor>,
    pub(crate) table: &'a mut ResourceTable,
    /// The run's log, for refusals.
    pub(crate) log: &'a Capture,
}

struct KeyValueData;

impl HasData for KeyValueData {
    type Data<'a> = KvView<'a>;
}

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

fn other(e: KvError) -> store::Error {
    store::Error::Other(e.to_string())
}

impl KvView<'_> {
    fn door(&self) -> Result<&KvDoor, store::Error> {
        self.door.ok_or(store::Error::AccessDenied)
    }

    fn bucket_name(&self, bucket: &Resource<OpenBucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.name.clone())
    }
}

/// Runs `op` on the door, turning a missing grant or a store error into an
/// error value for the guest.
macro_rules! on_door {
    ($state:expr, |$door:ident| $op:expr) => {{
        let $door = match $state.door() {
            Ok(door) => door.clone(),
            Err(e) => return Ok(Err(e)),
        };
        Ok($op.await.map_err(other))
    }};
}

impl store::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Answer<Resource<OpenBucket>> {
        let granted = self.door.is_some_and(|d| d.buckets.contains(&identifier));
        if !granted {
            self.log.write_line(
                "WARN",
                &format!("key-value bucket {identifier:?} refused: not in this plugin's key_value_stores"),
            );
            return Ok(Err(store::Error::AccessDenied));
        }
        Ok(Ok(self.table.push(OpenBucket { name: identifier })?))
    }
}

impl store::HostBucket for KvView<'_> {
    async fn get(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            door.bounds.check_key(&key)?;
            door.store.get(&name, &key).await
        })
    }

    async fn set(&mut self, bucket: Resource<OpenBucket>, key: String, value: Vec<u8>) -> Answer<()> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move { door.store.set(&name, &key, &value, &door.bounds).await })
    }

    async fn delete(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<()> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            door.bounds.check_key(&key)?;
            door.store.delete(&name, &key).await.map(|_| ())
        })
    }

    async fn exists(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<bool> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            door.bounds.check_key(&key)?;
            door.store.exists(&name, &key).await
        })
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<OpenBucket>,
        cursor: Option<String>,
    ) -> Answer<store::KeyResponse> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            let page = door.store.keys(&name, cursor.as_deref(), PAGE).await?;
            Ok::<_, KvError>(store::KeyResponse { keys: page.keys, cursor: page.cursor })
        })
    }

    async fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(&mut self, bucket: Resource<OpenBucket>, key: String, delta: i64) -> Answer<i64> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move { door.store.increment(&name, &key, delta, &door.bounds).await })
    }

    async fn swap(
        &mut self,
        cas: Resource<CasRead>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let door = match self.door() {
            Ok(door) => door.clone(),
            Err(e) => return Ok(Err(atomics::CasError::StoreError(e))),
        };
        let read = self.table.delete(cas)?;
        let swapped = door.store.compare_and_swap(
            &read.bucket,
            &read.key,
            read.current.as_deref(),
            &value,
            &door.bounds,
        );
        match swapped.await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Hand the guest a fresh read to retry with.
                let current = match door.store.get(&read.bucket, &read.key).await {
                    Ok(current) => current,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(other(e)))),
                };
                let fresh = self.table.push(CasRead { current, ..read })?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(other(e)))),
        }
    }
}

impl atomics::HostCas for KvView<'_> {
    async fn new(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<Resource<CasRead>> {
        let name = self.bucket_name(&bucket)?;
        let door = match self.door() {
            Ok(door) => door.clone(),
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = door.bounds.check_key(&key) {
            return Ok(Err(other(e)));
        }
        match door.store.get(&name, &key).await {
            Ok(current) => Ok(Ok(self.table.push(CasRead { bucket: name, key, current })?)),
            Err(e) => Ok(Err(other(e))),
        }
    }

    async fn current(&mut self, cas: Resource<CasRead>) -> Answer<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasRead>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                door.bounds.check_key(&key)?;
                found.push(door.store.get(&name, &key).await?.map(|v| (key, v)));
            }
            Ok::<_, KvError>(found)
        })
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            // All checked before any is written (the store checks each again).
            for (key, value) in &key_values {
                door.bounds.check_write(key, value)?;
            }
            for (key, value) in &key_values {
                door.store.set(&name, key, value, &door.bounds).await?;
            }
            Ok::<_, KvError>(())
        })
    }

    async fn delete_many(&mut self, bucket: Resource<OpenBucket>, keys: Vec<String>) -> Answer<()> {
        let name = self.bucket_name(&bucket)?;
        on_door!(self, |door| async move {
            for key in &keys {
                door.bounds.check_key(key)?;
                door.store.delete(&name, key).await?;
            }
            Ok::<_, KvError>(())
        })
    }
}

/// Adds the three interfaces to a linker whose store data gives a view.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    Imports::add_to_linker::<T, KeyValueData>(linker, view)
}
