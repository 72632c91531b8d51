//! The menu, cached in memory.
//!
//! Every cart read needs the name, price and availability of each of its
//! dishes; asking the database for them on every request would cost a round
//! trip per request. The catalog is small, so the whole of it is kept as one
//! immutable snapshot, reloaded when older than the configured TTL (one
//! request reloads while the others keep using the previous snapshot) and
//! reloaded at once after this service changes a dish or takes stock.
//!
//! A dish changed by the admin is announced to the other instances when
//! they share a Redis (see `catalog_sync`): each reloads as the announcement
//! arrives, and until it has, its reads wait for that reload (briefly: see
//! below) instead of serving the menu they know is old. Without Redis,
//! another instance shows the change once its snapshot passes the TTL.
//!
//! The database may be down. A reload is bounded by the database timeout,
//! and runs in a task of its own: a request waits for it only briefly
//! ([`RELOAD_WAIT`]), then serves the previous snapshot while the reload
//! goes on. Once a reload has failed, requests serve the last menu read
//! without waiting at all, and a reload is tried again in the background at
//! most every [`RETRY_AFTER_FAILURE`], so the menu, the products and every
//! cart keep being served through an outage and show the database's menu
//! again as soon as it answers.
//!
//! Each snapshot carries a version: a digest of the rows it was read from.
//! The public menu routes send it as their `ETag`, so two instances that read
//! the same menu give the same tag, and a changed dish (or stock) a new one.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use domain::preferences::Cuisine;
use domain::profile::{DietaryTag, SpiceLevel, parse_dietary_tags};
use domain::recommend::DishFacts;
use domain::{CatalogEntry, Money, ProductId};
use headers::ETag;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use sha2::{Digest, Sha256};

use super::catalog_sync::Announcer;
use super::entities::product;

/// How long a request whose snapshot expired waits for the reload it
/// started: a healthy database reads the menu in a few milliseconds; one
/// that takes longer is not waited for (the previous menu is served).
const RELOAD_WAIT: Duration = Duration::from_millis(250);

/// After a failed reload, how long until the next is tried: meanwhile
/// requests serve the last menu read, and the database is not asked again
/// and again while it is down.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(250);

/// A dish as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dish {
    pub id: ProductId,
    pub description: String,
    pub image_url: Option<String>,
    pub spice_level: SpiceLevel,
    pub dietary_tags: BTreeSet<DietaryTag>,
    pub cuisine: Option<Cuisine>,
    pub entry: CatalogEntry,
}

impl Dish {
    /// The facts the recommender ranks by.
    pub fn facts(&self) -> DishFacts<'_> {
        DishFacts {
            id: self.id,
            name: &self.entry.name,
            spice_level: self.spice_level,
            dietary_tags: &self.dietary_tags,
            cuisine: self.cuisine,
        }
    }
}

/// One consistent view of the whole menu.
#[derive(Debug)]
pub struct Snapshot {
    by_id: HashMap<ProductId, Dish>,
    /// Available dishes in menu order (by id).
    available: Vec<ProductId>,
    /// A digest of the rows this snapshot was read from, as an entity tag.
    version: ETag,
}

impl Snapshot {
    pub fn get(&self, id: ProductId) -> Option<&Dish> {
        self.by_id.get(&id)
    }

    pub fn entry(&self, id: ProductId) -> Option<&CatalogEntry> {
        self.by_id.get(&id).map(|d| &d.entry)
    }

    /// Available dishes in menu order.
    pub fn available(&self) -> impl Iterator<Item = &Dish> + '_ {
        self.available.iter().filter_map(|id| self.by_id.get(id))
    }

    /// The menu's version as an entity tag: it changes whenever anything a
    /// client can see in the menu changes, and is the same for the same menu
    /// on every instance.
    pub fn version(&self) -> &ETag {
        &self.version
    }
}

/// How the last read of the menu went.
#[derive(Debug, Clone, Copy)]
enum Fetched {
    /// The snapshot was read then.
    At(Instant),
    /// The last reload failed then; the snapshot is older.
    FailedAt(Instant),
}

struct Cached {
    fetched: Fetched,
    /// The invalidation count when its read started (see `Catalog::wanted`).
    generation: u64,
    snapshot: Arc<Snapshot>,
}

/// How a cached snapshot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Within its TTL, and no change is known since it was read.
    Fresh,
    /// Older than the TTL: one caller reloads, the others serve it meanwhile.
    Expired,
    /// The last reload failed (then): it is served as it is, and reloaded in
    /// the background once [`RETRY_AFTER_FAILURE`] has passed.
    Failing(Instant),
    /// A dish changed since it was read (here or on another instance):
    /// callers wait for the reload rather than serve a menu known to be old
    /// (but at most [`RELOAD_WAIT`]: the database may be down).
    Invalidated,
}

pub struct Catalog {
    db: DatabaseConnection,
    ttl: Duration,
    /// How long a reload may wait for the database.
    database_timeout: Duration,
    current: RwLock<Cached>,
    /// How many changes have been announced; a snapshot read before the
    /// latest is stale whatever its age. Counting (rather than a flag) keeps
    /// a reload that started before a change from passing for one after it.
    wanted: AtomicU64,
    /// Held by the one reload under way (in a task of its own, see
    /// [`Catalog::snapshot`]).
    reload: Arc<tokio::sync::Mutex<()>>,
    /// Where changes are announced to the other instances, when there are any.
    announcer: Option<Announcer>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Loads the menu once; fails when the database cannot be read. Each
    /// reload waits at most `database_timeout` for the database.
    pub async fn load(
        db: DatabaseConnection,
        ttl: Duration,
        database_timeout: Duration,
    ) -> Result<Self, sea_orm::DbErr> {
        let snapshot = Arc::new(super::within(database_timeout, fetch(&db)).await?);
        Ok(Catalog {
            db,
            ttl,
            database_timeout,
            current: RwLock::new(Cached {
                fetched: Fetched::At(Instant::now()),
                generation: 0,
                snapshot,
            }),
            wanted: AtomicU64::new(0),
            reload: Arc::new(tokio::sync::Mutex::new(())),
            announcer: None,
        })
    }

    /// Announces each change made here to the other instances (see
    /// [`Catalog::changed`]).
    pub fn announcing_to(mut self, announcer: Announcer) -> Self {
        self.announcer = Some(announcer);
        self
    }

    /// How long a snapshot is served before it is read again.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The current menu. When the cached one is older than the TTL, one
    /// caller starts a reload and waits for it at most [`RELOAD_WAIT`];
    /// callers that find a reload under way use the previous snapshot rather
    /// than wait. When a dish is known to have changed since the snapshot
    /// was read, callers wait for the reload rather than serve a menu known
    /// to be old (the one under way, then their own if still needed), but
    /// again at most [`RELOAD_WAIT`] in all. After a failed reload,
    /// callers serve the previous snapshot at once, and one starts another
    /// reload in the background once [`RETRY_AFTER_FAILURE`] has passed.
    /// There is always a menu to serve: when a reload fails or is slow, the
    /// previous one is served (a failure is logged).
    pub async fn snapshot(self: &Arc<Self>) -> Arc<Snapshot> {
        // One deadline for both waits (for the reload under way, then for
        // this caller's own): a read waits at most this long in all.
        let deadline = tokio::time::Instant::now() + RELOAD_WAIT;
        let (standing, snapshot) = self.peek();
        let guard = match standing {
            Standing::Fresh => return snapshot,
            Standing::Failing(at) if at.elapsed() < RETRY_AFTER_FAILURE => return snapshot,
            Standing::Expired | Standing::Failing(_) => {
                match self.reload.clone().try_lock_owned() {
                    Ok(guard) => guard,
                    Err(_) => return snapshot,
                }
            }
            // The reload under way is usually the one that was needed.
            Standing::Invalidated => {
                let lock = self.reload.clone().lock_owned();
                match tokio::time::timeout_at(deadline, lock).await {
                    Ok(guard) => guard,
                    Err(_) => return snapshot,
                }
            }
        };
        // Another caller may have reloaded (or failed to) meanwhile.
        let (standing, snapshot) = self.peek();
        let failing = match standing {
            Standing::Fresh => return snapshot,
            Standing::Failing(at) if at.elapsed() < RETRY_AFTER_FAILURE => return snapshot,
            Standing::Failing(_) => true,
            Standing::Expired | Standing::Invalidated => false,
        };
        // In a task of its own, so that it ends (and stores what it read, or
        // its failure) whether or not this caller waits.
        let catalog = self.clone();
        let previous = snapshot.clone();
        let reload = tokio::spawn(async move {
            let _guard = guard;
            catalog.reload_or_serve(previous).await
        });
        if failing {
            return snapshot;
        }
        match tokio::time::timeout_at(deadline, reload).await {
            Ok(Ok(reloaded)) => reloaded,
            Ok(Err(_)) | Err(_) => snapshot,
        }
    }

    /// A dish was changed by this instance: reloads now, so the next read
    /// here shows the change, and announces it to the other instances. A
    /// reload that fails is reported, and the next read tries again.
    pub async fn changed(&self) -> Result<Arc<Snapshot>, sea_orm::DbErr> {
        let reloaded = self.invalidate().await;
        if let Some(announcer) = &self.announcer {
            announcer.announce().await;
        }
        reloaded
    }

    /// Reloads now: called after this service changes stock or a dish.
    pub async fn invalidate(&self) -> Result<Arc<Snapshot>, sea_orm::DbErr> {
        self.wanted.fetch_add(1, Ordering::SeqCst);
        let _guard = self.reload.lock().await;
        let (standing, snapshot) = self.peek();
        if standing != Standing::Invalidated {
            return Ok(snapshot);
        }
        self.fetch_and_store().await
    }

    /// Another instance changed a dish (or the announcements may have been
    /// missed): reads wait for a reload, which starts now.
    pub async fn changed_elsewhere(&self) {
        if let Err(e) = self.invalidate().await {
            tracing::warn!(error = %e, "menu reload after a change on another instance failed; the next read tries again");
        }
    }

    async fn reload_or_serve(&self, previous: Arc<Snapshot>) -> Arc<Snapshot> {
        match self.fetch_and_store().await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(error = %e, "catalog reload failed; serving the previous menu");
                previous
            }
        }
    }

    /// Reads the menu (the reload lock held), waiting at most the database
    /// timeout. On failure the snapshot is kept but marked as failing: it is
    /// served as it is, and reloaded in the background, by one caller at a
    /// time, so an outage does not queue every request behind it.
    async fn fetch_and_store(&self) -> Result<Arc<Snapshot>, sea_orm::DbErr> {
        let generation = self.wanted.load(Ordering::SeqCst);
        let fetched = super::within(self.database_timeout, fetch(&self.db)).await;
        crate::metrics::menu_reloaded(fetched.is_ok());
        let mut cached = self.current.write().unwrap_or_else(|p| p.into_inner());
        cached.generation = generation;
        match fetched {
            Ok(new) => {
                cached.snapshot = Arc::new(new);
                cached.fetched = Fetched::At(Instant::now());
                Ok(cached.snapshot.clone())
            }
            Err(e) => {
                cached.fetched = Fetched::FailedAt(Instant::now());
                Err(e)
            }
        }
    }

    fn peek(&self) -> (Standing, Arc<Snapshot>) {
        let cached = self.current.read().unwrap_or_else(|p| p.into_inner());
        let standing = if cached.generation < self.wanted.load(Ordering::SeqCst) {
            Standing::Invalidated
        } else {
            match cached.fetched {
                Fetched::At(t) if t.elapsed() < self.ttl => Standing::Fresh,
                Fetched::At(_) => Standing::Expired,
                Fetched::FailedAt(t) => Standing::Failing(t),
            }
        };
        (standing, cached.snapshot.clone())
    }
}

async fn fetch(db: &DatabaseConnection) -> Result<Snapshot, sea_orm::DbErr> {
    let rows = product::Entity::find()
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?;
    let mut snapshot = Snapshot {
        by_id: HashMap::new(),
        available: Vec::new(),
        version: version_of(&rows)?,
    };
    for dish in rows.into_iter().filter_map(dish_of) {
        if dish.entry.available {
            snapshot.available.push(dish.id);
        }
        snapshot.by_id.insert(dish.id, dish);
    }
    Ok(snapshot)
}

/// A menu row as a dish, or `None` (logged) for a row no dish can be made
/// of: an id below 1 or a negative price.
pub(crate) fn dish_of(row: product::Model) -> Option<Dish> {
    let Ok(id) = ProductId::try_from(row.id) else {
        tracing::warn!(
            dish = row.id,
            "a dish id below 1 in the menu; leaving the dish out"
        );
        return None;
    };
    let Ok(price) = Money::from_minor_units(row.price_cents) else {
        tracing::warn!(
            dish = row.id,
            price_cents = row.price_cents,
            "a negative price in the menu; leaving the dish out"
        );
        return None;
    };
    // The columns hold the fixed vocabulary; a value written by hand
    // that is not in it is logged and read as the safe default.
    let spice_level = row.spice_level.parse().unwrap_or_else(|e| {
        tracing::warn!(dish = row.id, error = %e, "unknown spice level in the menu; reading it as mild");
        SpiceLevel::Mild
    });
    let cuisine = row.cuisine.as_deref().and_then(|c| {
        c.parse::<Cuisine>()
            .map_err(|e| tracing::warn!(dish = row.id, error = %e, "unknown cuisine in the menu; reading it as none"))
            .ok()
    });
    // The column holds no tags as an empty text, and may hold stray commas.
    let tags = row.dietary_tags.split(',').filter(|t| !t.trim().is_empty());
    let dietary_tags = parse_dietary_tags(tags).unwrap_or_else(|e| {
        tracing::warn!(dish = row.id, error = %e, "unknown dietary tag in the menu; reading the dish as untagged");
        BTreeSet::new()
    });
    Some(Dish {
        id,
        description: row.description,
        image_url: row.image_url,
        spice_level,
        dietary_tags,
        cuisine,
        entry: CatalogEntry {
            name: row.name,
            price,
            stock: super::orders::stock(row.stock),
            available: row.available,
        },
    })
}

/// A digest of every column of every row, in id order. Each field is written
/// with its length (or a presence byte) first, so that no two different
/// menus can feed the digest the same bytes.
fn version_of(rows: &[product::Model]) -> Result<ETag, sea_orm::DbErr> {
    fn text(hash: &mut Sha256, value: &str) {
        hash.update((value.len() as u64).to_le_bytes());
        hash.update(value.as_bytes());
    }
    fn optional(hash: &mut Sha256, value: Option<&str>) {
        hash.update([u8::from(value.is_some())]);
        text(hash, value.unwrap_or_default());
    }
    let mut hash = Sha256::new();
    for row in rows {
        hash.update(row.id.to_le_bytes());
        text(&mut hash, &row.name);
        text(&mut hash, &row.description);
        hash.update(row.price_cents.to_le_bytes());
        optional(&mut hash, row.image_url.as_deref());
        hash.update(row.stock.to_le_bytes());
        hash.update([u8::from(row.available)]);
        text(&mut hash, &row.spice_level);
        text(&mut hash, &row.dietary_tags);
        optional(&mut hash, row.cuisine.as_deref());
    }
    let digest = hash.finalize();
    // 128 bits are plenty to tell menus apart, and keep the header short.
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // Quoted hex digits are always an entity tag; were they ever refused,
    // loading the menu fails (and is logged) rather than serving it untagged.
    format!("\"{hex}\"").parse().map_err(|e| {
        sea_orm::DbErr::Custom(format!("the menu's digest {hex} is no entity tag: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use headers::HeaderMapExt;

    use super::*;

    /// A read of a menu known to be old waits for the reload under way,
    /// then for its own, at most [`RELOAD_WAIT`] in all.
    #[tokio::test]
    async fn an_invalidated_read_waits_at_most_the_reload_wait_in_all() {
        use migration::MigratorTrait;
        use sea_orm::{ConnectOptions, Database, TransactionTrait};

        // One connection, so that the test can take it from the reloads.
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).min_connections(1);
        let db = Database::connect(options).await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let timeout = Duration::from_secs(5);
        let catalog = Arc::new(
            Catalog::load(db.clone(), Duration::from_secs(60), timeout)
                .await
                .unwrap(),
        );
        let busy = db.begin().await.unwrap();
        catalog.wanted.fetch_add(1, Ordering::SeqCst);
        // Another caller's reload holds the lock for most of the wait, and
        // ends without reading (the menu stays invalidated).
        let under_way = catalog.reload.clone().lock_owned().await;
        let releasing = tokio::spawn(async move {
            tokio::time::sleep(RELOAD_WAIT * 4 / 5).await;
            drop(under_way);
        });

        let started = Instant::now();
        catalog.snapshot().await;
        let waited = started.elapsed();
        releasing.await.unwrap();
        busy.rollback().await.unwrap();
        assert!(
            waited < RELOAD_WAIT + Duration::from_millis(100),
            "waited {waited:?}"
        );
    }

    #[test]
    fn a_menu_version_is_a_quoted_entity_tag_of_32_hex_digits() {
        let mut headers = HeaderMap::new();
        headers.typed_insert(version_of(&[]).unwrap());
        let tag = headers[axum::http::header::ETAG].to_str().unwrap();
        assert_eq!(tag.len(), 34, "{tag}");
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        assert!(tag[1..33].bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
    }
}
