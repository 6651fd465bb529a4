//! The doors' data for operators: plugins' key-value buckets (read, seed,
//! clean up, within the same bounds plugins have) and secrets (admins
//! only, even to list; a value goes in and never comes out).

use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use super::tokens::Actor;
use super::{App, AppError};
use crate::contract::kv::{DEFAULT_BOUNDS, KeyValue, PAGE, is_valid_bucket};
use crate::doors::secrets::{MAX_VALUE_CHARS, Secrets, is_valid_name};
use crate::store::SecretInfo;

/// Keys per page, at most.
pub const MAX_KEYS_PAGE: usize = 1000;

/// One page of a bucket's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub bucket: String,
    pub keys: Vec<String>,
    /// Pass as `cursor` for the next page; null on the last.
    pub cursor: Option<String>,
}

/// One key and its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    pub bucket: String,
    pub key: String,
    /// The value as text, if it is UTF-8.
    pub value: Option<String>,
    /// The value's bytes in base64.
    pub value_base64: String,
}

impl Entry {
    fn of(bucket: String, key: String, bytes: Vec<u8>) -> Self {
        use base64::Engine;
        let value_base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        Entry { bucket, key, value: String::from_utf8(bytes).ok(), value_base64 }
    }
}

fn bucket(name: &str) -> Result<(), AppError> {
    match is_valid_bucket(name) {
        true => Ok(()),
        false => Err(AppError::invalid("bucket", "1 to 64 of A-Z a-z 0-9 _ - .")),
    }
}

fn no_key(bucket: &str, key: &str) -> AppError {
    AppError::NotFound(format!("bucket {bucket:?} has no key {key:?}"))
}

fn admin_only(actor: &Actor) -> Result<(), AppError> {
    match actor.is_admin() {
        true => Ok(()),
        false => Err(AppError::Forbidden("secrets are for admin tokens only".into())),
    }
}

impl App {
    fn kv(&self) -> Result<&Arc<dyn KeyValue>, AppError> {
        self.inner
            .kv
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("this process has no key-value store".into()))
    }

    fn secrets(&self) -> Result<&Secrets, AppError> {
        self.inner
            .secrets
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("this process holds no secret key".into()))
    }

    /// A page of a bucket's keys, in byte order.
    pub async fn kv_keys(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<KeyList, AppError> {
        bucket(name)?;
        let limit = limit.unwrap_or(PAGE);
        if !(1..=MAX_KEYS_PAGE).contains(&limit) {
            return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_KEYS_PAGE}")));
        }
        let page = self.kv()?.keys(name, cursor, limit).await?;
        Ok(KeyList { bucket: name.to_owned(), keys: page.keys, cursor: page.cursor })
    }

    pub async fn kv_get(&self, name: &str, key: &str) -> Result<Entry, AppError> {
        bucket(name)?;
        DEFAULT_BOUNDS.check_key(key)?;
        match self.kv()?.get(name, key).await? {
            Some(bytes) => Ok(Entry::of(name.to_owned(), key.to_owned(), bytes)),
            None => Err(no_key(name, key)),
        }
    }

    pub async fn kv_set(&self, name: &str, key: &str, bytes: Vec<u8>) -> Result<Entry, AppError> {
        bucket(name)?;
        self.kv()?.set(name, key, &bytes, &DEFAULT_BOUNDS).await?;
        Ok(Entry::of(name.to_owned(), key.to_owned(), bytes))
    }

    pub async fn kv_delete(&self, name: &str, key: &str) -> Result<(), AppError> {
        bucket(name)?;
        DEFAULT_BOUNDS.check_key(key)?;
        match self.kv()?.delete(name, key).await? {
            true => Ok(()),
            false => Err(no_key(name, key)),
        }
    }

    /// Names and times of the secrets (never values); admins only.
    pub async fn secrets_list(&self, actor: &Actor) -> Result<Vec<SecretInfo>, AppError> {
        admin_only(actor)?;
        Ok(self.secrets()?.list().await?)
    }

    /// Stores (or replaces) a secret; admins only.
    pub async fn secret_put(&self, actor: &Actor, name: &str, value: &str) -> Result<(), AppError> {
        admin_only(actor)?;
        secret_name(name)?;
        if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
            return Err(AppError::invalid("value", format!("must be 1 to {MAX_VALUE_CHARS} characters")));
        }
        Ok(self.secrets()?.put(name, value).await?)
    }

    /// Removes a secret; admins only.
    pub async fn secret_delete(&self, actor: &Actor, name: &str) -> Result<(), AppError> {
        admin_only(actor)?;
        secret_name(name)?;
        match self.secrets()?.delete(name).await? {
            true => Ok(()),
            false => Err(AppError::NotFound(format!("no secret named {name:?}"))),
        }
    }
}

fn secret_name(name: &str) -> Result<(), AppError> {
    match is_valid_name(name) {
        true => Ok(()),
        false => {
            Err(AppError::invalid("name", "a name like SLACK_WEBHOOK ([A-Za-z_][A-Za-z0-9_]*, up to 128)"))
        }
    }
}
