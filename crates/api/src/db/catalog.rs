//! The menu, cached in memory.
//!
//! Every cart read needs the name, price and availability of each of its
//! dishes; asking the database for them on every request would cost a round
//! trip per request. The catalog is small, so the whole of it is kept as one
//! immutable snapshot, reloaded when older than the configured TTL (one
//! request reloads while the others keep using the previous snapshot) and
//! reloaded at once after this service changes a dish.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use domain::preferences::Cuisine;
use domain::profile::{DietaryTag, SpiceLevel, parse_dietary_tags};
use domain::recommend::DishFacts;
use domain::{CatalogEntry, Money, ProductId};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};

use super::entities::product;

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
#[derive(Debug, Default)]
pub struct Snapshot {
    by_id: HashMap<ProductId, Dish>,
    /// Available dishes in menu order (by id).
    available: Vec<ProductId>,
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

    pub fn available_count(&self) -> usize {
        self.available.len()
    }
}

struct Cached {
    loaded_at: Instant,
    snapshot: Arc<Snapshot>,
}

pub struct Catalog {
    db: DatabaseConnection,
    ttl: Duration,
    current: RwLock<Cached>,
    reload: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Loads the menu once; fails when the database cannot be read.
    pub async fn load(db: DatabaseConnection, ttl: Duration) -> Result<Self, sea_orm::DbErr> {
        let snapshot = Arc::new(fetch(&db).await?);
        Ok(Catalog {
            db,
            ttl,
            current: RwLock::new(Cached {
                loaded_at: Instant::now(),
                snapshot,
            }),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    /// The current menu. When the cached one is older than the TTL, one
    /// caller reloads it; callers that find a reload under way use the
    /// previous snapshot rather than wait.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, sea_orm::DbErr> {
        let (fresh, snapshot) = self.peek();
        if fresh {
            return Ok(snapshot);
        }
        let Ok(_guard) = self.reload.try_lock() else {
            return Ok(snapshot);
        };
        // Another caller may have reloaded between the peek and the lock.
        let (fresh, snapshot) = self.peek();
        if fresh {
            return Ok(snapshot);
        }
        match fetch(&self.db).await {
            Ok(new) => Ok(self.store(new)),
            Err(e) => {
                tracing::warn!(error = %e, "catalog reload failed; serving the previous menu");
                Ok(snapshot)
            }
        }
    }

    /// Reloads now: called after this service changes a dish.
    pub async fn invalidate(&self) -> Result<Arc<Snapshot>, sea_orm::DbErr> {
        let _guard = self.reload.lock().await;
        let new = fetch(&self.db).await?;
        Ok(self.store(new))
    }

    fn peek(&self) -> (bool, Arc<Snapshot>) {
        let cached = self.current.read().unwrap_or_else(|p| p.into_inner());
        (
            cached.loaded_at.elapsed() < self.ttl,
            cached.snapshot.clone(),
        )
    }

    fn store(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        let mut cached = self.current.write().unwrap_or_else(|p| p.into_inner());
        *cached = Cached {
            loaded_at: Instant::now(),
            snapshot: snapshot.clone(),
        };
        snapshot
    }
}

async fn fetch(db: &DatabaseConnection) -> Result<Snapshot, sea_orm::DbErr> {
    let rows = product::Entity::find()
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?;
    let mut snapshot = Snapshot::default();
    for row in rows {
        let Ok(id) = ProductId::try_from(row.id) else {
            tracing::warn!(
                dish = row.id,
                "a dish id below 1 in the menu; leaving the dish out"
            );
            continue;
        };
        let Ok(price) = Money::from_minor_units(row.price_cents) else {
            tracing::warn!(
                dish = row.id,
                price_cents = row.price_cents,
                "a negative price in the menu; leaving the dish out"
            );
            continue;
        };
        if row.available {
            snapshot.available.push(id);
        }
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
        let dietary_tags = parse_dietary_tags(row.dietary_tags.split(',')).unwrap_or_else(|e| {
            tracing::warn!(dish = row.id, error = %e, "unknown dietary tag in the menu; reading the dish as untagged");
            BTreeSet::new()
        });
        snapshot.by_id.insert(
            id,
            Dish {
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
            },
        );
    }
    Ok(snapshot)
}
