//! Checkout and order tracking: `/orders`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::{Extension, Json};
use domain::cart::Refusal;
use domain::order::{KitchenRequest, parse_kitchen_requests};
use domain::{Cart, OrderId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::AppCookies;
use crate::db;
use crate::db::orders::{self, AccountCart, NewLine, Owner, PlaceError, StoredOrder};
use crate::error::{ApiError, PROBLEM_JSON, Problem, ProblemKind, ProblemLine};
use crate::extract::{AppJson, AppPath, RequestDeadline};
use crate::openapi;
use crate::responses::{Created, WithCookies};
use crate::rewards::{self, LOYALTY_COOKIE_DOC, VIP_COOKIE_DOC};
use crate::session::lock::SessionTurn;
use crate::session::visitor::{MAX_REMEMBERED_ORDERS, VisitorSession};
use crate::state::AppState;
use crate::views::OrderView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
}

/// This session's orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    pub items: Vec<OrderView>,
}

/// Checkout options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"special_requests": {"1": "extra basil, no garlic"}}))]
pub struct PlaceOrder {
    #[serde(default)]
    #[schema(schema_with = openapi::kitchen_requests::<{ KitchenRequest::MAX_CHARS }>)]
    pub special_requests: HashMap<String, String>,
}

/// Turn the cart into an order.
///
/// Stock is taken in the same transaction; when any line no longer fits
/// (not enough left, unavailable, removed from the menu) nothing is ordered,
/// nothing is taken, and the 409 names the lines. The cart is emptied only
/// once the order is stored. A signed-in visitor's order is their
/// account's, and their account's cart is emptied with it. The order's total is added to the signed
/// `loyalty` cookie, and to a VIP member's points in the `vip` cookie.
///
/// A 503 with `Retry-After` ordered nothing and took no stock: send it
/// again. A 503 without it says that the order may have been placed (the
/// database stopped answering while confirming it): do not order again, but
/// look at `GET /orders`.
#[utoipa::path(post, path = "/orders", tag = "orders",
    params(
        ("loyalty" = Option<String>, Cookie, description = LOYALTY_COOKIE_DOC),
        ("vip" = Option<String>, Cookie, description = VIP_COOKIE_DOC),
    ),
    request_body(content = Option<PlaceOrder>, description = "Optional: send no body, or `{}`, for no special requests"),
    responses(
        (status = 201, description = "The order", body = OrderView,
            headers(("Location" = String, description = "/api/v1/orders/{id}"),
                ("Set-Cookie" = String, description = "`loyalty` re-issued with the new total; `vip` with the new points for a member"))),
        (status = 409, description = "Some lines cannot be ordered; `lines` names each (`/problems/cart-not-orderable`). Or, signed in, the account's cart changed in another session while ordering (`/problems/changed-in-another-session`): check the cart and order again", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The cart is empty, or a special request is invalid", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn place_order(
    State(state): State<AppState>,
    session: VisitorSession,
    turn: Option<Extension<SessionTurn>>,
    deadline: Option<Extension<RequestDeadline>>,
    cookies: AppCookies,
    body: Option<AppJson<PlaceOrder>>,
) -> WithCookies<Created<Json<OrderView>>> {
    let deadline = deadline.map(|Extension(d)| d);
    WithCookies::run(cookies, async |cookies| {
        checkout(state, session, (turn, deadline), cookies, body).await
    })
    .await
}

async fn checkout(
    state: AppState,
    session: VisitorSession,
    (turn, deadline): (Option<Extension<SessionTurn>>, Option<RequestDeadline>),
    cookies: &mut AppCookies,
    body: Option<AppJson<PlaceOrder>>,
) -> Result<Created<Json<OrderView>>, ApiError> {
    let request = body.map(|AppJson(b)| b).unwrap_or_default();
    let (cart, account) = session.cart_to_order().await?;
    let lines = order_lines(&cart, &request)?;
    let stored = store_and_record(&state, &session, (turn, deadline), lines, account).await?;

    // The order is stored: the browser's loyalty total and VIP points grow.
    let total = orders::money(stored.order.total_cents)?;
    if let Err(e) = rewards::record_order(cookies, total) {
        tracing::warn!(order_id = stored.order.id, error = ?e, "the loyalty or VIP cookie could not be re-issued after an order");
    }
    Created::at(
        &format!("/api/v1/orders/{}", stored.order.id),
        Json(OrderView::try_from(stored)?),
    )
}

/// The cart's lines with their kitchen requests; refused when the cart is
/// empty or a request is invalid.
fn order_lines(cart: &Cart, request: &PlaceOrder) -> Result<Vec<NewLine>, ApiError> {
    if cart.is_empty() {
        return Err(ApiError::new(
            ProblemKind::EmptyCart,
            "The cart is empty; add dishes with POST /api/v1/cart/items before ordering.",
        ));
    }
    let raw = request
        .special_requests
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let mut requests = parse_kitchen_requests(raw, |id| cart.quantity_of(id).is_some())
        .map_err(|errors| ApiError::invalid_fields(errors.into_iter().map(Into::into).collect()))?;
    Ok(cart
        .lines()
        .iter()
        .map(|l| NewLine {
            product_id: l.product_id,
            quantity: l.quantity,
            special_requests: requests.remove(&l.product_id),
        })
        .collect())
}

/// How long a checkout waits for its commit's answer before settling it
/// from another connection, and for the session store to record a stored
/// order: well past the request timeout, so only a stuck database or
/// session store reaches it.
pub fn checkout_limit(request_timeout: Duration) -> Duration {
    request_timeout.saturating_mul(3)
}

/// Stores the order and records it in the session (cart emptied, order
/// remembered; a signed-in visitor's order is their account's, and their
/// cart is emptied in the order's own transaction), in a task of its own: a timeout or a client hanging up
/// cannot stop it half-way (order stored, cart still full), and a retry
/// cannot start before it ends, because the session's turn goes with it.
///
/// A stuck database or store cannot hold the turn for ever: writing the
/// order (a connection, stock updates and inserts, which wait on other
/// writers' locks) must end within the database timeout, or its transaction
/// is dropped, which rolls it back and nothing is ordered (a 503 with
/// `Retry-After`). The commit is never merely dropped: once sent, a
/// `COMMIT` may take effect whatever the caller does. It is waited for at
/// most `state.checkout_limit`; when its answer does not come by then, or
/// its connection breaks, the order is settled from a fresh connection
/// (PostgreSQL): the server process that runs the commit is ended, and the
/// order's row then says whether it was placed, for up to another
/// `checkout_limit` while the database cannot be reached. A placed order is
/// recorded (recording too has `checkout_limit`); one not placed took
/// nothing. Only when the database stays unreachable all that time is the
/// turn given up with the outcome unknown (logged with the order's id).
/// SQLite's commit, a local file's, is waited for to its end.
///
/// The request waits for all of it at most twice the database timeout (one
/// for writing the order, one for the rest), and never past a moment before
/// its own timeout, counted from its arrival ([`answer_at`]): a commit whose
/// answer does not come (a network that stopped answering) is answered then
/// with a 503 that names the order and says it may be placed, never with the
/// 408 that invites a retry, while the task goes on and records the order
/// if it is placed.
/// The menu is reloaded after the order in a task of its own, outside the
/// turn and the answer.
///
/// The session record is written once, by this task, through a detached
/// handle: the request's handle is left unchanged, so the session layer does
/// not write the record a second time after the response. (The session
/// cookie is not re-sent: its id is the same.)
async fn store_and_record(
    state: &AppState,
    request_session: &VisitorSession,
    (turn, deadline): (Option<Extension<SessionTurn>>, Option<RequestDeadline>),
    lines: Vec<NewLine>,
    account: Option<AccountCart>,
) -> Result<StoredOrder, ApiError> {
    let session = request_session.detached(state.sessions.clone());
    let (db, catalog, now) = (state.db.clone(), state.catalog.clone(), state.clock.now());
    let (limit, database_timeout) = (state.checkout_limit, state.database_timeout);
    let tasks = state.tasks.clone();
    // The order's id once it is written, for an answer given before the
    // task ends.
    let order_id = Arc::new(OnceLock::new());
    let known_id = order_id.clone();
    let work = async move {
        let prepared =
            tokio::time::timeout(database_timeout, orders::prepare(&db, lines, account, now))
                .await
                .map_err(|_| stuck_checkout(database_timeout))?
                .map_err(place_error)?;
        let _ = known_id.set(prepared.id());
        let stored = commit(&db, prepared, limit, database_timeout).await?;
        let recorded = tokio::time::timeout(limit, record_in_session(&session, stored.order.id))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::unavailable(
                    "session store",
                    anyhow::anyhow!("saving the session took longer than {limit:?}"),
                ))
            });
        // Outside the turn and the answer: the reload waits on the menu's
        // lock and the database, and the order is placed whatever it does.
        tasks.spawn(async move {
            match tokio::time::timeout(limit, catalog.invalidate()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "menu reload after an order failed; the cache catches up within its TTL")
                }
                Err(_) => tracing::warn!(
                    "menu reload after an order took too long; the cache catches up within its TTL"
                ),
            }
        });
        Ok::<_, ApiError>((stored, recorded))
    };
    // The turn goes with the task: a retry waits for it to end, and the
    // session's save in it checks the lock as the request's own would.
    let task = state.tasks.spawn(async move {
        match turn {
            Some(Extension(turn)) => turn.scope(work).await,
            None => work.await,
        }
    });
    let answer_at = answer_at(database_timeout, deadline);
    let finished = tokio::time::timeout_at(answer_at, task)
        .await
        .map_err(|_| {
            unconfirmed(
                order_id.get().copied(),
                anyhow::anyhow!("the order was not stored and recorded in time to answer"),
            )
        })?;
    match finished.map_err(ApiError::internal)? {
        Ok((stored, Ok(()))) => Ok(stored),
        Ok((stored, Err(e))) => {
            let id = stored.order.id;
            tracing::error!(order_id = id, error = ?e, "order stored but the session was not updated");
            // No `Retry-After`, unlike every other 503: the order exists, and
            // a client that retries on the header would order it twice.
            Err(ApiError::unavailable(
                "session store",
                anyhow::anyhow!("session save after order {id}"),
            )
            .with_detail(format!(
                "Order {id} was placed and the stock taken, but this session could not be updated: the cart still shows the ordered dishes. Do not order again; quote order {id} to the restaurant."
            ))
            .not_to_be_retried())
        }
        Err(e) => Err(e),
    }
}

/// Commits `prepared`, and learns its outcome when the commit's answer does
/// not come within `limit` or its connection breaks (see
/// [`store_and_record`]): the order as stored, or why it was not (or may not
/// have been) placed.
async fn commit(
    db: &sea_orm::DatabaseConnection,
    prepared: orders::Prepared,
    limit: Duration,
    database_timeout: Duration,
) -> Result<StoredOrder, ApiError> {
    let id = prepared.id();
    let Some(backend) = prepared.backend() else {
        return prepared.commit().await.map_err(|e| commit_failed(id, e));
    };
    let order = prepared.order().clone();
    let cause = match tokio::time::timeout(limit, prepared.commit()).await {
        Ok(Ok(stored)) => return Ok(stored),
        Ok(Err(e)) if refused_by_server(&e) => return Err(commit_refused(id, e)),
        Ok(Err(e)) => anyhow::Error::new(e).context(format!("the commit of order {id} failed")),
        Err(_) => anyhow::anyhow!("the commit of order {id} was not answered within {limit:?}"),
    };
    tracing::warn!(order_id = id, error = ?cause, "settling the order from another connection");
    let give_up = tokio::time::Instant::now() + limit;
    loop {
        match db::within(
            database_timeout,
            orders::settle(db, backend, id, database_timeout),
        )
        .await
        {
            Ok(true) => {
                tracing::info!(order_id = id, "the unanswered commit was carried out");
                return Ok(order);
            }
            Ok(false) => {
                tracing::info!(order_id = id, "the unanswered commit was not carried out");
                return Err(not_placed(id));
            }
            Err(e) if tokio::time::Instant::now() >= give_up => {
                tracing::error!(order_id = id, error = %e, "order {id} may or may not be placed: the database could not be reached to learn it");
                return Err(commit_failed_with(id, cause));
            }
            Err(e) => {
                tracing::debug!(order_id = id, error = %e, "settling the order failed; trying again");
                tokio::time::sleep(SETTLE_RETRY).await;
            }
        }
    }
}

/// How often an unanswered commit's outcome is asked for again while the
/// database cannot be reached.
const SETTLE_RETRY: Duration = Duration::from_millis(250);

/// Whether the server itself refused the commit (a deferred check, a
/// serialization failure): then it rolled the transaction back, and
/// nothing was placed. Anything else (a broken connection, an error without
/// the server's word) leaves the outcome unknown.
fn refused_by_server(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error};
    let from_server = match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(&**e, Error::Database(_))
        }
        _ => false,
    };
    from_server && !db::is_unreachable(e)
}

/// How long before the request timeout's 408 a checkout answers for
/// itself, to leave the answer time to be written.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);

/// When a checkout whose task has not ended answers "unconfirmed": twice
/// the database timeout from now (one for writing the order, one for the
/// rest), but before the request's own timeout, which counts from the
/// request's arrival (the turn, the session's and account's reads came
/// first): a 408 "try again" must not come while the order may be placed.
fn answer_at(
    database_timeout: Duration,
    deadline: Option<RequestDeadline>,
) -> tokio::time::Instant {
    let designed = tokio::time::Instant::now() + database_timeout.saturating_mul(2);
    match deadline {
        Some(RequestDeadline(at)) => designed.min(at.checked_sub(ANSWER_MARGIN).unwrap_or(at)),
        None => designed,
    }
}

fn place_error(e: PlaceError) -> ApiError {
    match e {
        PlaceError::Refused(refused) => refused_error(refused),
        PlaceError::CartChanged => ApiError::new(
            ProblemKind::ChangedInAnotherSession,
            "Nothing was ordered: your cart changed in another session while you ordered. Check the cart, then order again.",
        ),
        PlaceError::Db(e) => e.into(),
    }
}

/// The order was sent to be committed, but its answer has not come: no
/// `Retry-After`, since a retry could order it twice. The checkout's task
/// carries on, and records the order in the session once it learns that it
/// is placed.
fn unconfirmed(id: Option<i32>, cause: anyhow::Error) -> ApiError {
    let order = id.map_or_else(|| "your order".to_owned(), |id| format!("order {id}"));
    ApiError::unavailable("database", cause)
        .with_detail(format!(
            "The database stopped answering while {order} was being confirmed: it may have been placed. Do not order again now; look at GET /api/v1/orders in a moment (once it is placed, it is listed there and the cart is empty). If it is still not listed once the service works again, quote {order} to the restaurant."
        ))
        .not_to_be_retried()
}

/// The commit of order `id` failed half-way (its connection broke): the
/// database may have committed it all the same, which the session cannot
/// learn. No `Retry-After`; the answer names the order, as when the session
/// cannot be saved after it.
fn commit_failed(id: i32, e: sea_orm::DbErr) -> ApiError {
    commit_failed_with(
        id,
        anyhow::Error::new(e).context(format!("the commit of order {id} failed")),
    )
}

fn commit_failed_with(id: i32, cause: anyhow::Error) -> ApiError {
    ApiError::unavailable("database", cause)
    .with_detail(format!(
        "The database stopped answering while order {id} was being confirmed: it may have been placed, and the cart still shows the dishes. Do not order again; quote order {id} to the restaurant."
    ))
    .not_to_be_retried()
}

/// The database refused the commit of order `id`: it rolled back, nothing
/// was ordered. A fault of ours (a check the order broke), not the visitor's.
fn commit_refused(id: i32, e: sea_orm::DbErr) -> ApiError {
    ApiError::internal(
        anyhow::Error::new(e).context(format!("the commit of order {id} was refused")),
    )
}

/// The commit of order `id` did not answer, and once its server process was
/// ended the order was not there: nothing was ordered, worth a retry.
fn not_placed(id: i32) -> ApiError {
    ApiError::unavailable(
        "database",
        anyhow::anyhow!("the unanswered commit of order {id} was not carried out"),
    )
    .with_detail(
        "The order could not be confirmed in time and nothing was ordered. Try again in a moment.",
    )
}

/// Writing the order outlived the database timeout; its transaction, not
/// yet committed, was dropped, which rolls it back.
fn stuck_checkout(limit: Duration) -> ApiError {
    ApiError::unavailable(
        "database",
        anyhow::anyhow!("storing the order took longer than {limit:?}; rolled back"),
    )
    .with_detail(
        "The order could not be stored in time and nothing was ordered. Try again in a moment.",
    )
}

/// Empties the cart and remembers the order, and writes the session. A
/// signed-in visitor's order is found through their account, and their
/// cart was emptied with the order: the session has nothing to record.
async fn record_in_session(session: &VisitorSession, order_id: i32) -> Result<(), ApiError> {
    if session.user_id().is_some() {
        return Ok(());
    }
    session.set_session_cart(&Cart::new()).await?;
    session.remember_order(order_id).await?;
    session.save().await
}

fn refused_error(refused: Vec<orders::RefusedLine>) -> ApiError {
    let describe = |l: &orders::RefusedLine| {
        let name = l
            .name
            .clone()
            .unwrap_or_else(|| format!("dish {}", l.product_id));
        match l.refusal {
            Refusal::InsufficientStock => format!(
                "{name}: {} in the cart, {} left",
                l.requested,
                l.in_stock.unwrap_or(0)
            ),
            Refusal::Unavailable => format!("{name} is not available right now"),
            Refusal::Removed => format!("{name} is no longer on the menu"),
        }
    };
    let detail = format!(
        "Nothing was ordered: {}. Change or remove these lines, then order again.",
        refused.iter().map(describe).collect::<Vec<_>>().join("; ")
    );
    ApiError::new(ProblemKind::CartNotOrderable, detail).with_lines(
        refused
            .into_iter()
            .map(|l| ProblemLine {
                product_id: l.product_id.into(),
                name: l.name,
                requested: l.requested,
                in_stock: l.in_stock,
                reason: l.refusal,
            })
            .collect(),
    )
}

/// The visitor's orders, newest first: a signed-in visitor's are their
/// account's (placed from any of their sessions, and those claimed at
/// sign-in), the last 100; an anonymous visitor's are this session's.
#[utoipa::path(get, path = "/orders", tag = "orders",
    responses((status = 200, description = "The orders", body = OrderList)))]
async fn list_orders(
    State(state): State<AppState>,
    session: VisitorSession,
) -> Result<Json<OrderList>, ApiError> {
    let ids = session.order_ids().await?;
    let limit = MAX_REMEMBERED_ORDERS as u64;
    let read = orders::of(&state.db, owner(&session, &ids), limit);
    let items = db::within(state.database_timeout, read)
        .await?
        .into_iter()
        .map(OrderView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(OrderList { items }))
}

/// One of the visitor's orders (as listed by `GET /orders`).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id", minimum = 1, maximum = 2_147_483_647, example = 42)),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "The visitor has no order with this id", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn get_order(
    State(state): State<AppState>,
    session: VisitorSession,
    AppPath(id): AppPath<OrderId>,
) -> Result<Json<OrderView>, ApiError> {
    let not_found = || ApiError::not_found(format!("You have no order {id}."));
    let ids = session.order_ids().await?;
    let read = orders::one_of(&state.db, owner(&session, &ids), id.get());
    let order = db::within(state.database_timeout, read)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(OrderView::try_from(order)?))
}

/// Whose orders the visitor sees: their account's when signed in, else the
/// ones this session remembers.
fn owner<'a>(session: &VisitorSession, remembered: &'a [i32]) -> Owner<'a> {
    match session.user_id() {
        Some(user_id) => Owner::Account(user_id),
        None => Owner::Session(remembered),
    }
}
