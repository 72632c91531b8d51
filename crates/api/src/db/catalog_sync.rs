//! Telling the other instances that the menu changed, over Redis pub/sub.
//!
//! Each instance keeps its own copy of the menu (`catalog.rs`). When the
//! admin changes a dish, the instance that made the change reloads its copy
//! and publishes on [`CHANNEL`]; every other instance listens there with a
//! client of its own (a subscribed connection can send nothing else) and
//! reloads as the message arrives. Pub/sub keeps nothing for a listener that
//! is away: after its connection comes back, an instance reloads anyway, in
//! case it missed a change meanwhile, and the TTL bounds what any lost
//! message can cost.

use std::sync::Arc;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tower_sessions_redis_store::fred;

use fred::clients::{Pool, SubscriberClient};
use fred::prelude::{Builder, ClientLike, EventInterface, PubsubInterface};
use fred::types::Message;
use fred::types::config::Server;

use super::catalog::Catalog;

/// The channel menu changes are announced on. Instances of other
/// deployments that share the Redis only reload once more than needed.
pub const CHANNEL: &str = "kitchen-memory:catalog-changed";

/// Announces this instance's menu changes; the message is the instance's
/// own random id, so it can ignore its own announcements.
#[derive(Clone)]
pub struct Announcer {
    pool: Pool,
    origin: Arc<str>,
}

impl Announcer {
    pub fn new(pool: Pool) -> Self {
        Announcer {
            pool,
            origin: format!("{:016x}", rand::random::<u64>()).into(),
        }
    }

    /// Publishes a change. A failure is logged: the other instances then
    /// show the change once their copy passes its TTL.
    pub async fn announce(&self) {
        let published: Result<i64, _> = self.pool.next().publish(CHANNEL, &*self.origin).await;
        match published {
            Ok(listeners) => {
                tracing::debug!(listeners, "menu change announced");
            }
            Err(e) => tracing::warn!(
                error = %e,
                "announcing a menu change failed; other instances show it within CATALOG_CACHE_TTL_MS"
            ),
        }
    }
}

/// The listening side: its own Redis client and the task that reloads the
/// menu on each announcement. Stopped with [`Subscriber::stop`].
pub struct Subscriber {
    client: SubscriberClient,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Connects a subscriber client built like the session pool (`builder`:
    /// same server, timeouts and reconnect policy), subscribes, and starts
    /// listening; returns once subscribed, so a change made after this
    /// instance is built reaches it.
    pub async fn start(
        builder: &Builder,
        catalog: Arc<Catalog>,
        announcer: &Announcer,
    ) -> anyhow::Result<Self> {
        let mut builder = builder.clone();
        // Named in CLIENT LIST, so an operator can tell the listener apart.
        builder.with_connection_config(|c| c.auto_client_setname = true);
        let client = builder
            .build_subscriber_client()
            .map_err(|e| anyhow::anyhow!("cannot set up the Redis menu listener: {e}"))?;
        client
            .init()
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect the Redis menu listener: {e}"))?;
        // Taken before subscribing, so no announcement slips between.
        let messages = client.message_rx();
        let reconnects = client.reconnect_rx();
        client
            .subscribe(CHANNEL)
            .await
            .map_err(|e| anyhow::anyhow!("cannot subscribe to {CHANNEL}: {e}"))?;
        let task = tokio::spawn(listen(
            client.clone(),
            messages,
            reconnects,
            catalog,
            announcer.origin.clone(),
        ));
        Ok(Subscriber { client, task })
    }

    /// Stops listening and closes the connection.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let _ = self.client.quit().await;
    }
}

async fn listen(
    client: SubscriberClient,
    mut messages: Receiver<Message>,
    mut reconnects: Receiver<Server>,
    catalog: Arc<Catalog>,
    origin: Arc<str>,
) {
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(message) => {
                    let own = message.value.as_str().is_some_and(|v| *v == *origin);
                    // Announcements that queued up meanwhile are all
                    // answered by the one reload.
                    let mut others = !own;
                    while let Ok(next) = messages.try_recv() {
                        others |= next.value.as_str().is_none_or(|v| *v != *origin);
                    }
                    if others {
                        catalog.changed_elsewhere().await;
                    }
                }
                Err(RecvError::Lagged(_)) => catalog.changed_elsewhere().await,
                Err(RecvError::Closed) => break,
            },
            reconnect = reconnects.recv() => match reconnect {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    tracing::info!("the Redis menu listener reconnected; subscribing again and reloading the menu");
                    if let Err(e) = client.resubscribe_all().await {
                        tracing::warn!(error = %e, "subscribing to menu changes again failed; the menu follows CATALOG_CACHE_TTL_MS until the next reconnect");
                    }
                    catalog.changed_elsewhere().await;
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use fred::prelude::Config;
    use fred::types::{ClusterHash, CustomCommand};
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;

    use super::*;

    /// A builder on the suite's Redis that reconnects as the service's does.
    fn builder() -> Builder {
        let url = std::env::var("TEST_REDIS_URL").expect("set TEST_REDIS_URL");
        let mut builder = Builder::from_config(Config::from_url(&url).unwrap());
        builder.set_policy(crate::startup::redis_reconnect_policy());
        builder
    }

    async fn price_of_dish_1(catalog: &Arc<Catalog>) -> String {
        let menu = catalog.snapshot().await;
        let id = domain::ProductId::parse(1).unwrap();
        menu.entry(id).unwrap().price.to_string()
    }

    /// Polls until dish 1 has `price` in the catalog, for up to 10 s.
    async fn wait_for_price(catalog: &Arc<Catalog>, price: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while price_of_dish_1(catalog).await != price {
            assert!(Instant::now() < deadline, "the menu never showed {price}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `CLIENT <args>` on the suite's Redis.
    async fn client_command<R: fred::types::FromValue>(pool: &Pool, args: Vec<&str>) -> R {
        pool.next()
            .custom(
                CustomCommand::new("CLIENT", ClusterHash::FirstKey, false),
                args,
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn the_listener_reloads_after_its_connection_is_cut_and_hears_announcements_again() {
        let dir = std::env::temp_dir().join(format!("km-sync-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("menu.db").display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        // Only an invalidation, never the TTL, reloads during this test.
        let catalog = Arc::new(
            Catalog::load(db.clone(), Duration::from_secs(600), Duration::from_secs(2))
                .await
                .unwrap(),
        );
        let pool = builder().build_pool(1).unwrap();
        pool.init().await.unwrap();
        let this_instance = Announcer::new(pool.clone());
        let other_instance = Announcer::new(pool.clone());
        let subscriber = Subscriber::start(&builder(), catalog.clone(), &this_instance)
            .await
            .unwrap();
        assert_eq!(price_of_dish_1(&catalog).await, "12.50");

        // Heard at all.
        db.execute_unprepared("UPDATE products SET price_cents = 1100 WHERE id = 1")
            .await
            .unwrap();
        other_instance.announce().await;
        wait_for_price(&catalog, "11.00").await;

        // The listener's connection is cut (found in CLIENT LIST by its name);
        // a change made meanwhile, announced to no one, shows once it is back.
        let list: String = client_command(&pool, vec!["LIST", "TYPE", "pubsub"]).await;
        let name = format!("name={}", subscriber.client.id());
        let id = list
            .lines()
            .find(|l| l.split(' ').any(|f| f == name))
            .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .to_owned();
        db.execute_unprepared("UPDATE products SET price_cents = 1200 WHERE id = 1")
            .await
            .unwrap();
        let killed: i64 = client_command(&pool, vec!["KILL", "ID", id.as_str()]).await;
        assert_eq!(killed, 1);
        wait_for_price(&catalog, "12.00").await;

        // Subscribed again: the next announcement is heard.
        db.execute_unprepared("UPDATE products SET price_cents = 1300 WHERE id = 1")
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while price_of_dish_1(&catalog).await != "13.00" {
            assert!(
                Instant::now() < deadline,
                "no announcement heard after the reconnect"
            );
            other_instance.announce().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Its own announcements cost it no reload.
        db.execute_unprepared("UPDATE products SET price_cents = 1400 WHERE id = 1")
            .await
            .unwrap();
        this_instance.announce().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(price_of_dish_1(&catalog).await, "13.00");

        // Stopped, its connection is closed (Redis drops it after QUIT).
        subscriber.stop().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let list: String = client_command(&pool, vec!["LIST", "TYPE", "pubsub"]).await;
            if !list.split([' ', '\n']).any(|f| f == name) {
                break;
            }
            assert!(Instant::now() < deadline, "still connected: {list}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = pool.quit().await;
        db.close().await.ok();
        std::fs::remove_dir_all(dir).ok();
    }
}
