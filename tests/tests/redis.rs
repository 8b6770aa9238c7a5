//! Sessions in a real Redis, shared by two app instances, through each adapter. Starts its own
//! `redis-server` on a free loopback port; CI installs it. Without `redis-server` on the
//! machine the test fails under CI and is skipped, with a message, elsewhere.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::axum_app::AxumApp;
use common::rocket_app::RocketApp;
use common::warp_app::WarpApp;
use oidc_testkit::harness::App;

/// A `redis-server` child process, killed on drop.
struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = match Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: redis-server is not installed ({e}); CI installs it");
                return None;
            }
            Err(e) => panic!("redis-server is required in CI: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two instances of `A` on one Redis: a login on one is seen by the other, a logout on one
/// ends it on both, and a Redis outage is a clear error page, not a panic.
async fn two_instances_share_sessions<A: App>() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store_a = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    let store_b = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    let server = Arc::new(Mutex::new(server));
    let stopper = server.clone();
    oidc_testkit::scenarios::shared_sessions_across_instances::<A>(
        Arc::new(store_a),
        Arc::new(store_b),
        move || stopper.lock().unwrap().stop(),
    )
    .await;
}

#[tokio::test]
async fn two_instances_share_sessions_through_redis() {
    two_instances_share_sessions::<AxumApp>().await;
}

#[tokio::test]
async fn two_rocket_instances_share_sessions_through_redis() {
    two_instances_share_sessions::<RocketApp>().await;
}

#[tokio::test]
async fn two_warp_instances_share_sessions_through_redis() {
    two_instances_share_sessions::<WarpApp>().await;
}

#[tokio::test]
async fn records_expire_in_redis() {
    use oidc_core::SessionRecord;
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    store
        .save("live", &SessionRecord::new(now + 60))
        .await
        .unwrap();
    store
        .save("dead", &SessionRecord::new(now - 1))
        .await
        .unwrap();
    assert!(store.load("live").await.unwrap().is_some());
    assert!(
        store.load("dead").await.unwrap().is_none(),
        "EXAT in the past drops it"
    );
    store.delete("live").await.unwrap();
    assert!(store.load("live").await.unwrap().is_none());
}

/// Eight concurrent callbacks with one `state` through `A`, on a real Redis: one login, one
/// token request, seven refusals (the spent mark is `SET NX`).
async fn one_state_raced_on_redis<A: App>() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    oidc_testkit::scenarios::race_one_state_on::<A>(Arc::new(store), Some(now)).await;
}

#[tokio::test]
async fn concurrent_callbacks_with_one_state_log_in_once_through_redis() {
    one_state_raced_on_redis::<AxumApp>().await;
}

#[tokio::test]
async fn rocket_concurrent_callbacks_with_one_state_log_in_once_through_redis() {
    one_state_raced_on_redis::<RocketApp>().await;
}

#[tokio::test]
async fn warp_concurrent_callbacks_with_one_state_log_in_once_through_redis() {
    one_state_raced_on_redis::<WarpApp>().await;
}

/// The Redis store's spent mark is taken once, by one of many concurrent callers, and lasts
/// its time to live.
#[tokio::test]
async fn spent_marks_are_atomic_in_redis() {
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    let ttl = Duration::from_millis(300);
    let results = futures_util::future::join_all((0..8).map(|_| store.mark_spent("k", ttl))).await;
    let won = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1, "one winner");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        store.mark_spent("k", ttl).await.unwrap(),
        "the mark expired"
    );
}
