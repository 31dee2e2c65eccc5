//! The HTTP side: JSON-RPC over `POST` (single requests and batches, bodies up to
//! [`MAX_BODY`]), `GET /health` as a validator serves it, and nothing else.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonrpc_core::IoHandler;
use tokio::net::TcpListener;

/// The largest request body: a batch of sendTransaction calls fits many times over.
pub const MAX_BODY: usize = 1 << 20;
/// The most calls in one JSON-RPC batch (more is refused whole, -32600).
pub const MAX_BATCH: usize = 100;

/// Serves `io` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, io: Arc<IoHandler>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                eprintln!("curve-solana-localnet: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let io = io.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(io.clone(), request));
            // A client that goes away mid-request ends only its own connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

async fn answer(
    io: Arc<IoHandler>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() == Method::GET && request.uri().path() == "/health" {
        return Ok(reply(StatusCode::OK, "text/plain", "ok"));
    }
    if request.method() != Method::POST {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "JSON-RPC takes POST; GET serves /health only",
        ));
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                format!("a request body is at most {MAX_BODY} bytes"),
            ));
        }
    };
    let text = String::from_utf8_lossy(&body);
    if let Ok(serde_json::Value::Array(calls)) = serde_json::from_str::<serde_json::Value>(&text)
        && calls.len() > MAX_BATCH
    {
        let refusal = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {"code": -32600, "message": format!("a batch holds at most {MAX_BATCH} calls, this one {}", calls.len())},
        });
        return Ok(reply(
            StatusCode::OK,
            "application/json",
            refusal.to_string(),
        ));
    }
    // jsonrpc-core answers a body that is not JSON with a parse error (-32700).
    let response = io.handle_request(&text).await.unwrap_or_default();
    Ok(reply(StatusCode::OK, "application/json", response))
}
