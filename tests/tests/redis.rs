//! Sessions in a real Redis, shared by two app instances, through each adapter. Starts its own
//! `redis-server` on a free loopback port; CI installs it. Without `redis-server` on the
//! machine the test fails under CI and is skipped, with a message, elsewhere.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::axum_app::AxumApp;
use common::rocket_app::RocketApp;
use common::warp_app::WarpApp;
use oidc_testkit::harness::system_now as now;
use oidc_testkit::harness::App;
use oidc_testkit::redis_server::{free_port, redis_installed, RedisServer};

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

/// An update writes over a live record only: a session another instance deleted (a logout)
/// is not written back by a refresh that read it before, encrypted or not.
#[tokio::test]
async fn updates_never_bring_a_deleted_session_back_in_redis() {
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        encrypted_store(&server.url).await,
        encrypted_store(&server.url).await,
    );
    let record = user_record(now() + 600, "alice", Some("sid-1"));
    assert!(
        !a.update("s1", &record).await.unwrap(),
        "nothing to update: nothing written"
    );
    assert!(b.load("s1").await.unwrap().is_none());

    a.save("s1", &record).await.unwrap();
    let mut refreshed = record.clone();
    refreshed.expires_at += 60;
    assert!(a.update("s1", &refreshed).await.unwrap());
    assert_eq!(
        b.load("s1").await.unwrap().unwrap().expires_at,
        refreshed.expires_at
    );

    // Instance B ends the session; A's refresh, which read it before, writes back nothing.
    b.delete("s1").await.unwrap();
    assert!(!a.update("s1", &refreshed).await.unwrap());
    assert!(b.load("s1").await.unwrap().is_none());
    assert!(a.load("s1").await.unwrap().is_none());
}

const SECRET: &[u8] = b"the app's session secret, 32 bytes or more";
const OLD_SECRET: &[u8] = b"the session secret before the rotation, 32+ bytes";

/// A record of `sub` at the example issuer (with the ID token's `sid` if given), holding an
/// access and a refresh token whose text names the user.
fn user_record(expires_at: u64, sub: &str, sid: Option<&str>) -> oidc_core::SessionRecord {
    let mut user = oidc_core::claims::example_user();
    let mut claims = user.id_token.claims().to_map();
    claims.insert("sub".into(), sub.into());
    if let Some(sid) = sid {
        claims.insert("sid".into(), sid.into());
    }
    user.id_token = oidc_core::IdToken::new(
        user.id_token.raw.clone(),
        oidc_core::ClaimsSet::from_map(&claims),
    );
    user.access_token = Some(format!("access-token-of-{sub}").into());
    user.refresh_token = Some(format!("refresh-token-of-{sub}").into());
    oidc_core::SessionRecord::new(expires_at).with_user(Arc::new(user))
}

const ISSUER: &str = "https://op.example";

/// A store on `url` whose records are encrypted with [`SECRET`].
async fn encrypted_store(url: &str) -> oidc_redis::RedisStore {
    oidc_redis::RedisStore::connect(url)
        .await
        .unwrap()
        .encrypt_records(SECRET, &[])
        .unwrap()
}

/// Two instances of `A` with encrypted records on a persistent Redis that restarts between two
/// requests: the next request on each is served.
async fn first_requests_after_a_restart<A: App>() {
    let Some(server) = RedisServer::start_persistent() else {
        return;
    };
    let store_a = encrypted_store(&server.url).await;
    let store_b = encrypted_store(&server.url).await;
    let server = Arc::new(Mutex::new(server));
    let restarter = server.clone();
    oidc_testkit::redis_scenarios::sessions_survive_a_store_restart::<A>(
        Arc::new(store_a),
        Arc::new(store_b),
        move || restarter.lock().unwrap().restart(),
    )
    .await;
}

#[tokio::test]
async fn first_requests_after_a_redis_restart_succeed() {
    first_requests_after_a_restart::<AxumApp>().await;
}

#[tokio::test]
async fn rocket_first_requests_after_a_redis_restart_succeed() {
    first_requests_after_a_restart::<RocketApp>().await;
}

#[tokio::test]
async fn warp_first_requests_after_a_redis_restart_succeed() {
    first_requests_after_a_restart::<WarpApp>().await;
}

/// A provider's logout delivered to one instance of `A` ends the sessions on both, through
/// the Redis index (encrypted records).
async fn provider_logout_on_redis<A: App>() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    oidc_testkit::redis_scenarios::provider_logout_ends_sessions_on_every_instance::<A>(
        Arc::new(encrypted_store(&server.url).await),
        Arc::new(encrypted_store(&server.url).await),
        Duration::ZERO,
    )
    .await;
}

#[tokio::test]
async fn provider_logout_ends_sessions_on_every_instance_through_redis() {
    provider_logout_on_redis::<AxumApp>().await;
}

#[tokio::test]
async fn rocket_provider_logout_ends_sessions_on_every_instance_through_redis() {
    provider_logout_on_redis::<RocketApp>().await;
}

#[tokio::test]
async fn warp_provider_logout_ends_sessions_on_every_instance_through_redis() {
    provider_logout_on_redis::<WarpApp>().await;
}

/// A store like [`encrypted_store`] keeping a local cache that Redis invalidates.
async fn cached_store(url: &str) -> oidc_redis::RedisStore {
    encrypted_store(url)
        .await
        .with_local_cache(oidc_redis::LocalCache::new(1000))
}

/// [`provider_logout_on_redis`] with both instances caching sessions locally: the logout
/// delivered to one instance reaches the other's cache through Redis' invalidation.
async fn provider_logout_on_cached_redis<A: App>() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    oidc_testkit::redis_scenarios::provider_logout_ends_sessions_on_every_instance::<A>(
        Arc::new(cached_store(&server.url).await),
        Arc::new(cached_store(&server.url).await),
        // The propagation the bench measures is well under a millisecond on loopback; this
        // leaves room for a loaded CI machine, and is still far below the cache's bound.
        Duration::from_millis(250),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_logout_ends_cached_sessions_on_every_instance_through_redis() {
    provider_logout_on_cached_redis::<AxumApp>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_provider_logout_ends_cached_sessions_on_every_instance_through_redis() {
    provider_logout_on_cached_redis::<RocketApp>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warp_provider_logout_ends_cached_sessions_on_every_instance_through_redis() {
    provider_logout_on_cached_redis::<WarpApp>().await;
}

/// [`first_requests_after_a_restart`] with both instances caching sessions locally: no
/// cached record outlives the connection it was tracked on.
async fn first_requests_after_a_restart_cached<A: App>() {
    let Some(server) = RedisServer::start_persistent() else {
        return;
    };
    let store_a = cached_store(&server.url).await;
    let store_b = cached_store(&server.url).await;
    let server = Arc::new(Mutex::new(server));
    let restarter = server.clone();
    oidc_testkit::redis_scenarios::sessions_survive_a_store_restart::<A>(
        Arc::new(store_a),
        Arc::new(store_b),
        move || restarter.lock().unwrap().restart(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_first_requests_after_a_redis_restart_succeed() {
    first_requests_after_a_restart_cached::<AxumApp>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_cached_first_requests_after_a_redis_restart_succeed() {
    first_requests_after_a_restart_cached::<RocketApp>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warp_cached_first_requests_after_a_redis_restart_succeed() {
    first_requests_after_a_restart_cached::<WarpApp>().await;
}

/// Two instances of `A` on one Redis (encrypted records) need a new access token for one
/// session at once: one token request between them, through the refresh lease in Redis.
async fn one_refresh_on_redis<A: App>() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    oidc_testkit::token_scenarios::two_instances_share_one_refresh_on::<A>(
        Arc::new(encrypted_store(&server.url).await),
        Arc::new(encrypted_store(&server.url).await),
        Some(now()),
    )
    .await;
}

#[tokio::test]
async fn two_instances_share_one_refresh_through_redis() {
    one_refresh_on_redis::<AxumApp>().await;
}

#[tokio::test]
async fn rocket_two_instances_share_one_refresh_through_redis() {
    one_refresh_on_redis::<RocketApp>().await;
}

#[tokio::test]
async fn warp_two_instances_share_one_refresh_through_redis() {
    one_refresh_on_redis::<WarpApp>().await;
}

/// Two instances of `A` registering dynamically on one Redis register one client, kept there
/// (its secret encrypted with the record): a login started on one completes on the other.
async fn one_registration_on_redis<A: App>() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    oidc_testkit::instance_scenarios::instances_share_one_registration_on::<A>(
        Arc::new(encrypted_store(&server.url).await),
        Arc::new(encrypted_store(&server.url).await),
        Some(now()),
    )
    .await;
}

#[tokio::test]
async fn instances_share_one_registration_through_redis() {
    one_registration_on_redis::<AxumApp>().await;
}

#[tokio::test]
async fn rocket_instances_share_one_registration_through_redis() {
    one_registration_on_redis::<RocketApp>().await;
}

#[tokio::test]
async fn warp_instances_share_one_registration_through_redis() {
    one_registration_on_redis::<WarpApp>().await;
}

/// Every operation, as the first call on a connection that a Redis restart broke, succeeds:
/// each store here used its connection before the restart and makes one call after it.
#[tokio::test]
async fn every_operation_reconnects_after_a_redis_restart() {
    use oidc_runtime::SessionStore;
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let mut stores = Vec::new();
    for _ in 0..7 {
        let store = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
        assert!(store.load("warm-up").await.unwrap().is_none());
        stores.push(store);
    }
    server.restart();
    let record = user_record(now() + 60, "alice", Some("s1"));
    assert!(stores[0].load("x").await.unwrap().is_none());
    stores[1].save("x", &record).await.unwrap();
    assert_eq!(stores[2].load("x").await.unwrap().as_ref(), Some(&record));
    let ttl = Duration::from_secs(60);
    assert!(stores[3].mark_spent("k", ttl).await.unwrap());
    assert!(
        !stores[4].mark_spent("k", ttl).await.unwrap(),
        "a retried mark finds another's"
    );
    stores[5]
        .delete_indexed(&oidc_core::session::sid_index_key(ISSUER, "s1"))
        .await
        .unwrap();
    assert!(stores[0].load("x").await.unwrap().is_none());
    stores[1].save("y", &record).await.unwrap();
    stores[6].delete("y").await.unwrap();
    assert!(stores[0].load("y").await.unwrap().is_none());
}

/// A TCP proxy to Redis on a port of its own. Once `armed`, it forwards the client's next
/// bytes to Redis, waits for Redis' answer, and closes the client's connection without
/// relaying it: a command that was applied but whose answer was lost.
async fn answer_losing_proxy(redis_port: u16) -> (u16, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let armed = Arc::new(AtomicBool::new(false));
    let trigger = armed.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let trigger = trigger.clone();
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(("127.0.0.1", redis_port))
                    .await
                    .unwrap();
                let (mut from_buf, mut to_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
                loop {
                    tokio::select! {
                        n = client.read(&mut from_buf) => {
                            let Ok(n @ 1..) = n else { return };
                            if server.write_all(&from_buf[..n]).await.is_err() {
                                return;
                            }
                            if trigger.swap(false, Ordering::SeqCst) {
                                // Redis has answered, so it applied the command.
                                let _ = server.read(&mut to_buf).await;
                                return;
                            }
                        }
                        n = server.read(&mut to_buf) => {
                            let Ok(n @ 1..) = n else { return };
                            if client.write_all(&to_buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (port, armed)
}

/// The spent mark's `SET NX` reached Redis but its answer was lost: the retry finds the key,
/// sees its own token there, and reports the mark as taken by this call (a plain retry would
/// say "already spent" and refuse a legitimate login); another caller still loses.
#[tokio::test]
async fn a_spent_mark_whose_answer_was_lost_is_still_won_once() {
    use oidc_runtime::SessionStore;
    use std::sync::atomic::Ordering;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (port, armed) = answer_losing_proxy(server.port).await;
    let store = oidc_redis::RedisStore::connect(&format!("redis://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert!(store.load("warm-up").await.unwrap().is_none());
    armed.store(true, Ordering::SeqCst);
    let ttl = Duration::from_secs(60);
    assert!(store.mark_spent("state-1", ttl).await.unwrap(), "won");
    assert!(!armed.load(Ordering::SeqCst), "the answer was lost");
    let other = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    assert!(!other.mark_spent("state-1", ttl).await.unwrap(), "once");
    // Idempotent writes retried the same way apply once and succeed.
    armed.store(true, Ordering::SeqCst);
    let record = user_record(now() + 60, "alice", None);
    store.save("r", &record).await.unwrap();
    assert!(!armed.load(Ordering::SeqCst));
    assert_eq!(other.load("r").await.unwrap().as_ref(), Some(&record));
}

/// Records are listed under their index keys (under the store's prefix), index sets live as
/// long as their latest record, and `delete_indexed` deletes all and only the listed records.
#[tokio::test]
async fn sessions_are_indexed_and_deleted_by_index_in_redis() {
    use oidc_core::session::{sid_index_key, subject_index_key};
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = oidc_redis::RedisStore::connect(&server.url)
        .await
        .unwrap()
        .with_prefix("t:");
    let t = now();
    store
        .save("a1", &user_record(t + 100, "alice", Some("s1")))
        .await
        .unwrap();
    store
        .save("a2", &user_record(t + 300, "alice", Some("s1")))
        .await
        .unwrap();
    store
        .save("a3", &user_record(t + 200, "alice", Some("s2")))
        .await
        .unwrap();
    store
        .save("b1", &user_record(t + 100, "bob", Some("s9")))
        .await
        .unwrap();
    store
        .save("anon", &oidc_core::SessionRecord::new(t + 100))
        .await
        .unwrap();

    let keys = server.cli(&["KEYS", "*"]);
    assert!(keys.lines().all(|k| k.starts_with("t:")), "{keys}");
    let s1 = format!("t:idx:{}", sid_index_key(ISSUER, "s1"));
    let mut members: Vec<String> = server
        .cli(&["SMEMBERS", &s1])
        .lines()
        .map(str::to_owned)
        .collect();
    members.sort();
    assert_eq!(members, ["a1", "a2"]);
    let expiry = |key: &str| -> u64 { server.cli(&["EXPIRETIME", key]).parse().unwrap() };
    assert_eq!(expiry(&s1), t + 300, "as long as its latest record");
    let alice = format!("t:idx:{}", subject_index_key(ISSUER, "alice"));
    assert_eq!(expiry(&alice), t + 300);
    // A record saved again with an earlier expiry does not shorten the set.
    store
        .save("a1", &user_record(t + 50, "alice", Some("s1")))
        .await
        .unwrap();
    assert_eq!(expiry(&s1), t + 300);

    store
        .delete_indexed(&sid_index_key(ISSUER, "s1"))
        .await
        .unwrap();
    for gone in ["a1", "a2"] {
        assert!(store.load(gone).await.unwrap().is_none(), "{gone}");
    }
    for kept in ["a3", "b1", "anon"] {
        assert!(store.load(kept).await.unwrap().is_some(), "{kept}");
    }
    assert_eq!(server.cli(&["EXISTS", &s1]), "0", "the set goes too");
    store
        .delete_indexed(&subject_index_key(ISSUER, "alice"))
        .await
        .unwrap();
    assert!(store.load("a3").await.unwrap().is_none());
    assert!(store.load("b1").await.unwrap().is_some());
    assert!(store.load("anon").await.unwrap().is_some());
}

/// A user who logs in again and again (each login a new session id, the old one deleted)
/// does not grow their index sets without bound: ids of records gone are pruned.
#[tokio::test]
async fn index_sets_stay_bounded_in_redis() {
    use oidc_core::session::subject_index_key;
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = oidc_redis::RedisStore::connect(&server.url).await.unwrap();
    for i in 0..100 {
        let id = format!("session{i}");
        store
            .save(&id, &user_record(now() + 60, "alice", None))
            .await
            .unwrap();
        if i < 99 {
            store.delete(&id).await.unwrap();
        }
    }
    let set = format!("oidc:session:idx:{}", subject_index_key(ISSUER, "alice"));
    let size: usize = server.cli(&["SCARD", &set]).parse().unwrap();
    assert!((1..=17).contains(&size), "{size} ids");
    store
        .delete_indexed(&subject_index_key(ISSUER, "alice"))
        .await
        .unwrap();
    assert!(store.load("session99").await.unwrap().is_none());
}

/// Two apps on one Redis, each with its own prefix, see none of each other's records, spent
/// marks or index entries.
#[tokio::test]
async fn two_prefixes_on_one_redis_are_apart() {
    use oidc_core::session::subject_index_key;
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let one = oidc_redis::RedisStore::connect(&server.url)
        .await
        .unwrap()
        .with_prefix("app1:");
    let two = oidc_redis::RedisStore::connect(&server.url)
        .await
        .unwrap()
        .with_prefix("app2:");
    let record = user_record(now() + 60, "alice", Some("s1"));
    one.save("same-id", &record).await.unwrap();
    assert!(two.load("same-id").await.unwrap().is_none());
    let ttl = Duration::from_secs(60);
    assert!(one.mark_spent("k", ttl).await.unwrap());
    assert!(two.mark_spent("k", ttl).await.unwrap(), "its own mark");
    two.save("other-id", &record).await.unwrap();
    two.delete_indexed(&subject_index_key(ISSUER, "alice"))
        .await
        .unwrap();
    assert!(two.load("other-id").await.unwrap().is_none());
    assert_eq!(one.load("same-id").await.unwrap().as_ref(), Some(&record));
    let keys = server.cli(&["KEYS", "*"]);
    assert!(
        keys.lines()
            .all(|k| k.starts_with("app1:") || k.starts_with("app2:")),
        "{keys}"
    );
    assert!(keys.lines().any(|k| k.starts_with("app1:spent:")), "{keys}");
    assert!(keys.lines().any(|k| k.starts_with("app1:idx:")), "{keys}");
}

/// With encryption on, what Redis holds is a JWE naming its key, with none of the tokens'
/// or the user's text; it reads back the same; after a rotation old records are still read
/// and new ones use the new key; tampered, moved or plaintext records are no session.
#[tokio::test]
async fn records_are_encrypted_at_rest_in_redis() {
    use oidc_runtime::SessionStore;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let connect = || oidc_redis::RedisStore::connect(&server.url);
    let plain = connect().await.unwrap();
    let old = connect()
        .await
        .unwrap()
        .encrypt_records(OLD_SECRET, &[])
        .unwrap();
    let rotated = connect()
        .await
        .unwrap()
        .encrypt_records(SECRET, &[OLD_SECRET])
        .unwrap();
    let new_only = encrypted_store(&server.url).await;
    let record = user_record(now() + 60, "alice", Some("s1"));

    old.save("r1", &record).await.unwrap();
    let raw = server.cli(&["GET", "oidc:session:r1"]);
    assert_eq!(raw.split('.').count(), 5, "a compact JWE: {raw}");
    for text in [
        "access-token-of-alice",
        "refresh-token-of-alice",
        "alice",
        "header.payload",
    ] {
        assert!(!raw.contains(text), "{text} in {raw}");
    }
    assert_eq!(old.load("r1").await.unwrap().as_ref(), Some(&record));
    assert_eq!(
        rotated.load("r1").await.unwrap().as_ref(),
        Some(&record),
        "old key still read"
    );
    assert!(new_only.load("r1").await.unwrap().is_none(), "rotated out");

    rotated.save("r2", &record).await.unwrap();
    assert!(
        old.load("r2").await.unwrap().is_none(),
        "new writes use the new key"
    );
    assert_eq!(new_only.load("r2").await.unwrap().as_ref(), Some(&record));

    let sealed = server.cli(&["GET", "oidc:session:r2"]);
    let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
    let flipped = if parts[3].starts_with('A') { "B" } else { "A" };
    parts[3].replace_range(0..1, flipped);
    server.cli(&["SET", "oidc:session:r2", &parts.join("."), "EX", "60"]);
    assert!(rotated.load("r2").await.unwrap().is_none(), "tampered");
    server.cli(&["SET", "oidc:session:r4", &sealed, "EX", "60"]);
    assert!(
        rotated.load("r4").await.unwrap().is_none(),
        "moved to another id"
    );

    plain.save("r3", &record).await.unwrap();
    assert!(server
        .cli(&["GET", "oidc:session:r3"])
        .contains("access-token-of-alice"));
    assert_eq!(
        plain.load("r3").await.unwrap().as_ref(),
        Some(&record),
        "as before"
    );
    assert!(
        rotated.load("r3").await.unwrap().is_none(),
        "plaintext is no session"
    );

    assert!(connect()
        .await
        .unwrap()
        .encrypt_records(b"short", &[])
        .is_err());
    let debug = format!("{rotated:?}");
    assert!(
        !debug.contains("session secret") && debug.contains("encryption_keys: Some(2)"),
        "{debug}"
    );
}

/// `rediss://` reaches a Redis over TLS (Debian's redis-server is built with it), with a
/// self-signed certificate made by the `openssl` CLI: verified against it as the root, or
/// with `#insecure`; without either, the certificate is refused.
#[tokio::test]
async fn rediss_urls_connect_over_tls() {
    use oidc_runtime::SessionStore;
    if !redis_installed() {
        return;
    }
    let certs = std::env::temp_dir().join(format!("oidc-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&certs).unwrap();
    let (cert, key) = (certs.join("cert.pem"), certs.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // A server certificate, not a CA's (openssl's default for `-x509`): rustls
            // (webpki) refuses a CA certificate as a server's, even one trusted as the root.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match made {
        Ok(s) if s.success() => {}
        other if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: the openssl CLI cannot make a certificate: {other:?}");
            return;
        }
        other => panic!("the openssl CLI is required in CI: {other:?}"),
    }
    let tls_port = free_port();
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let server = RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &cert_arg,
        "--tls-key-file",
        &key_arg,
        "--tls-ca-cert-file",
        &cert_arg,
        "--tls-auth-clients",
        "no",
    ])
    .expect("redis-server is installed");
    let url = format!("rediss://127.0.0.1:{tls_port}/");
    let ca = std::fs::read(&cert).unwrap();
    let record = user_record(now() + 60, "alice", None);

    let verified =
        oidc_redis::RedisStore::connect_with_root_cert(&url, &ca, Duration::from_secs(2))
            .await
            .unwrap();
    verified.save("over-tls", &record).await.unwrap();
    assert_eq!(
        verified.load("over-tls").await.unwrap().as_ref(),
        Some(&record)
    );
    // The same Redis, seen on its plain port: the TLS connection really wrote there.
    assert_eq!(server.cli(&["EXISTS", "oidc:session:over-tls"]), "1");

    let insecure = oidc_redis::RedisStore::connect(&format!("{url}#insecure"))
        .await
        .unwrap();
    assert_eq!(
        insecure.load("over-tls").await.unwrap().as_ref(),
        Some(&record)
    );

    assert!(
        oidc_redis::RedisStore::connect(&url).await.is_err(),
        "a certificate the system does not trust is refused"
    );
    let _ = std::fs::remove_dir_all(&certs);
}
