//! The client API: JSON-RPC 2.0 over HTTP (jsonrpsee), plus `GET /health` and `GET /metrics`
//! on the same socket.
//!
//! Methods (`curve_*`; hex strings for bytes, decimal strings for u128 amounts):
//!
//! | method | params | result |
//! |---|---|---|
//! | `curve_sendTransaction` | `[tx hex]` | transaction hash |
//! | `curve_sendTransactions` | `[[tx hex, …]]` | per transaction `{hash}` or `{error}` |
//! | `curve_getTransaction` | `[hash]` | `{state: pending\|executed\|unknown, height, index, receipt}` |
//! | `curve_getBlock` | `[height]` | block summary with header and receipts, or null |
//! | `curve_getStateRoot` | `[]` | `{height, state_root}` |
//! | `curve_getStateProof` | `[key hex]` | inclusion proof against the current root, or null |
//! | `curve_getAccount` | `[public key]` | `{user, nonce, balance, exists}` (`user`: the id programs name it by, null before it exists) |
//! | `curve_getAnchorCertificate` | `[height]` | certificate or null |
//! | `curve_getWithdrawalProof` | `[height, index]` | payout leaf and Merkle path for the Anchor program's `withdraw`, or null |
//! | `curve_observeDeposit` | `[record hex]` | this member's bridge saw a deposit record: `{sequence, credited, signatures}` |
//! | `curve_getDeposit` | `[sequence]` | `{sequence, credited}` |
//! | `curve_getPrograms` | `[]` | every deployed program with its certificate in the Anchor program's form (`code_hash`, `descriptor_hash`, `layout_hash`, `h_conditions`, `h_params`, `proof`, `size_class`, `vk_hash`, `vk`) |
//! | `curve_status` | `[]` | view, heights, root, mempool, peers, deposits credited, withdrawals finalised |
//! | `curve_benchOpaque` | `[rate, size, seconds]` | consensus-only nodes: start generating payloads |
//! | `curve_benchReport` | `[]` | consensus-only nodes: payloads generated, decided, latency histogram |
//! | `admin_shutdown` | `[token]` | stops the node gracefully |
//!
//! Errors: `-32602` bad parameters; `-32010` transaction refused (`data.reason`); `-32005`
//! busy (the pool is full: retry); `-32001` admin token missing or wrong; `-32603` the node is
//! stopping. A client over its rate gets HTTP 429; a body over the limit HTTP 413; a body that
//! is not JSON the standard parse error. Rate limits are per client IP (token bucket).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use curve_mempool::AdmitError;
use curve_store::RocksStorage;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpResponse, RpcModule, Server, stop_channel};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::{RpcLimits, hex32};
use crate::driver::{Driver, Request};
use crate::index;
use crate::metrics::Metrics;

/// A deployed program and its certificate as the Anchor program's `register_vk` and
/// `register_program` take them (`alt_bn128` layout, field elements big-endian).
fn program_json(id: u64, certificate: &curve_runtime::templates::SolanaCertificate) -> Value {
    json!({
        "program": id,
        "template": certificate.template,
        "code_hash": hex::encode(certificate.code_hash),
        "descriptor_hash": hex::encode(certificate.descriptor_hash),
        "layout_hash": hex::encode(certificate.layout_hash),
        "h_conditions": hex::encode(certificate.h_conditions),
        "h_params": hex::encode(certificate.h_params),
        "proof": hex::encode(certificate.proof),
        "size_class": certificate.class.name(),
        "vk_hash": hex::encode(certificate.vk_hash),
        "vk": hex::encode(&certificate.vk),
    })
}

/// Refused at admission.
pub const REFUSED: i32 = -32010;
/// The pool is full.
pub const BUSY: i32 = -32005;
/// Admin token missing or wrong.
pub const UNAUTHORIZED: i32 = -32001;
/// Most transactions one `curve_sendTransactions` call carries.
pub const SEND_BATCH_MAX: usize = 4_096;
/// Levels per side `curve_getBook` gives.
pub const BOOK_DEPTH: usize = 10;
/// Recent trades `curve_getBook` gives.
pub const BOOK_TRADES: usize = 20;
/// Calls one JSON-RPC batch may carry (the dashboard sends at most 2 + 1 + 64 + 6).
pub const BATCH_CALLS_MAX: u32 = 128;
/// Arguments a `curve_call` view may take (entries take a dozen at most).
pub const VIEW_ARGS_MAX: usize = 64;

/// What every method handler sees.
pub struct RpcContext {
    requests: mpsc::Sender<Request>,
    store: RocksStorage,
    admin_token: Option<String>,
    shutdown: Arc<Notify>,
}

fn invalid(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(
        jsonrpsee::types::error::INVALID_PARAMS_CODE,
        message,
        None::<()>,
    )
}

fn stopping() -> ErrorObjectOwned {
    ErrorObject::owned(
        jsonrpsee::types::error::INTERNAL_ERROR_CODE,
        "the node is stopping",
        None::<()>,
    )
}

fn internal(error: anyhow::Error) -> ErrorObjectOwned {
    ErrorObject::owned(
        jsonrpsee::types::error::INTERNAL_ERROR_CODE,
        format!("{error:#}"),
        None::<()>,
    )
}

fn admit_error(error: &AdmitError) -> ErrorObjectOwned {
    match error {
        AdmitError::Busy { .. } => ErrorObject::owned(BUSY, error.to_string(), None::<()>),
        other => ErrorObject::owned(
            REFUSED,
            "transaction refused",
            Some(json!({"reason": other.to_string()})),
        ),
    }
}

fn hex_param(text: &str, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| invalid(format!("{what}: not hex ({e})")))
}

fn hash_param(text: &str) -> Result<[u8; 32], ErrorObjectOwned> {
    hex32(text, "hash").map_err(|e| invalid(format!("{e:#}")))
}

/// Runs `read` on the driver's task and returns its answer.
pub async fn read<T: Send + 'static>(
    requests: &mpsc::Sender<Request>,
    read: impl FnOnce(&Driver) -> T + Send + 'static,
) -> Result<T, ErrorObjectOwned> {
    let (reply, answer) = oneshot::channel();
    requests
        .send(Request::Read(Box::new(move |driver| {
            let _ = reply.send(read(driver));
        })))
        .await
        .map_err(|_| stopping())?;
    answer.await.map_err(|_| stopping())
}

async fn submit(
    ctx: &RpcContext,
    transactions: Vec<Vec<u8>>,
) -> Result<Vec<Result<[u8; 32], AdmitError>>, ErrorObjectOwned> {
    let (reply, answer) = oneshot::channel();
    ctx.requests
        .send(Request::Submit {
            transactions,
            reply,
        })
        .await
        .map_err(|_| stopping())?;
    answer.await.map_err(|_| stopping())
}

/// The method table.
pub fn module(
    requests: mpsc::Sender<Request>,
    store: RocksStorage,
    admin_token: Option<String>,
    shutdown: Arc<Notify>,
) -> Result<RpcModule<RpcContext>> {
    let mut module = RpcModule::new(RpcContext {
        requests,
        store,
        admin_token,
        shutdown,
    });
    module.register_async_method(
        "curve_sendTransaction",
        |params: Params<'static>, ctx, _| async move {
            let (tx,): (String,) = params.parse()?;
            let bytes = hex_param(&tx, "transaction")?;
            let answer = submit(&ctx, vec![bytes])
                .await?
                .pop()
                .expect("one answer per transaction");
            answer.map(hex::encode).map_err(|e| admit_error(&e))
        },
    )?;
    module.register_async_method("curve_sendTransactions", |params: Params<'static>, ctx, _| async move {
        let (txs,): (Vec<String>,) = params.parse()?;
        if txs.len() > SEND_BATCH_MAX {
            return Err(invalid(format!("{} transactions; at most {SEND_BATCH_MAX} per call", txs.len())));
        }
        let bytes = txs
            .iter()
            .enumerate()
            .map(|(i, tx)| hex_param(tx, &format!("transaction {i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let answers = submit(&ctx, bytes).await?;
        Ok::<_, ErrorObjectOwned>(
            answers
                .into_iter()
                .map(|answer| match answer {
                    Ok(hash) => json!({"hash": hex::encode(hash)}),
                    Err(error) => {
                        let error = admit_error(&error);
                        json!({"error": {"code": error.code(), "message": error.message(), "data": error.data()}})
                    }
                })
                .collect::<Vec<Value>>(),
        )
    })?;
    module.register_async_method(
        "curve_getTransaction",
        |params: Params<'static>, ctx, _| async move {
            let (hash,): (String,) = params.parse()?;
            let hash = hash_param(&hash)?;
            let executed = || -> Result<Option<Value>, ErrorObjectOwned> {
                let found = index::transaction(&ctx.store, &hash).map_err(internal)?;
                Ok(found.map(|mut found| {
                    found["state"] = json!("executed");
                    found
                }))
            };
            if let Some(found) = executed()? {
                return Ok(found);
            }
            let pooled = read(&ctx.requests, move |driver| driver.mempool.contains(&hash)).await?;
            if pooled {
                return Ok(json!({"state": "pending"}));
            }
            // It may have been executed (and so left the pool) between the two reads: the
            // index is written before the pool is pruned, so a second look settles it.
            Ok::<_, ErrorObjectOwned>(executed()?.unwrap_or_else(|| json!({"state": "unknown"})))
        },
    )?;
    module.register_async_method("curve_call", |params: Params<'static>, ctx, _| async move {
        let (program, entry, args): (u64, String, Vec<Value>) = params.parse()?;
        if args.len() > VIEW_ARGS_MAX {
            return Err(invalid(format!(
                "{} arguments; a view takes at most {VIEW_ARGS_MAX}",
                args.len()
            )));
        }
        let viewed = read(&ctx.requests, move |driver| {
            driver.runtime.view(program, &entry, &args)
        })
        .await?;
        viewed.map_err(invalid)
    })?;
    module.register_async_method(
        "curve_getBook",
        |params: Params<'static>, ctx, _| async move {
            let (program, instrument): (u64, Option<u64>) = params.parse()?;
            let book = read(&ctx.requests, move |driver| {
                let record = driver
                    .runtime
                    .program(program)
                    .ok_or_else(|| format!("no program {program}"))?;
                if record.template != "slab" {
                    return Err(format!(
                        "program {program} is a `{}`, not a slab",
                        record.template
                    ));
                }
                let words = driver.runtime.program_memory(program).unwrap_or(&[]);
                crate::book::book_json(
                    &record.manifest,
                    words,
                    instrument.unwrap_or(0),
                    BOOK_DEPTH,
                    BOOK_TRADES,
                )
            })
            .await?;
            book.map_err(invalid)
        },
    )?;
    module.register_async_method("curve_getFinality", |_, ctx, _| async move {
        read(&ctx.requests, |driver| {
            driver
                .finality
                .iter()
                .map(|&(at, ms)| json!([at, ms]))
                .collect::<Vec<Value>>()
        })
        .await
    })?;
    module.register_async_method(
        "curve_getBlock",
        |params: Params<'static>, ctx, _| async move {
            let (height,): (u64,) = params.parse()?;
            index::block(&ctx.store, height).map_err(internal)
        },
    )?;
    module.register_async_method(
        "curve_getAnchorCertificate",
        |params: Params<'static>, ctx, _| async move {
            let (height,): (u64,) = params.parse()?;
            index::anchor(&ctx.store, height).map_err(internal)
        },
    )?;
    module.register_async_method(
        "curve_getWithdrawalProof",
        |params: Params<'static>, ctx, _| async move {
            let (height, index): (u64, u64) = params.parse()?;
            let chain_id = read(&ctx.requests, |driver| driver.chain_id).await?;
            index::withdrawal_proof(&ctx.store, chain_id, height, index).map_err(internal)
        },
    )?;
    module.register_async_method(
        "curve_observeDeposit",
        |params: Params<'static>, ctx, _| async move {
            let (record,): (String,) = params.parse()?;
            let bytes = hex_param(&record, "record")?;
            let record =
                <curve_formats::deposit::DepositRecord as curve_formats::encoding::Decode>::from_bytes(&bytes)
                    .map_err(|e| invalid(format!("record: {e}")))?;
            let (reply, answer) = oneshot::channel();
            ctx.requests
                .send(Request::Write(Box::new(move |driver| {
                    let _ = reply.send(driver.observe_deposit(record));
                })))
                .await
                .map_err(|_| stopping())?;
            answer.await.map_err(|_| stopping())?.map_err(invalid)
        },
    )?;
    module.register_async_method(
        "curve_getDeposit",
        |params: Params<'static>, ctx, _| async move {
            let (sequence,): (u64,) = params.parse()?;
            read(&ctx.requests, move |driver| {
                json!({"sequence": sequence, "credited": driver.runtime.deposit_credited(sequence)})
            })
            .await
        },
    )?;
    module.register_async_method("curve_getPrograms", |_, ctx, _| async move {
        let (records, keys) = read(&ctx.requests, |driver| {
            let runtime = &driver.runtime;
            let records: Vec<_> = runtime
                .program_ids()
                .into_iter()
                .filter_map(|id| runtime.program(id).map(|record| (id, record.clone())))
                .collect();
            (records, runtime.config().verifying_keys.clone())
        })
        .await?;
        // Rebuilding a statement hashes the parameter table: done here, not on the driver.
        Ok::<_, ErrorObjectOwned>(Value::Array(
            records
                .iter()
                .map(|(id, record)| {
                    match curve_runtime::templates::solana_certificate(record, &keys) {
                        Ok(certificate) => {
                            let mut entry = program_json(*id, &certificate);
                            // The script's block id and the shape its module was built for
                            // (a market's worlds, a slab's pools), when the manifest says.
                            let manifest: Value =
                                serde_json::from_slice(&record.manifest).unwrap_or_default();
                            entry["block"] = manifest["id"].clone();
                            entry["shape"] = manifest["layout"]["shape"].clone();
                            entry
                        }
                        Err(error) => {
                            json!({"program": id, "template": record.template, "error": error})
                        }
                    }
                })
                .collect(),
        ))
    })?;
    module.register_async_method("curve_getStateRoot", |_, ctx, _| async move {
        read(&ctx.requests, |driver| {
            json!({"height": driver.runtime.meta().height, "state_root": hex::encode(driver.runtime.root())})
        })
        .await
    })?;
    module.register_async_method(
        "curve_getStateProof",
        |params: Params<'static>, ctx, _| async move {
            let (key,): (String,) = params.parse()?;
            let key_bytes = hex_param(&key, "key")?;
            let key =
                <curve_runtime::Key as curve_formats::encoding::Decode>::from_bytes(&key_bytes)
                    .map_err(|e| invalid(format!("key: {e}")))?;
            read(&ctx.requests, move |driver| {
                let root = driver.runtime.root();
                driver.runtime.state_proof(&key).map(|proof| {
                json!({
                    "height": driver.runtime.meta().height,
                    "state_root": hex::encode(root),
                    "leaf": hex::encode(&proof.leaf),
                    "count": proof.count,
                    "tree_root": hex::encode(proof.tree_root),
                    "proof": hex::encode(curve_formats::encoding::Encode::to_bytes(&proof.proof)),
                })
            })
            })
            .await
        },
    )?;
    module.register_async_method(
        "curve_getAccount",
        |params: Params<'static>, ctx, _| async move {
            let (key,): (String,) = params.parse()?;
            let key = hex32(&key, "public key").map_err(|e| invalid(format!("{e:#}")))?;
            read(&ctx.requests, move |driver| driver.account_json(&key)).await
        },
    )?;
    module.register_async_method("curve_status", |_, ctx, _| async move {
        read(&ctx.requests, |driver| driver.status_json()).await
    })?;
    module.register_async_method(
        "curve_benchOpaque",
        |params: Params<'static>, ctx, _| async move {
            let (rate, size, seconds): (u64, usize, u64) = params.parse()?;
            let (reply, answer) = oneshot::channel();
            ctx.requests
                .send(Request::Write(Box::new(move |driver| {
                    let _ = reply.send(driver.start_opaque(rate, size, seconds));
                })))
                .await
                .map_err(|_| stopping())?;
            answer.await.map_err(|_| stopping())?.map_err(invalid)?;
            Ok::<bool, ErrorObjectOwned>(true)
        },
    )?;
    module.register_async_method("curve_benchReport", |_, ctx, _| async move {
        read(&ctx.requests, |driver| driver.opaque_report())
            .await?
            .ok_or_else(|| {
                invalid("this node executes transactions; it has no consensus-only report")
            })
    })?;
    module.register_method("admin_shutdown", |params, ctx, _| {
        let (token,): (String,) = params.parse()?;
        match &ctx.admin_token {
            Some(expected) if constant_time_eq(expected.as_bytes(), token.as_bytes()) => {
                ctx.shutdown.notify_one();
                Ok(true)
            }
            _ => Err(ErrorObject::owned(
                UNAUTHORIZED,
                "admin methods need the configured admin token",
                None::<()>,
            )),
        }
    })?;
    Ok(module)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A token bucket per client address.
struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<BTreeMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    fn allow(&self, client: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("no panics hold this lock");
        if buckets.len() > 65_536 {
            // Forget idle clients rather than grow without bound.
            buckets.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct HttpShared {
    metrics: Arc<Metrics>,
    limiter: Limiter,
    requests: mpsc::Sender<Request>,
}

/// `/health`, `/metrics` and the rate limit in front of the JSON-RPC service.
#[derive(Clone)]
struct Front<S> {
    inner: S,
    client: IpAddr,
    shared: Arc<HttpShared>,
}

fn text_response(status: u16, content_type: &'static str, body: String) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(HttpBody::from(body))
        .expect("a static status and header")
}

type Incoming = http::Request<hyper::body::Incoming>;

impl<S> tower::Service<Incoming> for Front<S>
where
    S: tower::Service<Incoming, Response = HttpResponse, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Incoming) -> Self::Future {
        // A WebSocket upgrade goes to the JSON-RPC service, whatever its path.
        let get = request.method() == http::Method::GET
            && !request.headers().contains_key(http::header::UPGRADE);
        match (get, request.uri().path()) {
            (true, "/metrics") => {
                let text = self.shared.metrics.render();
                Box::pin(async move {
                    Ok(text_response(
                        200,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        text,
                    ))
                })
            }
            (true, "/" | "/dashboard") => Box::pin(async {
                Ok(text_response(
                    200,
                    "text/html; charset=utf-8",
                    crate::dashboard::PAGE.to_string(),
                ))
            }),
            (true, "/health") => {
                let requests = self.shared.requests.clone();
                Box::pin(async move {
                    let status = tokio::time::timeout(
                        Duration::from_secs(2),
                        read(&requests, |driver| driver.status_json()),
                    )
                    .await;
                    Ok(match status {
                        Ok(Ok(status)) => text_response(
                            200,
                            "application/json",
                            json!({"status": "ok", "view": status["view"], "executed_height": status["executed_height"], "peers": status["peers"]}).to_string(),
                        ),
                        _ => text_response(503, "application/json", json!({"status": "unavailable"}).to_string()),
                    })
                })
            }
            _ if !self.shared.limiter.allow(self.client) => Box::pin(async {
                Ok(text_response(
                    429,
                    "application/json",
                    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32029, "message": "rate limited: slow down"}}).to_string(),
                ))
            }),
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

/// Serves JSON-RPC, `/health` and `/metrics` on `listener` until `stopped`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    module: RpcModule<RpcContext>,
    limits: &RpcLimits,
    metrics: Arc<Metrics>,
    requests: mpsc::Sender<Request>,
    stopped: impl Future<Output = ()>,
) -> Result<()> {
    let (stop_handle, server_handle) = stop_channel();
    let server_config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(limits.max_body_bytes)
        .max_connections(1_024)
        // The rate limit counts HTTP requests: a batch carries at most this many calls.
        .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Limit(
            BATCH_CALLS_MAX,
        ))
        .build();
    let builder = Server::builder()
        .set_config(server_config)
        .to_service_builder();
    let methods: jsonrpsee::Methods = module.into();
    let shared = Arc::new(HttpShared {
        metrics,
        limiter: Limiter {
            rate: f64::from(limits.requests_per_second),
            burst: f64::from(limits.burst.max(1)),
            buckets: Mutex::new(BTreeMap::new()),
        },
        requests,
    });
    tokio::pin!(stopped);
    loop {
        let (socket, remote): (_, SocketAddr) = tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "rpc accept");
                    continue;
                }
            },
        };
        let service = Front {
            inner: builder.clone().build(methods.clone(), stop_handle.clone()),
            client: remote.ip(),
            shared: shared.clone(),
        };
        let stop = stop_handle.clone();
        tokio::spawn(async move {
            if let Err(error) =
                jsonrpsee::server::serve_with_graceful_shutdown(socket, service, stop.shutdown())
                    .await
            {
                tracing::debug!(%error, %remote, "rpc connection");
            }
        });
    }
    server_handle.stop().context("stopping the RPC server")?;
    Ok(())
}
