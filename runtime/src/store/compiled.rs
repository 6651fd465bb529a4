//! Compiled code shared by the fleet: the machine code one node compiled
//! from a component, kept by the component's digest and the engine's
//! compatibility key, with the MAC that node computed over it, so another
//! node with the same engine loads it instead of compiling.
//!
//! Owns those rows only. It never computes or checks a MAC (the caller
//! must check it before loading: compiled code is native code), and
//! never loads anything.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};

use super::StoreError;
use super::dialect::Dialect;
use super::sql::{Decoded, Param};

/// One compiled artifact and the MAC its compiling node put on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub mac: Vec<u8>,
    pub artifact: Vec<u8>,
}

#[async_trait]
pub trait CompiledStore: Send + Sync {
    /// The artifact compiled from component `digest` by an engine whose
    /// compatibility key is `engine`, if a node shared one.
    async fn compiled(&self, digest: &str, engine: &str) -> Result<Option<Compiled>, StoreError>;
    /// Shares one, replacing any other for the same pair (one that failed
    /// its check is replaced by the node that then compiled it).
    async fn put_compiled(&self, digest: &str, engine: &str, compiled: &Compiled) -> Result<(), StoreError>;
}

#[async_trait]
impl<D> CompiledStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    Vec<u8>: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    (Vec<u8>, Vec<u8>): Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn compiled(&self, digest: &str, engine: &str) -> Result<Option<Compiled>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("SELECT mac, artifact FROM plugin_compiled WHERE digest = ");
        q.push_bind(digest.to_owned()).push(" AND engine = ").push_bind(engine.to_owned());
        let row = q.build_query_as::<(Vec<u8>, Vec<u8>)>().fetch_optional(self.pool()).await?;
        Ok(row.map(|(mac, artifact)| Compiled { mac, artifact }))
    }

    async fn put_compiled(&self, digest: &str, engine: &str, compiled: &Compiled) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO plugin_compiled (digest, engine, mac, artifact, created_at) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(digest.to_owned()).push_bind(engine.to_owned());
        values.push_bind(compiled.mac.clone()).push_bind(compiled.artifact.clone()).push_bind(Utc::now());
        q.push(
            ") ON CONFLICT (digest, engine) DO UPDATE SET mac = excluded.mac, \
             artifact = excluded.artifact, created_at = excluded.created_at",
        );
        self.execute(q).await.map(|_| ())
    }
}
