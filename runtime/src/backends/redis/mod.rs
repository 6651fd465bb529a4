//! The `redis` backend: schedule core, schedule state and the execution
//! queue on one Redis or a Redis Cluster (`connection.rs`), for any number
//! of taskbox processes, spread over virtual shards (`shards.rs`).
//!
//! Owns the key layout (every key starts with the configured prefix) and the
//! Lua scripts that make each multi-key change atomic. Never decides *when*
//! something fires or *whether* an action is allowed: callers compute fire
//! times and pass the statuses an action may start from.
//!
//! Keys of a shard (after its prefix, `shards.rs`): `status` (hash id →
//! status), `status_counts` (hash status → n), `jobs` (hash id → job
//! JSON), `due` (sorted set id by next fire ms), `history:<id>` (list,
//! capped, with a TTL), `meta:<id>` (hash), `revisions` (hash id → the
//! job's revision), `changed` (hash id → ms of the last transition),
//! `resumes` (sorted set id by the ms a pause ends), `runs:<id>` (hash
//! execution id → where that run in flight is),
//! `run_config` (hash execution id → config id), `waiting:<gate>` (lists of
//! runs waiting for a slot or a rate), `slots:<gate>` (slots taken),
//! `rate:<gate>`, `rate_pending:<gate>`, `rate_gates`, `started`,
//! `rate_seq` and `held_back` (rates, `lua/common.lua`), `cancels` (hash
//! execution id → who cancelled it, for held runs), `queue:<lane>`
//! (streams, consumer group `workers`; a lane is a band, and `:<group>`
//! for a worker group other than the default), `lanes` (the lanes of other
//! groups), `retries` (sorted set by due ms),
//! `outbox`, `outbox_at`, `handoff_seq`, `forwarded`, `cancel_out` and
//! `arrived:<shard>:<n>` (runs handed to the shard of their task type's
//! limits, `handoff.rs`), and the pub/sub channels `wake` and `cancel`.
//! Keys of the deployment (after its own prefix): `worker:<name>`
//! (heartbeats), `workers` (sorted set of names by heartbeat expiry ms),
//! `worker_groups` (hash name → its groups), `shards` (the shard count the
//! state is kept in), `state-marker`, the pub/sub channels `progress` and
//! `queued`, and plugins' key-value state: `kv:<bucket>` (hash key →
//! value) and `kv_keys:<bucket>` (its keys).

mod connection;
mod fire;
mod gate;
mod handoff;
mod kv;
mod listener;
mod queue;
mod replicas;
mod schedule;
mod shards;
mod stats;
mod take;

use redis::{AsyncCommands, Client, Script, ScriptInvocation};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

use crate::contract::BackendError;

use crate::contract::job::{Band, DEFAULT_GROUP, QueuedRun, RateLimit};
use crate::contract::queue::CancelSignal;
use crate::contract::schedule::backend::{HISTORY_CAP, HISTORY_TTL, events, meta};
pub use connection::Target;
use gate::Gated;
pub use shards::{CLUSTER_SHARDS, MAX_SHARDS, ShardCountChanged, Shards};

/// The consumer group every worker reads the queues through.
const GROUP: &str = "workers";

/// The facts of the schedule contract the scripts need, as a Lua table
/// literal `CONTRACT` that `lua/common.lua` and every script read (a
/// literal: decoding JSON on every call cost the enqueue path a fifth).
fn contract_preamble() -> String {
    // A Rust string literal's escapes (\", \\) are Lua's too.
    let event =
        |(event, message, status): (&str, &str, &str)| format!("{{{event:?}, {message:?}, {status:?}}}");
    let meta: Vec<String> = meta::ALL.iter().map(|k| format!("{k} = {k:?}")).collect();
    format!(
        "local CONTRACT = {{history_cap = {}, history_ttl_seconds = {}, meta = {{{}}}, \
         events = {{skipped = {}, skipped_buffered = {}, replaced = {}, completed = {}}}}}\n",
        HISTORY_CAP,
        HISTORY_TTL.as_secs(),
        meta.join(", "),
        event(events::SKIPPED),
        event(events::SKIPPED_BUFFERED),
        event(events::REPLACED),
        event(events::COMPLETED),
    )
}

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(&format!(
                "{}{}{}",
                contract_preamble(),
                include_str!("lua/common.lua"),
                include_str!(concat!("lua/", $file))
            ))
        })
    };
}

static TRANSITION: LazyLock<Script> = script!("transition.lua");
static FORGET: LazyLock<Script> = script!("forget.lua");
static FIRE: LazyLock<Script> = script!("fire.lua");
static ENQUEUE: LazyLock<Script> = script!("enqueue.lua");
static SETTLE: LazyLock<Script> = script!("settle.lua");
static PROMOTE: LazyLock<Script> = script!("promote.lua");
static CANCEL: LazyLock<Script> = script!("cancel.lua");
static HELD: LazyLock<Script> = script!("held.lua");
static START: LazyLock<Script> = script!("start.lua");
static ARRIVE: LazyLock<Script> = script!("arrive.lua");
static FORWARDED: LazyLock<Script> = script!("forwarded.lua");
static RELEASE: LazyLock<Script> = script!("release.lua");

/// A run's gates as the scripts read them (see `lua/common.lua`): '' when
/// nothing holds it back, else
/// '<config limit>,<type limit>,<config rate>,<type rate>,<task type>'.
fn gates(run: &QueuedRun) -> String {
    let job = &run.job;
    if !job.is_gated() {
        return String::new();
    }
    let limit = |l: Option<u32>| l.map(|n| n.to_string()).unwrap_or_default();
    let rate = |r: Option<RateLimit>| r.map(|r| format!("{}/{}", r.max, r.window_ms())).unwrap_or_default();
    format!(
        "{},{},{},{},{}",
        limit(job.config_limit()),
        limit(job.type_max_concurrency),
        rate(job.rate_limit),
        rate(job.type_rate_limit),
        job.task_type
    )
}

/// The lane of a band and worker group: the name of its stream after
/// `queue:` (the band alone for the default group, as before groups).
fn lane(band: Band, group: &str) -> String {
    match group {
        DEFAULT_GROUP => band.as_str().to_owned(),
        _ => format!("{}:{group}", band.as_str()),
    }
}

/// The lane a run waits in.
fn lane_of(run: &QueuedRun) -> String {
    lane(Band::of_run(run), run.job.group())
}

/// A parked or waiting run as the scripts keep it:
/// '<band>|<owner>|<execution>|<gates>|<run JSON>' (the owner: its config,
/// or a step run's workflow run, `QueuedRun::owner`).
fn item(run: &QueuedRun) -> String {
    let json = serde_json::to_string(run).expect("runs serialise");
    format!("{}|{}|{}|{}|{json}", lane_of(run), run.owner(), run.execution_id, gates(run))
}

/// Cheap-to-clone handle on one Redis or a Redis Cluster.
#[derive(Clone)]
pub struct RedisBackend {
    /// The deployment's prefix (with its hash tag on a cluster).
    prefix: Arc<str>,
    shards: Arc<Shards>,
    /// Multiplexed, reconnecting: shared by every short command.
    conn: Gated,
    /// Its own connection for blocking queue reads, which would otherwise
    /// hold up every command behind them.
    blocking: Gated,
    /// On a cluster, its own connection for the writes that wait for a
    /// replica (`replicas.rs`), for the same reason; else `conn`.
    acked: Gated,
    changes: Arc<Notify>,
    /// Woken when runs were queued, where a worker cannot block on every
    /// shard's streams at once (a cluster with several shards).
    queued: Arc<Notify>,
    /// Whether workers wait for `queued` (else: a blocking read).
    notify_queued: bool,
    /// A `queued` message is about to be sent (`handoff.rs`).
    announcing: Arc<std::sync::atomic::AtomicBool>,
    /// The shard a worker's next read starts from (`take.rs`).
    turn: Arc<std::sync::atomic::AtomicUsize>,
    /// Requests to stop held runs, from the `cancel` channel.
    cancels: broadcast::Sender<CancelSignal>,
    /// Workflow runs whose steps made progress, from the `progress` channel.
    progress: broadcast::Sender<uuid::Uuid>,
    /// Whether acknowledged writes wait for a replica (on a cluster), per shard.
    replication: Arc<Vec<replicas::Replication>>,
}

impl From<redis::RedisError> for BackendError {
    fn from(e: redis::RedisError) -> Self {
        BackendError::unavailable(e)
    }
}

impl RedisBackend {
    /// [`RedisBackend::connect_sharded`] with the target's default shard
    /// count: [`CLUSTER_SHARDS`] on a cluster, one on a single Redis.
    pub async fn connect(target: &Target, prefix: &str) -> Result<Self, BackendError> {
        Self::connect_sharded(target, prefix, None).await
    }

    /// Connects (failing if Redis cannot be reached now, or if its state is
    /// kept in another number of shards than `shards`) and starts
    /// listening for schedule changes made by any process. On a cluster,
    /// `prefix` gets a hash tag if it has none ([`Target::tagged`]).
    pub async fn connect_sharded(
        target: &Target,
        prefix: &str,
        shards: Option<u16>,
    ) -> Result<Self, BackendError> {
        let conn = target.open(Duration::from_secs(2)).await?;
        // Its own connection for blocking reads, waiting longer.
        let blocking = target.open(Duration::from_secs(10)).await?;
        let cluster = matches!(target, Target::Cluster(_));
        let acked = if cluster { Some(target.open(Duration::from_secs(2)).await?) } else { None };
        // One gate per Redis: a failure seen on either connection closes both.
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let count = shards.unwrap_or(if cluster { CLUSTER_SHARDS } else { 1 });
        let shards = Arc::new(Shards::new(prefix, &target.tagged(prefix), count));
        let prefix: Arc<str> = target.tagged(prefix).into();
        let probe_key: Arc<str> = format!("{prefix}status").into();
        let gated = |c| Gated::new(c, down.clone(), probe_key.clone());
        let (conn, blocking) = (gated(conn), gated(blocking));
        let acked = acked.map_or_else(|| conn.clone(), gated);
        let (cancels, progress) = (broadcast::channel(1024).0, broadcast::channel(1024).0);
        let backend = Self {
            prefix,
            shards: shards.clone(),
            conn,
            blocking,
            acked,
            changes: Arc::new(Notify::new()),
            queued: Arc::new(Notify::new()),
            notify_queued: cluster && shards.count() > 1,
            turn: Arc::default(),
            announcing: Arc::default(),
            cancels: cancels.clone(),
            progress: progress.clone(),
            replication: Arc::new(shards.all().map(|_| replicas::Replication::new(cluster)).collect()),
        };
        backend.check_shard_count().await?;
        backend.create_groups(&[DEFAULT_GROUP.to_owned()]).await?;
        let per_shard = |name: &str| shards.all().map(|s| backend.skey(s, name)).collect();
        let channels = listener::Channels {
            wake: per_shard("wake"),
            cancel: per_shard("cancel"),
            progress: backend.key("progress"),
            queued: backend.key("queued"),
        };
        let signals = listener::Signals { cancels, progress, queued: Arc::downgrade(&backend.queued) };
        let clients =
            target.subscribe_urls().iter().map(|url| Client::open(url.as_str())).collect::<Result<_, _>>()?;
        tokio::spawn(listener::listen_for_changes(
            clients,
            channels,
            Arc::downgrade(&backend.changes),
            signals,
        ));
        Ok(backend)
    }

    /// The deployment's key prefix in use (with its hash tag on a cluster).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Its shards.
    pub fn shards(&self) -> &Shards {
        &self.shards
    }

    /// A connection to this backend's Redis or cluster, for tools and
    /// tests that read or change keys directly (behind the same gate).
    pub fn connection(&self) -> impl redis::aio::ConnectionLike + Clone + Send + 'static {
        self.conn.clone()
    }

    /// A key of the deployment (not of a shard).
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A key of shard `shard`.
    fn skey(&self, shard: usize, name: &str) -> String {
        format!("{}{name}", self.shards.prefix(shard))
    }

    /// The shard of a config's (or a workflow run's) keys.
    fn shard_of(&self, owner: uuid::Uuid) -> usize {
        self.shards.of(owner)
    }

    /// Indexes of `ids` (configs or workflow runs) by the shard of each.
    fn by_shard(&self, ids: &[uuid::Uuid]) -> std::collections::BTreeMap<usize, Vec<usize>> {
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, id) in ids.iter().enumerate() {
            groups.entry(self.shard_of(*id)).or_default().push(i);
        }
        groups
    }

    /// Runs `read` on every shard at once; the answers in shard order.
    async fn each_shard<'a, T, F, Fut>(&'a self, read: F) -> Result<Vec<T>, BackendError>
    where
        F: Fn(usize, Gated) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>> + 'a,
    {
        Ok(futures::future::try_join_all(self.shards.all().map(|s| read(s, self.conn.clone()))).await?)
    }

    /// A call of one of the scripts on shard `shard`: its first key names
    /// the shard's slot (a cluster routes the call by it), and ARGV[1] is
    /// the prefix every key inside is built from.
    fn call<'a>(&self, shard: usize, script: &'a Script) -> ScriptInvocation<'a> {
        let mut call = script.key(self.skey(shard, "status"));
        call.arg(&**self.shards.prefix(shard));
        call
    }

    /// Woken whenever any process changes a schedule.
    pub fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Makes sure the streams of `groups` can be read through the
    /// consumer group (from their first entry: runs queued before any
    /// worker of a group came are taken by the first).
    async fn create_groups(&self, groups: &[String]) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let streams = self.shards.all().flat_map(|s| {
            groups.iter().flat_map(move |g| Band::ALL.map(move |band| self.stream(s, band, g)))
        });
        for stream in streams.collect::<Vec<_>>() {
            let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(&stream, GROUP, "0").await;
            match created {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Is Redis reachable (on a cluster: the master of these keys)?
    pub async fn ping(&self) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("EXISTS").arg(self.key("status")).query_async(&mut conn).await?;
        Ok(())
    }
}
