//! Metrics and the request log: every request is counted and timed by API and operation,
//! its body bytes counted both ways, and, once its response body is done (sent or
//! abandoned), one log line written: method, path (never the query, where presigned
//! credentials and download grants travel), status, bytes, duration, principal, request id.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use berth_metrics::metrics;
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};

/// What a handler tells the metrics and the request log about the request it answered.
#[derive(Clone, Debug)]
pub(crate) struct Handled {
    pub api: &'static str,
    pub operation: &'static str,
    /// The caller's ARN, once authenticated.
    pub principal: Option<String>,
}

/// Attaches what the request was to its response.
pub(crate) fn handled(
    mut response: Response,
    api: &'static str,
    operation: &'static str,
    principal: Option<String>,
) -> Response {
    response.extensions_mut().insert(Handled {
        api,
        operation,
        principal,
    });
    response
}

/// The request id every API uses for the request (its responses, its audit event, its
/// log line).
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub String);

/// A request as it arrives: its id attached, its body counted.
pub(crate) struct Observed {
    started: Instant,
    method: http::Method,
    path: String,
    request_id: String,
    received: Arc<AtomicU64>,
}

impl Observed {
    pub(crate) fn begin(request: Request<Body>) -> (Self, Request<Body>) {
        let request_id = berth_core::ids::uuid();
        let received = Arc::new(AtomicU64::new(0));
        let observed = Self {
            started: Instant::now(),
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            request_id: request_id.clone(),
            received: Arc::clone(&received),
        };
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(RequestId(request_id));
        let body = Body::new(Counted {
            inner: body,
            bytes: received,
            on_end: None,
        });
        (observed, Request::from_parts(parts, body))
    }

    /// Counts and times the answer; the log line is written when its body ends.
    pub(crate) fn end(self, response: Response) -> Response {
        let handled = response.extensions().get::<Handled>().cloned();
        let (api, operation, principal) = match handled {
            Some(h) => (h.api, h.operation, h.principal),
            None => ("other", "none", None),
        };
        let status = response.status().as_u16();
        metrics().request(api, operation, status, self.started.elapsed());
        let (parts, body) = response.into_parts();
        let line = RequestLine {
            api,
            method: self.method,
            path: self.path,
            status,
            principal,
            request_id: self.request_id,
            started: self.started,
            received: self.received,
        };
        let body = Body::new(Counted {
            inner: body,
            bytes: Arc::new(AtomicU64::new(0)),
            on_end: Some(line),
        });
        Response::from_parts(parts, body)
    }
}

/// The request log line, written when the response body is dropped.
struct RequestLine {
    api: &'static str,
    method: http::Method,
    path: String,
    status: u16,
    principal: Option<String>,
    request_id: String,
    started: Instant,
    received: Arc<AtomicU64>,
}

impl RequestLine {
    fn write(&self, sent: u64) {
        let received = self.received.load(Ordering::Relaxed);
        metrics().received(self.api, received);
        metrics().sent(self.api, sent);
        tracing::info!(
            target: "berth::request",
            method = %self.method,
            path = %self.path,
            status = self.status,
            received,
            sent,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            principal = self.principal.as_deref().unwrap_or("-"),
            request_id = %self.request_id,
            "request"
        );
    }
}

/// A body whose bytes are counted as they pass; the response's writes the log line when
/// dropped (finished, or cut off by the client).
struct Counted {
    inner: Body,
    bytes: Arc<AtomicU64>,
    on_end: Option<RequestLine>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(line) = self.on_end.take() {
            line.write(self.bytes.load(Ordering::Relaxed));
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
