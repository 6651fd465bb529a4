//! The plugin version store, written once for both databases: every
//! distinct component kept once by its sha256 (in chunks, written and read
//! one at a time), the versions of each task type (a component under a
//! name, with its sidecar and how it arrived), and each task type's
//! current version (`plugin_heads`). Every [`Dialect`] is a
//! [`PluginStore`]; each write is one statement, so a write that is cut
//! short leaves nothing half-done that a reader would trust.
//!
//! Owns the SQL of `plugin_chunks`, `plugin_blobs`, `plugin_versions` and
//! `plugin_heads`. It never validates or compiles a component (the
//! registry does) and never decides which version a node serves (the
//! `artifacts` module does).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::dialect::Dialect;
use super::sql::{Decoded, Param};
use super::*;
use crate::support::text_enum::text_enum;

/// The largest chunk a component is stored in.
pub const CHUNK_BYTES: usize = 1 << 20;

/// How a version first arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// A file a scan of some node's plugin directory found.
    Directory,
    /// `PUT /api/v1/plugins/{name}` (`taskbox plugin push`).
    Upload,
}

text_enum!(VersionSource { Directory = "directory", Upload = "upload" });

/// A version to record.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub name: String,
    pub digest: String,
    /// `task` or `command`.
    pub shape: String,
    /// The sidecar's TOML text, if it came with one.
    pub sidecar: Option<String>,
    pub source: VersionSource,
}

/// One version of a task type, with what refers to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct PluginVersion {
    pub name: String,
    /// sha256 of the component, hex.
    pub digest: String,
    pub size: i64,
    pub shape: String,
    #[sqlx(try_from = "String")]
    pub source: VersionSource,
    /// The sidecar's TOML text, if it came with one.
    pub sidecar: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Execution records that ran it (under this name).
    pub runs: i64,
    /// Configs pinned to it.
    pub pinned_by: i64,
    /// Is it the version every node serves for the name?
    #[sqlx(rename = "is_current")]
    pub current: bool,
}

/// A task type's current version, as nodes poll it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Head {
    pub name: String,
    /// `None`: no version is current (the task type is unknown).
    pub digest: Option<String>,
    /// Grows with every change of the row.
    pub revision: i64,
}

/// Why a version was not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptBecause {
    NotFound,
    /// Configs pin it.
    Pinned(i64),
    /// It is the current version.
    Current,
}

/// Components by digest, versions by name, and each name's current version.
#[async_trait]
pub trait PluginStore: super::CompiledStore + Send + Sync + 'static {
    /// Is the component complete in the store?
    async fn has_blob(&self, digest: &str) -> Result<bool, StoreError>;
    /// Stores the component `reader` yields (`size` bytes, whose sha256
    /// the caller computed as `digest`) a chunk at a time. Storing one
    /// that is there already changes nothing.
    async fn put_blob(
        &self,
        digest: &str,
        size: u64,
        reader: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<(), StoreError>;
    /// The component's bytes, if it is stored complete.
    async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Records a version (its component stored first), or refreshes when
    /// a known one was last seen and its sidecar.
    async fn record_version(&self, version: &NewVersion) -> Result<(), StoreError>;
    /// Makes `digest` the name's current version (an upload, a rollback).
    async fn set_current(&self, name: &str, digest: &str) -> Result<(), StoreError>;
    /// A directory scan found `digest` as the name's file: when it is not
    /// the file last recorded for the name, it becomes the current
    /// version (true). An unchanged file changes nothing.
    async fn directory_seen(&self, name: &str, digest: &str) -> Result<bool, StoreError>;
    /// The name's file with `digest` left the directory: if it was the
    /// current version, no version is current any more.
    async fn directory_gone(&self, name: &str, digest: &str) -> Result<(), StoreError>;
    /// Every name's current version.
    async fn heads(&self) -> Result<Vec<Head>, StoreError>;
    /// A stream that yields when a current version may have changed, from
    /// any node, where the database announces it (PostgreSQL: LISTEN);
    /// `None` where it does not (SQLite: one process, which publishes its
    /// own changes). The stream ends when the connection does.
    async fn head_changes(&self) -> Result<Option<HeadChanges>, StoreError>;
    /// The name's versions, most recently seen first.
    async fn versions(&self, name: &str) -> Result<Vec<PluginVersion>, StoreError>;
    async fn version(&self, name: &str, digest: &str) -> Result<Option<PluginVersion>, StoreError>;
    /// Whether the name's version `digest` is kept: one index lookup, where
    /// [`PluginStore::version`] also counts the version's records.
    async fn has_version(&self, name: &str, digest: &str) -> Result<bool, StoreError>;
    /// Deletes a version that is neither current nor pinned (and its
    /// component, if no other name has it).
    async fn delete_version(&self, name: &str, digest: &str) -> Result<Result<(), KeptBecause>, StoreError>;
    /// Deletes the name's versions beyond the `keep` most recently seen
    /// that are not current, not pinned and have no records; how many.
    async fn prune_versions(&self, name: &str, keep: u32) -> Result<u64, StoreError>;
}

/// Announcements that a current version may have changed.
pub type HeadChanges = futures::stream::BoxStream<'static, ()>;

/// The columns of [`PluginVersion`], over `plugin_versions v` joined with
/// its blob `b` and its name's head `h`.
const VERSION_SELECT: &str = "SELECT v.name, v.digest, b.size, v.shape, v.source, v.sidecar, \
     v.first_seen, v.last_seen, \
     (SELECT count(*) FROM task_executions e WHERE e.plugin_digest = v.digest AND e.task_type = v.name) AS runs, \
     (SELECT count(*) FROM task_configs c WHERE c.task_type = v.name AND c.plugin_digest = v.digest) AS pinned_by, \
     (h.digest IS NOT NULL AND h.digest = v.digest) AS is_current \
     FROM plugin_versions v JOIN plugin_blobs b ON b.digest = v.digest \
     LEFT JOIN plugin_heads h ON h.name = v.name";

/// A version that nothing keeps: not current, not pinned, no records.
const UNKEPT: &str = " AND NOT EXISTS (SELECT 1 FROM plugin_heads h WHERE h.name = v.name AND h.digest = v.digest) \
     AND NOT EXISTS (SELECT 1 FROM task_configs c WHERE c.task_type = v.name AND c.plugin_digest = v.digest)";

#[async_trait]
impl<D> PluginStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    Option<String>: Param<D::DB>,
    Vec<u8>: Param<D::DB>,
    i32: Param<D::DB>,
    i64: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    PluginVersion: Decoded<<D::DB as Database>::Row>,
    Head: Decoded<<D::DB as Database>::Row>,
    (i64, i32): Decoded<<D::DB as Database>::Row>,
    (i64,): Decoded<<D::DB as Database>::Row>,
    (String,): Decoded<<D::DB as Database>::Row>,
    (Vec<u8>,): Decoded<<D::DB as Database>::Row>,
    (Vec<u8>, Vec<u8>): Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn has_blob(&self, digest: &str) -> Result<bool, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("SELECT count(*) FROM plugin_blobs WHERE digest = ");
        q.push_bind(digest.to_owned());
        let (n,): (i64,) = q.build_query_as().fetch_one(self.pool()).await?;
        Ok(n > 0)
    }

    async fn put_blob(
        &self,
        digest: &str,
        size: u64,
        reader: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<(), StoreError> {
        if self.has_blob(digest).await? {
            return Ok(());
        }
        let mut chunk = vec![0u8; CHUNK_BYTES];
        let (mut seq, mut total) = (0i32, 0u64);
        loop {
            let filled = fill(reader, &mut chunk).await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if filled == 0 {
                break;
            }
            let mut q = QueryBuilder::<D::DB>::new("INSERT INTO plugin_chunks (digest, seq, data) VALUES (");
            let mut values = q.separated(", ");
            values.push_bind(digest.to_owned()).push_bind(seq).push_bind(chunk[..filled].to_vec());
            q.push(") ON CONFLICT (digest, seq) DO NOTHING");
            self.execute(q).await?;
            seq += 1;
            total += filled as u64;
        }
        if total != size {
            return Err(StoreError::Corrupt(format!("component of {total} bytes, expected {size}")));
        }
        // Written last: only now is the blob complete.
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO plugin_blobs (digest, size, chunks, created_at) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(digest.to_owned()).push_bind(total as i64).push_bind(seq).push_bind(Utc::now());
        q.push(") ON CONFLICT (digest) DO NOTHING");
        self.execute(q).await.map(|_| ())
    }

    async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("SELECT size, chunks FROM plugin_blobs WHERE digest = ");
        q.push_bind(digest.to_owned());
        let Some((size, chunks)) = q.build_query_as::<(i64, i32)>().fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let mut q = QueryBuilder::<D::DB>::new("SELECT data FROM plugin_chunks WHERE digest = ");
        q.push_bind(digest.to_owned()).push(" ORDER BY seq");
        let mut bytes = Vec::with_capacity(size.max(0) as usize);
        let mut read = 0;
        let mut rows = q.build_query_as::<(Vec<u8>,)>().fetch(self.pool());
        while let Some((data,)) = rows.try_next().await? {
            bytes.extend_from_slice(&data);
            read += 1;
        }
        if read != chunks || bytes.len() as i64 != size {
            return Err(StoreError::Corrupt(format!(
                "component {digest}: {read} of {chunks} chunks, {} of {size} bytes",
                bytes.len()
            )));
        }
        Ok(Some(bytes))
    }

    async fn record_version(&self, v: &NewVersion) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO plugin_versions (name, digest, shape, sidecar, source, first_seen, last_seen) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(v.name.clone()).push_bind(v.digest.clone()).push_bind(v.shape.clone());
        values.push_bind(v.sidecar.clone()).push_bind(v.source.to_string()).push_bind(now).push_bind(now);
        q.push(
            ") ON CONFLICT (name, digest) DO UPDATE SET last_seen = excluded.last_seen, \
             sidecar = excluded.sidecar",
        );
        self.execute(q).await.map(|_| ())
    }

    async fn set_current(&self, name: &str, digest: &str) -> Result<(), StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new("INSERT INTO plugin_heads (name, digest, updated_at) VALUES (");
        let mut values = q.separated(", ");
        values.push_bind(name.to_owned()).push_bind(digest.to_owned()).push_bind(Utc::now());
        q.push(
            ") ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, \
             revision = plugin_heads.revision + 1, updated_at = excluded.updated_at",
        );
        self.execute(q).await.map(|_| ())
    }

    async fn directory_seen(&self, name: &str, digest: &str) -> Result<bool, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO plugin_heads (name, digest, directory_digest, updated_at) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(name.to_owned()).push_bind(digest.to_owned()).push_bind(digest.to_owned());
        values.push_bind(Utc::now());
        q.push(
            ") ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, \
             directory_digest = excluded.directory_digest, revision = plugin_heads.revision + 1, \
             updated_at = excluded.updated_at \
             WHERE plugin_heads.directory_digest IS NULL \
             OR plugin_heads.directory_digest <> excluded.directory_digest",
        );
        Ok(self.execute(q).await? > 0)
    }

    async fn directory_gone(&self, name: &str, digest: &str) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "UPDATE plugin_heads SET digest = CASE WHEN digest = directory_digest THEN NULL ELSE digest END, \
             directory_digest = NULL, revision = revision + 1, updated_at = ",
        );
        q.push_bind(Utc::now()).push(" WHERE name = ").push_bind(name.to_owned());
        q.push(" AND directory_digest = ").push_bind(digest.to_owned());
        self.execute(q).await.map(|_| ())
    }

    async fn heads(&self) -> Result<Vec<Head>, StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new("SELECT name, digest, revision FROM plugin_heads ORDER BY name");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn head_changes(&self) -> Result<Option<HeadChanges>, StoreError> {
        self.listen_heads().await
    }

    async fn versions(&self, name: &str) -> Result<Vec<PluginVersion>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(VERSION_SELECT);
        q.push(" WHERE v.name = ").push_bind(name.to_owned());
        q.push(" ORDER BY v.last_seen DESC, v.digest");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn version(&self, name: &str, digest: &str) -> Result<Option<PluginVersion>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(VERSION_SELECT);
        q.push(" WHERE v.name = ").push_bind(name.to_owned());
        q.push(" AND v.digest = ").push_bind(digest.to_owned());
        Ok(q.build_query_as().fetch_optional(self.pool()).await?)
    }

    async fn has_version(&self, name: &str, digest: &str) -> Result<bool, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("SELECT count(*) FROM plugin_versions WHERE name = ");
        q.push_bind(name.to_owned()).push(" AND digest = ").push_bind(digest.to_owned());
        let (n,): (i64,) = q.build_query_as().fetch_one(self.pool()).await?;
        Ok(n > 0)
    }

    async fn delete_version(&self, name: &str, digest: &str) -> Result<Result<(), KeptBecause>, StoreError> {
        // One statement decides and deletes, so a pin or a rollback that
        // lands meanwhile either keeps the version or finds it gone.
        let mut q = QueryBuilder::<D::DB>::new("DELETE FROM plugin_versions AS v WHERE v.name = ");
        q.push_bind(name.to_owned()).push(" AND v.digest = ").push_bind(digest.to_owned()).push(UNKEPT);
        if self.execute(q).await? > 0 {
            drop_blob_if_unused(self, digest).await?;
            return Ok(Ok(()));
        }
        Ok(Err(match self.version(name, digest).await? {
            None => KeptBecause::NotFound,
            Some(v) if v.current => KeptBecause::Current,
            Some(v) => KeptBecause::Pinned(v.pinned_by),
        }))
    }

    async fn prune_versions(&self, name: &str, keep: u32) -> Result<u64, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("SELECT digest FROM plugin_versions WHERE name = ");
        q.push_bind(name.to_owned()).push(" ORDER BY last_seen DESC, digest");
        let all: Vec<(String,)> = q.build_query_as().fetch_all(self.pool()).await?;
        let mut pruned = 0;
        for (digest,) in all.into_iter().skip(keep as usize) {
            let mut q = QueryBuilder::<D::DB>::new("DELETE FROM plugin_versions AS v WHERE v.name = ");
            q.push_bind(name.to_owned()).push(" AND v.digest = ").push_bind(digest.clone()).push(UNKEPT);
            q.push(" AND NOT EXISTS (SELECT 1 FROM task_executions e WHERE e.plugin_digest = v.digest AND e.task_type = v.name)");
            if self.execute(q).await? > 0 {
                drop_blob_if_unused(self, &digest).await?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

/// Deletes a component no version has any more: its blob row first (so
/// no reader trusts it), then its chunks.
async fn drop_blob_if_unused<D>(store: &D, digest: &str) -> Result<(), StoreError>
where
    D: Dialect,
    String: Param<D::DB>,
{
    let unused = " AND NOT EXISTS (SELECT 1 FROM plugin_versions WHERE digest = ";
    let mut q = QueryBuilder::<D::DB>::new("DELETE FROM plugin_blobs WHERE digest = ");
    q.push_bind(digest.to_owned()).push(unused).push_bind(digest.to_owned()).push(")");
    store.execute(q).await?;
    let mut q = QueryBuilder::<D::DB>::new("DELETE FROM plugin_chunks WHERE digest = ");
    q.push_bind(digest.to_owned()).push(" AND NOT EXISTS (SELECT 1 FROM plugin_blobs WHERE digest = ");
    q.push_bind(digest.to_owned()).push(")");
    store.execute(q).await?;
    let mut q = QueryBuilder::<D::DB>::new("DELETE FROM plugin_compiled WHERE digest = ");
    q.push_bind(digest.to_owned()).push(" AND NOT EXISTS (SELECT 1 FROM plugin_blobs WHERE digest = ");
    q.push_bind(digest.to_owned()).push(")");
    store.execute(q).await.map(|_| ())
}

/// Reads until `buf` is full or the reader ends; how many bytes.
async fn fill(reader: &mut (dyn AsyncRead + Unpin + Send), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
