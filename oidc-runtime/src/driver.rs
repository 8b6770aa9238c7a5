//! The driver loop, [`drive`]: performs a flow's actions until it is done. Why it waits on a
//! `Notify` and why it may spawn is in the crate docs ("The driver loop").

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oidc_core::{Action, Answer, Flow, Outbound, Response};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::{BoxFuture, Clock, Random, SessionStore, Transport};

/// How long a flow that answered [`Action::Wait`] sleeps at most before it polls again when no
/// flow driven here made progress meanwhile: flows of the same core driven by other code
/// (through [`RelyingParty::core`](crate::RelyingParty::core)) change what it waits for
/// without notifying this runtime.
const WAIT_BACKSTOP: Duration = Duration::from_millis(100);

/// What every flow of one relying party is driven with.
pub(crate) struct Shared {
    pub(crate) core: oidc_core::RelyingParty,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    /// Wakes the flows waiting on another one: notified after every answer and whenever a
    /// flow ends or is dropped.
    pub(crate) progress: Notify,
}

/// A flow being driven, with the action it is waiting on. Dropped unfinished (the app's
/// request went away), it wakes the waiting flows, and when the flow
/// [must finish](Flow::must_finish) it hands the flow and its pending action to a task that
/// drives them to the end.
pub(crate) struct FlowGuard<T: Send + 'static> {
    /// `None` once the flow is done (or handed to a task). Boxed: a flow is several hundred
    /// bytes, and the guard moves with the futures that drive it (each move a copy).
    flow: Option<Box<Flow<T>>>,
    /// The answer to the flow's last action, on its way (an HTTP call, a store call).
    pending: Option<BoxFuture<'static, Answer>>,
    shared: Arc<Shared>,
    /// Already in a task of its own: dropped again (the runtime shutting down), it is not
    /// spawned again.
    detached: bool,
}

impl<T: Send + 'static> FlowGuard<T> {
    pub(crate) fn new(shared: Arc<Shared>, flow: Flow<T>) -> Self {
        FlowGuard {
            flow: Some(Box::new(flow)),
            pending: None,
            shared,
            detached: false,
        }
    }
}

impl<T: Send + 'static> Drop for FlowGuard<T> {
    fn drop(&mut self) {
        if let Some(flow) = self.flow.take() {
            if flow.must_finish() {
                finish_in_background(flow, self.pending.take(), &self.shared, self.detached);
            }
        }
        // The flow is gone (or in its task), and with it any claim it held in the core: the
        // flows waiting on it decide again.
        self.shared.progress.notify_waiters();
    }
}

/// Drives an unfinished flow that must finish to its end on a task of its own, so that what
/// it already sent (a refresh token spent at the provider) is saved.
fn finish_in_background<T: Send + 'static>(
    flow: Box<Flow<T>>,
    pending: Option<BoxFuture<'static, Answer>>,
    shared: &Arc<Shared>,
    detached: bool,
) {
    if detached {
        tracing::warn!("the runtime dropped a flow that had to finish: its outcome is lost");
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let rest = FlowGuard {
                flow: Some(flow),
                pending,
                shared: shared.clone(),
                detached: true,
            };
            handle.spawn(async move {
                // The outcome was for the request that went away; what mattered is saved.
                drop(drive(rest).await);
            });
        }
        Err(_) => tracing::warn!(
            "a flow that had to finish was dropped outside a tokio runtime: its outcome is lost"
        ),
    }
}

/// Drives a flow to its end: performs each action it asks for, answers it, and returns the
/// outcome.
pub(crate) async fn drive<T: Send + 'static>(mut guard: FlowGuard<T>) -> T {
    loop {
        if let Some(pending) = guard.pending.as_mut() {
            let answer = pending.await;
            guard.pending = None;
            flow(&mut guard.flow).answer(answer);
            guard.shared.progress.notify_waiters();
        }
        let mut action = flow(&mut guard.flow).poll();
        if matches!(action, Action::Wait) {
            // Registered, then polled again: a change between the first poll and the
            // registration shows in the second poll, and one after it wakes the wait. Flows
            // that do not wait (nearly all) never touch the `Notify` here.
            let progress = guard.shared.progress.notified();
            let mut progress = std::pin::pin!(progress);
            progress.as_mut().enable();
            action = flow(&mut guard.flow).poll();
            if matches!(action, Action::Wait) {
                // Timing out is no error: the flow polls again either way.
                let _ = tokio::time::timeout(WAIT_BACKSTOP, progress).await;
                continue;
            }
        }
        let answer: BoxFuture<'static, Answer> = match action {
            // A session read by a flow that need not finish (the guard of every protected
            // request) is awaited here, borrowing the store and the id: no boxed future and no
            // `Arc` clone per request. Dropped meanwhile, such a flow is simply dropped, as it
            // would be with the read in `pending`; a flow that must finish keeps its owned
            // future there, for its guard to hand to a task.
            Action::Load(id) if !flow(&mut guard.flow).must_finish() => {
                let answer = Answer::Loaded(guard.shared.store.load(&id).await);
                flow(&mut guard.flow).answer(answer);
                guard.shared.progress.notify_waiters();
                continue;
            }
            Action::Done(value) => {
                guard.flow = None;
                return value;
            }
            // Handled above: a flow that still waits after the second poll has slept.
            Action::Wait => continue,
            // Another process sharing the store holds what this flow waits for.
            Action::Sleep(duration) => {
                tokio::time::sleep(duration).await;
                continue;
            }
            Action::Send(outbound) => send(guard.shared.transport.clone(), outbound),
            Action::Load(id) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Loaded(store.load(&id).await) })
            }
            Action::Save(id, record) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Stored(store.save(&id, &record).await) })
            }
            Action::Update(id, record) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Updated(store.update(&id, &record).await) })
            }
            Action::Delete(id) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Stored(store.delete(&id).await) })
            }
            Action::DeleteIndexed(key) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Stored(store.delete_indexed(&key).await) })
            }
            Action::Unmark(key) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Stored(store.unmark(&key).await) })
            }
            Action::MarkSpent(key, ttl) => {
                let store = guard.shared.store.clone();
                Box::pin(async move { Answer::Marked(store.mark_spent(&key, ttl).await) })
            }
        };
        guard.pending = Some(answer);
    }
}

/// The flow of a guard that is still being driven.
fn flow<T>(flow: &mut Option<Box<Flow<T>>>) -> &mut Flow<T> {
    flow.as_mut()
        .expect("a flow is driven only until it is done, and then dropped")
}

/// An HTTP call for the flow. A failure is logged here with the endpoint, the only place that
/// knows both; the flow then decides what it means (an error page, a cached copy).
fn send(transport: Arc<dyn Transport>, outbound: Outbound) -> BoxFuture<'static, Answer> {
    let Outbound { endpoint, request } = outbound;
    Box::pin(async move {
        let result = transport.send(request).await;
        if let Err(error) = &result {
            tracing::warn!(%endpoint, %error, "call to the provider failed");
        }
        Answer::Http(result)
    })
}

/// What an operation's span records as its `outcome` (see the crate docs, "Observability"):
/// `ok`, or a stable code. Never the value itself: it holds tokens and session cookies.
pub(crate) trait Outcome {
    /// The code for this result.
    fn outcome(&self) -> Cow<'static, str>;
}

/// A response's code from its status alone, for a response the error view did not render
/// (those carry their [`ErrorCode`](oidc_core::ErrorCode)).
fn status_outcome(status: http::StatusCode) -> Cow<'static, str> {
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        429 => "too_many_requests",
        500 => "server_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        code if code < 400 => "ok",
        code if code < 500 => "client_error",
        _ => "server_error",
    };
    Cow::Borrowed(code)
}

impl Outcome for Response {
    fn outcome(&self) -> Cow<'static, str> {
        match self.extensions().get::<oidc_core::ErrorCode>() {
            Some(code) => Cow::Borrowed(code.as_str()),
            None => status_outcome(self.status()),
        }
    }
}

impl Outcome for Option<Response> {
    fn outcome(&self) -> Cow<'static, str> {
        self.as_ref()
            .map_or(Cow::Borrowed("not_found"), Outcome::outcome)
    }
}

impl<T> Outcome for Result<T, Response> {
    fn outcome(&self) -> Cow<'static, str> {
        match self {
            Ok(_) => Cow::Borrowed("ok"),
            // A refusal that is a redirect starts a login: not an error page.
            Err(response)
                if !response.status().is_client_error() && !response.status().is_server_error() =>
            {
                Cow::Borrowed("login_required")
            }
            Err(response) => response.outcome(),
        }
    }
}

impl<T> Outcome for oidc_core::Result<T> {
    fn outcome(&self) -> Cow<'static, str> {
        match self {
            Ok(_) => Cow::Borrowed("ok"),
            // The provider's `error` is outside text: only registered codes are recorded.
            Err(error) => Cow::Borrowed(error.bounded_error_code()),
        }
    }
}

/// Records the end of an operation's span when the operation ends, or when its future is
/// dropped (the client went away): then the outcome is `cancelled`.
struct SpanEnd {
    span: tracing::Span,
    start: Instant,
    outcome: Option<Cow<'static, str>>,
}

impl Drop for SpanEnd {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(Cow::Borrowed("cancelled"));
        self.span.record("outcome", &*outcome);
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.span.record("duration_ms", elapsed);
    }
}

/// [`drive`] inside `span` (declared with empty `outcome` and `duration_ms` fields), which
/// records them at the end. The background task a dropped flow may need is not in the span:
/// the request it belonged to has ended.
pub(crate) async fn drive_traced<T: Send + 'static + Outcome>(
    guard: FlowGuard<T>,
    span: tracing::Span,
) -> T {
    let mut end = SpanEnd {
        span: span.clone(),
        start: Instant::now(),
        outcome: None,
    };
    let value = drive(guard).instrument(span).await;
    end.outcome = Some(value.outcome());
    value
}
