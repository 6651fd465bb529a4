//! The `redis` backend: schedule core, schedule state and the execution
//! queue on one Redis or a Redis Cluster (`connection.rs`), for any number
//! of taskbox processes.
//!
//! Owns the key layout (every key starts with the configured prefix) and the
//! Lua scripts that make each multi-key change atomic. Never decides *when*
//! something fires or *whether* an action is allowed: callers compute fire
//! times and pass the statuses an action may start from.
//!
//! Keys (after the prefix): `status` (hash id → status), `status_counts`
//! (hash status → n), `jobs` (hash id → job JSON), `due` (sorted set id by
//! next fire ms), `history:<id>` (list, capped, with a TTL), `meta:<id>`
//! (hash), `revisions` (hash id → the job's revision), `changed` (hash id →
//! ms of the last transition), `resumes` (sorted set id by the ms a pause
//! ends), `runs:<id>` (hash execution id → where that run in flight is),
//! `run_config` (hash execution id → config id), `waiting:<gate>` (lists of
//! runs waiting for a slot or a rate), `slots:<gate>` (slots taken),
//! `rate:<gate>`, `rate_pending:<gate>`, `rate_gates`, `started`,
//! `rate_seq` and `held_back` (rates, `lua/common.lua`), `cancels` (hash
//! execution id → who cancelled it, for held runs), `queue:<lane>`
//! (streams, consumer group `workers`; a lane is a band, and `:<group>`
//! for a worker group other than the default), `lanes` (the lanes of other
//! groups), `retries` (sorted set by due ms),
//! `worker:<name>` (heartbeats), `workers` (sorted set of names by
//! heartbeat expiry ms), `worker_groups` (hash name → its groups), the pub/sub channels `wake`, `cancel` and `progress`, and plugins' key-value
//! state: `kv:<bucket>` (hash key → value) and `kv_keys:<bucket>` (its keys).

mod connection;
mod gate;
mod kv;
mod queue;
mod replicas;
mod schedule;
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

/// Cheap-to-clone handle on one Redis.
#[derive(Clone)]
pub struct RedisBackend {
    prefix: Arc<str>,
    /// Multiplexed, reconnecting: shared by every short command.
    conn: Gated,
    /// Its own connection for blocking queue reads, which would otherwise
    /// hold up every command behind them.
    blocking: Gated,
    /// On a cluster, its own connection for the writes that wait for a
    /// replica (`replicas.rs`), for the same reason; else `conn`.
    acked: Gated,
    changes: Arc<Notify>,
    /// Requests to stop held runs, from the `cancel` channel.
    cancels: broadcast::Sender<CancelSignal>,
    /// Workflow runs whose steps made progress, from the `progress` channel.
    progress: broadcast::Sender<uuid::Uuid>,
    /// Whether acknowledged writes wait for a replica (on a cluster).
    replication: Arc<replicas::Replication>,
}

impl From<redis::RedisError> for BackendError {
    fn from(e: redis::RedisError) -> Self {
        BackendError::unavailable(e)
    }
}

impl RedisBackend {
    /// Connects (failing if Redis cannot be reached now) and starts listening
    /// for schedule changes made by any process. On a cluster, `prefix` gets
    /// a hash tag if it has none ([`Target::tagged`]).
    pub async fn connect(target: &Target, prefix: &str) -> Result<Self, BackendError> {
        let conn = target.open(Duration::from_secs(2)).await?;
        // Its own connection for blocking reads, waiting longer.
        let blocking = target.open(Duration::from_secs(10)).await?;
        let cluster = matches!(target, Target::Cluster(_));
        let acked = if cluster { Some(target.open(Duration::from_secs(2)).await?) } else { None };
        // One gate per Redis: a failure seen on either connection closes both.
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prefix: Arc<str> = target.tagged(prefix).into();
        let probe_key: Arc<str> = format!("{prefix}status").into();
        let gated = |c| Gated::new(c, down.clone(), probe_key.clone());
        let (conn, blocking) = (gated(conn), gated(blocking));
        let acked = acked.map_or_else(|| conn.clone(), gated);
        let (cancels, progress) = (broadcast::channel(1024).0, broadcast::channel(1024).0);
        let backend = Self {
            prefix,
            conn,
            blocking,
            acked,
            changes: Arc::new(Notify::new()),
            cancels: cancels.clone(),
            progress: progress.clone(),
            replication: Arc::new(replicas::Replication::new(cluster)),
        };
        backend.create_groups(&[DEFAULT_GROUP.to_owned()]).await?;
        let channels = Channels {
            wake: backend.key("wake"),
            cancel: backend.key("cancel"),
            progress: backend.key("progress"),
        };
        let signals = Signals { cancels, progress };
        let clients =
            target.subscribe_urls().iter().map(|url| Client::open(url.as_str())).collect::<Result<_, _>>()?;
        tokio::spawn(listen_for_changes(clients, channels, Arc::downgrade(&backend.changes), signals));
        Ok(backend)
    }

    /// The key prefix in use (with its hash tag on a cluster).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection to this backend's Redis or cluster, for tools and
    /// tests that read or change keys directly (behind the same gate).
    pub fn connection(&self) -> impl redis::aio::ConnectionLike + Clone + Send + 'static {
        self.conn.clone()
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A call of one of the scripts: its first key names the slot of this
    /// deployment's keys (a cluster routes the call by it), and ARGV[1]
    /// is the prefix every key inside is built from.
    fn call<'a>(&self, script: &'a Script) -> ScriptInvocation<'a> {
        let mut call = script.key(self.key("status"));
        call.arg(&*self.prefix);
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
        for stream in groups.iter().flat_map(|g| Band::ALL.map(|band| self.stream(band, g))) {
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

/// The pub/sub channels every process listens on.
struct Channels {
    /// A schedule changed.
    wake: String,
    /// Stop a run: '<execution id>|<who>'.
    cancel: String,
    /// Step records of a workflow run were committed: '<execution id>'.
    progress: String,
}

/// Where the listener passes cancel requests and workflow progress on.
struct Signals {
    cancels: broadcast::Sender<CancelSignal>,
    progress: broadcast::Sender<uuid::Uuid>,
}

/// Subscribes to the `wake`, `cancel` and `progress` channels: notifies
/// `changes` on every wake, and passes cancel requests and progress on;
/// resubscribes after a lost connection, on the next of `clients` (the
/// nodes of a cluster, where a message reaches every node). Ends when the
/// backend is dropped.
async fn listen_for_changes(
    clients: Vec<Client>,
    channels: Channels,
    changes: std::sync::Weak<Notify>,
    signals: Signals,
) {
    use futures::StreamExt;
    let mut backoff = crate::support::backoff::Backoff::default();
    for client in clients.iter().cycle() {
        if changes.strong_count() == 0 {
            return;
        }
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&[&channels.wake, &channels.cancel, &channels.progress]).await.is_ok() {
                    backoff.reset();
                    // A reconnect may have missed changes: wake the loop once.
                    if let Some(n) = changes.upgrade() {
                        n.notify_one();
                    }
                    let mut messages = pubsub.on_message();
                    let mut alive = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        let message = tokio::select! {
                            message = messages.next() => match message { Some(m) => m, None => break },
                            // The backend was dropped (its process stopped):
                            // end, and close the subscription with us.
                            _ = alive.tick() => if changes.strong_count() == 0 { return } else { continue },
                        };
                        if message.get_channel_name() == channels.cancel {
                            let text: String = message.get_payload().unwrap_or_default();
                            if let Some((id, by)) = text.split_once('|')
                                && let Ok(execution_id) = id.parse()
                            {
                                let _ =
                                    signals.cancels.send(CancelSignal { execution_id, by: by.to_owned() });
                            }
                            continue;
                        }
                        if message.get_channel_name() == channels.progress {
                            let text: String = message.get_payload().unwrap_or_default();
                            if let Ok(id) = text.parse() {
                                let _ = signals.progress.send(id);
                            }
                            continue;
                        }
                        match changes.upgrade() {
                            Some(n) => n.notify_one(),
                            None => return,
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "schedule change listener cannot reach Redis; retrying"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
