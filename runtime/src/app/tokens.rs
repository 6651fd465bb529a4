//! API tokens: `TASKBOX_ADMIN_TOKEN` (if set) and the tokens in the token
//! store, each `admin` (everything) or `viewer` (reads). Only sha256
//! digests are kept and compared (in constant time against the configured
//! token). Store lookups are cached for [`CACHE_TTL`], so a revoked token
//! stops working within that time. Both front ends ask here who a token
//! is; the bearer header and the session cookie are theirs.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

use super::AppError;
use crate::store::{TokenRole, TokenStore};

const CACHE_TTL: Duration = Duration::from_secs(10);
/// Store lookups a client may cause (tokens not looked up lately: almost
/// only wrong ones): a burst, then a few a second. Beyond: throttled.
const LOOKUP_BURST: u32 = 20;
const LOOKUPS_PER_SECOND: u32 = 5;
/// A throttled client is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The sha256 of a token; only digests are kept and compared.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token (244 random bits) and its sha256 in hex.
pub fn generate() -> (String, String) {
    let token = format!("tbx_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let hash = hex::encode(digest(&token));
    (token, hash)
}

/// Who presented a token: its sha256 and its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub token: [u8; 32],
    pub role: TokenRole,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == TokenRole::Admin
    }
}

/// The token store, the configured admin token, recent lookups and each
/// client's budget of lookups.
#[derive(Clone)]
pub struct Tokens {
    store: Arc<dyn TokenStore>,
    /// sha256 of `TASKBOX_ADMIN_TOKEN`, if set.
    admin: Option<[u8; 32]>,
    cache: Arc<Mutex<HashMap<[u8; 32], Looked>>>,
    lookups: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// When each throttled client was last logged.
    warned: Arc<Mutex<HashMap<IpAddr, Instant>>>,
}

/// A token's role (if it is one) and when that was looked up.
type Looked = (Option<TokenRole>, Instant);

impl Tokens {
    pub fn new(store: Arc<dyn TokenStore>, admin_token: Option<&str>) -> Self {
        let per_second = NonZeroU32::new(LOOKUPS_PER_SECOND).expect("not zero");
        let quota =
            Quota::per_second(per_second).allow_burst(NonZeroU32::new(LOOKUP_BURST).expect("not zero"));
        Self {
            store,
            admin: admin_token.map(digest),
            cache: Arc::default(),
            lookups: Arc::new(RateLimiter::keyed(quota)),
            warned: Arc::default(),
        }
    }

    /// May `client` make the store look a token up now? Logs a throttled
    /// client now and then.
    fn may_look_up(&self, client: Option<IpAddr>) -> Result<(), AppError> {
        let Some(ip) = client else { return Ok(()) };
        if self.lookups.check_key(&ip).is_ok() {
            return Ok(());
        }
        if self.lookups.len() > 100_000 {
            self.lookups.retain_recent();
        }
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.get(&ip).is_none_or(|at| at.elapsed() > WARN_EVERY) {
            if warned.len() > 10_000 {
                warned.clear();
            }
            warned.insert(ip, Instant::now());
            tracing::warn!(client = %ip, "a burst of failed token checks: this client's lookups are throttled");
        }
        Err(AppError::Throttled("too many token checks from this client; try again in a few seconds".into()))
    }

    fn is_configured_admin(&self, presented: &[u8; 32]) -> bool {
        self.admin.as_ref().is_some_and(|admin| bool::from(presented.ct_eq(admin)))
    }

    /// The actor whose token has sha256 `presented`, if it is a token
    /// (cached for a few seconds, so a revoked token stops working within
    /// them), as `client` asks: a client that makes the store look up too
    /// many tokens (wrong ones) is throttled.
    pub async fn actor(
        &self,
        presented: [u8; 32],
        client: Option<IpAddr>,
    ) -> Result<Option<Actor>, AppError> {
        if self.is_configured_admin(&presented) {
            return Ok(Some(Actor { token: presented, role: TokenRole::Admin }));
        }
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&presented).copied();
        let role = match cached {
            Some((role, at)) if at.elapsed() < CACHE_TTL => role,
            _ => {
                self.may_look_up(client)?;
                let role = self.store.token_role(&hex::encode(presented)).await?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(presented, (role, Instant::now()));
                role
            }
        };
        Ok(role.map(|role| Actor { token: presented, role }))
    }

    /// Who acted, as the audit log names them: the token's name, or
    /// `admin token` for the configured one.
    pub async fn label(&self, actor: &Actor) -> Result<String, AppError> {
        if self.is_configured_admin(&actor.token) {
            return Ok("admin token".into());
        }
        let name = self.store.token_name(&hex::encode(actor.token)).await?;
        Ok(name.unwrap_or_else(|| "(revoked token)".into()))
    }

    /// Who acted, in words for records: `token <name>`, or the configured
    /// admin token.
    pub async fn who(&self, actor: &Actor) -> Result<String, AppError> {
        if self.is_configured_admin(&actor.token) {
            return Ok("TASKBOX_ADMIN_TOKEN".into());
        }
        let name = self.store.token_name(&hex::encode(actor.token)).await?;
        Ok(format!("token {}", name.unwrap_or_else(|| "(revoked)".into())))
    }
}
