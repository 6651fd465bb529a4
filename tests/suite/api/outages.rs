//! Parts going away and coming back: Redis and PostgreSQL outages answer
//! 503 and heal by themselves; a config changed elsewhere is read fresh by
//! every API process.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::*;
use std::sync::Arc;
use taskbox::store::Opened;

/// Two API processes on one PostgreSQL each keep a config cache; a change
/// made through one of them, or by hand in SQL, reaches the other's reads
/// well before a copy ages out (`CACHE_MAX_AGE`), through the change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_changed_elsewhere_is_read_fresh_by_every_api_process() {
    let d = Deployment::new(Kind::Distributed).await;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let mut env = d.serve_env();
    env.push(("TASKBOX_ROLES", "api".into()));
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    let (a, b) = (Server::start(&env), Server::start(&env));
    let within = taskbox::store::CACHE_MAX_AGE / 2;
    let (status, config) = a
        .post(
            "/configs",
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual",
            "parameters": {"v": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    let one = format!("/configs/{}", config["id"].as_str().unwrap());
    let field = |field: &'static str| {
        let (a, one) = (&a, one.clone());
        move || {
            let one = one.clone();
            async move { a.get(&one).await.1[field].clone() }
        }
    };
    // a serves its copy: its feed is up and reads hit.
    let metric = |name: &'static str| {
        let a = &a;
        async move {
            let text = a.client.get(a.root_url("/metrics")).send().await.unwrap();
            let text = text.text().await.unwrap();
            let line = text.lines().find(|l| l.starts_with(name)).map(str::to_owned);
            line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0)
        }
    };
    eventually("a's config cache is on", within, || async {
        metric("taskbox_config_cache_live").await == 1.0
    })
    .await;
    for _ in 0..3 {
        assert_eq!(field("parameters")().await, json!({"v": 1}));
    }
    assert!(metric("taskbox_config_cache_reads_total{outcome=\"hit\"}").await >= 2.0);

    let (status, _) = b.call(Method::PATCH, &one, Some(json!({"parameters": {"v": 2}}))).await;
    assert_eq!(status, StatusCode::OK);
    let took =
        eventually("a reads b's change", within, || async { field("parameters")().await == json!({"v": 2}) })
            .await;
    eprintln!("a change through another process was read after {took:?}");

    let Opened::Postgres(pg) = &d.opened else { unreachable!("distributed") };
    sqlx::query("UPDATE task_configs SET description = 'by hand' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(config["id"].as_str().unwrap()).unwrap())
        .execute(pg.pool())
        .await
        .unwrap();
    eventually("a reads a change made in SQL", within, || async {
        field("description")().await == "by hand"
    })
    .await;

    assert_eq!(b.call(Method::DELETE, &one, None).await.0, StatusCode::NO_CONTENT);
    eventually("a answers 404 for a config b deleted", within, || async {
        a.get(&one).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    let (status, body) = a.post(&format!("{one}/run"), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted config is not run: {body}");

    // A TRUNCATE names no row: every copy goes.
    let (_, other) =
        a.post("/configs", json!({"name": "t", "task_type": "echo", "scheduler_type": "manual"})).await;
    let other = format!("/configs/{}", other["id"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(a.get(&other).await.0, StatusCode::OK);
    }
    sqlx::query("TRUNCATE task_configs CASCADE").execute(pg.pool()).await.unwrap();
    eventually("a answers 404 after a TRUNCATE", within, || async {
        a.get(&other).await.0 == StatusCode::NOT_FOUND
    })
    .await;
}

/// The distributed deployment's PostgreSQL pool (around any proxy).
fn pg_pool(d: &Deployment) -> &sqlx::PgPool {
    let Opened::Postgres(pg) = &d.opened else { unreachable!("distributed") };
    pg.pool()
}

/// A `POST /configs` of a manual `echo` config named `name`, to send.
fn post_manual(client: &Client, base: &str, name: &str) -> reqwest::RequestBuilder {
    let body = json!({"name": name, "task_type": "echo", "scheduler_type": "manual"});
    client.post(format!("{base}/configs")).bearer_auth(TOKEN).json(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_503_and_the_api_recovers_by_itself() {
    let mut redis = crate::support::services::PrivateRedis::start();
    let d = Deployment::new(Kind::Distributed).await;
    let url = redis.url();
    let app = spawn_app_with(d, &["api"], |s| s.redis_url = Some(url)).await;
    let (base, client) = (app.base.clone(), Client::new());
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(TOKEN).send();

    let created = post_manual(&client, &base, "c").send().await.unwrap();
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);

    redis.stop();
    // The first request to meet the outage notices it (the connection drops)...
    let noticed = Instant::now();
    let health = get("/system/health").await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(noticed.elapsed() < Duration::from_secs(3), "noticed after {:?}", noticed.elapsed());
    assert_eq!(health.json::<Value>().await.unwrap()["schedule_backend"], "unreachable");
    // ... and while it is known to be down, everything that needs it fails
    // fast, health included (it used to wait ~7 s for the reconnect backoff).
    for path in ["/system/health".to_owned(), format!("/configs/{id}"), "/schedules/summary".to_owned()] {
        for _ in 0..3 {
            let asked = Instant::now();
            let answer = get(&path).await.unwrap();
            let took = asked.elapsed();
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert!(took < Duration::from_millis(500), "{path} took {took:?} to answer 503");
        }
    }
    let read = get(&format!("/configs/{id}")).await.unwrap();
    assert_eq!(error_code(&read.json().await.unwrap()), "service_unavailable");

    redis.restart();
    eventually("the API recovers", Duration::from_secs(15), || async {
        get(&format!("/configs/{id}")).await.unwrap().status() == StatusCode::OK
    })
    .await;
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);
}

/// A TCP proxy in front of PostgreSQL that can be cut and restored, to take
/// the database away from a running API without touching the server.
struct Cuttable {
    addr: std::net::SocketAddr,
    open: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Cuttable {
    async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let (upstream, flag, held) = (upstream.to_owned(), open.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { addr, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_a_503_and_the_api_recovers_by_itself() {
    let d = Deployment::new(Kind::Distributed).await;
    let proxy = Cuttable::start("127.0.0.1:5432").await;
    let url = d.database_url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(url, d.database_url, "the test database URL goes through 127.0.0.1:5432");
    let app = spawn_app_with(d, &["api"], |s| s.database_url = url).await;
    let (base, client) = (app.base.clone(), Client::new());
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(TOKEN).send();
    assert_eq!(get("/configs").await.unwrap().status(), StatusCode::OK);
    let config: Value = post_manual(&client, &base, "before").send().await.unwrap().json().await.unwrap();
    let one = format!("/configs/{}", config["id"].as_str().unwrap());
    // Read twice: the second answer comes from the config cache.
    for _ in 0..2 {
        assert_eq!(get(&one).await.unwrap().json::<Value>().await.unwrap()["name"], "before");
    }

    proxy.cut();
    // The cache stands aside once its change feed is gone: reads of the
    // cached config now need the database too.
    eventually("a cached config is no longer served without its feed", Duration::from_secs(1), || async {
        get(&one).await.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    // A change the API cannot hear about, made while it is cut off.
    sqlx::query("UPDATE task_configs SET name = 'changed meanwhile' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(config["id"].as_str().unwrap()).unwrap())
        .execute(pg_pool(&app.d))
        .await
        .unwrap();
    let listed = get("/configs").await.unwrap();
    assert_eq!(listed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&listed.json().await.unwrap()), "service_unavailable");
    let health = get("/system/health").await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json::<Value>().await.unwrap()["database"], "unreachable");
    let created = post_manual(&client, &base, "c").send().await.unwrap();
    assert_eq!(created.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    eventually("the API recovers", Duration::from_secs(15), || async {
        get("/configs").await.unwrap().status() == StatusCode::OK
    })
    .await;
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);
    for _ in 0..2 {
        let read = get(&one).await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(read["name"], "changed meanwhile", "a copy from before the outage was served");
    }
}
