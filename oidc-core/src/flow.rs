//! The loop between the relying party and its caller: a [`Flow`] is one operation (a request
//! to the redirect endpoint, a protected route, a token refresh...) that asks for what it needs
//! as [`Action`]s and is given the [`Answer`]s. See the crate documentation's "Run loop".
//!
//! Inside, an operation is a small state machine (`Machine`) stepped by [`Flow::poll`]. What
//! several operations share (a provider's metadata, client and key set) is fetched through the
//! step context (`Cx`): a step that needs it and finds it missing returns the fetch (or a
//! wait, when another flow is fetching it) without changing its own state, and is stepped again
//! once the answer has been recorded in the relying party's shared provider state. A step is
//! therefore free of side effects until it changes state: what it does before, it may do again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::callback::{Exchange, Outbound, Step};
use crate::error::{Endpoint, Error, Misuse, Result, StoreError, TransportError};
use crate::jwks::{self, JwkSet, KeyDecision, KeyFetch};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::provider::{ClientPlan, MetadataPlan};
use crate::random::Rng;
use crate::rp::RelyingParty;
use crate::session::SessionRecord;

/// The time and fresh randomness one flow starts with: the core reads neither by itself.
///
/// The entropy seeds a CSPRNG that makes every `state`, `nonce`, PKCE verifier and session id
/// of the flow: give it 32 bytes from the operating system's generator (a runtime does); a test
/// that fixes them fixes every value. Not `Clone`: two flows started with the same entropy would
/// draw the same session ids and `state` values.
pub struct Context {
    now: u64,
    entropy: [u8; 32],
}

impl Context {
    /// `now` in seconds since the Unix epoch, and 32 bytes of entropy.
    pub fn new(now: u64, entropy: [u8; 32]) -> Self {
        Context { now, entropy }
    }

    /// The time the flow runs at, seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.now
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What a [`Flow`] asks its caller to do next.
///
/// Not `#[non_exhaustive]`: an action added later is one every runtime must perform, so it is
/// a breaking change, and the compiler should say so.
#[derive(Debug)]
#[must_use]
pub enum Action<T> {
    /// Send this request to the provider; answer with [`Answer::Http`] (a transport error
    /// too: a timeout, a body over the size cap).
    Send(Outbound),
    /// Load the session record under this id; answer with [`Answer::Loaded`].
    Load(String),
    /// Store this record under this id, replacing any; answer with [`Answer::Stored`].
    Save(String, SessionRecord),
    /// Store this record under this id only if a record is stored there now, in one atomic
    /// step; answer with [`Answer::Updated`] (`false` when there was none, and nothing was
    /// written). A flow that read a session, changed it and writes it back uses this, so that a
    /// session ended meanwhile (a logout in another tab, a provider's back-channel logout on
    /// another instance) stays ended rather than being written back to life.
    Update(String, SessionRecord),
    /// Delete the record under this id; answer with [`Answer::Stored`].
    Delete(String),
    /// Delete every record indexed under this key ([`SessionRecord::index_keys`]), for every
    /// process sharing the store: the sessions a provider's logout names; answer with
    /// [`Answer::Stored`].
    DeleteIndexed(String),
    /// Mark this key spent for this long unless it already is, atomically for every process
    /// sharing the store; answer with [`Answer::Marked`] (`true` when this call marked it).
    MarkSpent(String, Duration),
    /// Remove the mark this flow set with [`Action::MarkSpent`] under this key, before its
    /// time is up: a lease given back (a token refresh that failed before it could spend the
    /// refresh token); answer with [`Answer::Stored`]. A store that cannot may answer `Ok`
    /// and let the mark expire: that is safe, only slower.
    Unmark(String),
    /// Another flow of this relying party is fetching what this one needs (a provider's keys,
    /// metadata or registration, or this session's token refresh): poll again once another
    /// flow has been answered or dropped. A runtime that cannot tell may poll again after a
    /// short sleep.
    Wait,
    /// Another process sharing the session store is doing what this flow needs (it holds
    /// this session's token-refresh lease): poll again after this long, answering nothing.
    /// Only another process can make progress here, so nothing in this one can wake the flow
    /// sooner.
    Sleep(Duration),
    /// Finished: the outcome.
    Done(T),
}

/// The answer to the last [`Action`]. Its `Debug` shows a response's status and body length
/// only: the bodies carry tokens, codes and client secrets.
#[non_exhaustive]
pub enum Answer {
    /// To [`Action::Send`].
    Http(std::result::Result<http::Response<Bytes>, TransportError>),
    /// To [`Action::Load`].
    Loaded(std::result::Result<Option<SessionRecord>, StoreError>),
    /// To [`Action::Save`], [`Action::Delete`], [`Action::DeleteIndexed`] and
    /// [`Action::Unmark`].
    Stored(std::result::Result<(), StoreError>),
    /// To [`Action::MarkSpent`].
    Marked(std::result::Result<bool, StoreError>),
    /// To [`Action::Update`]: whether a record was there and was replaced.
    Updated(std::result::Result<bool, StoreError>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Http(Ok(r)) => f
                .debug_struct("Http")
                .field("status", &r.status())
                .field("body_len", &r.body().len())
                .finish_non_exhaustive(),
            Answer::Http(Err(e)) => f.debug_tuple("Http").field(e).finish(),
            Answer::Loaded(r) => f.debug_tuple("Loaded").field(r).finish(),
            Answer::Stored(r) => f.debug_tuple("Stored").field(r).finish(),
            Answer::Marked(r) => f.debug_tuple("Marked").field(r).finish(),
            Answer::Updated(r) => f.debug_tuple("Updated").field(r).finish(),
        }
    }
}

impl Answer {
    fn kind(&self) -> &'static str {
        match self {
            Answer::Http(_) => "an HTTP response",
            Answer::Loaded(_) => "a loaded record",
            Answer::Stored(_) => "a store result",
            Answer::Marked(_) => "a spent mark",
            Answer::Updated(_) => "an update result",
        }
    }
}

/// One operation of a [`RelyingParty`] in progress: poll it, perform the [`Action`] it
/// returns, give it the [`Answer`], and so on until [`Action::Done`].
///
/// A flow holds no lock and no borrow: it can be driven from any task and dropped at any
/// point. Dropping it abandons the operation; what it was fetching for others is released
/// (they fetch it themselves), and nothing half-written is left in the session store, with one
/// exception a runtime must handle: see [`must_finish`](Self::must_finish).
#[must_use]
pub struct Flow<T> {
    rp: RelyingParty,
    id: u64,
    now: u64,
    rng: Rng,
    machine: Box<dyn Machine<Output = T>>,
    /// Turns an error into the operation's outcome (an error page, a `401`...).
    fail: fn(&RelyingParty, Error) -> T,
    /// What the outstanding action is, so that its answer goes where it belongs.
    question: Option<Question>,
    /// The answer to the machine's own last action, for its next step.
    answer: Option<Answer>,
    /// What this flow's last fetch for the shared state gave, for the step that asked for it:
    /// that step uses it once rather than deciding again from the shared state, which (with a
    /// zero maximum age, a secret that expires at once, a key set that fails) could ask for the
    /// same fetch again, and again.
    fetched: Option<Fetched>,
    /// The metadata and client of each provider as this flow first obtained them: a flow
    /// decides once, so a step stepped again after a fetch sees the same, whatever the cache
    /// policy would now say.
    memo: Memo,
    /// What this flow is fetching for every flow (released when it finishes or is dropped).
    owned: Vec<Owned>,
    misuse: Option<Misuse>,
    must_finish: bool,
    finished: bool,
}

impl<T> std::fmt::Debug for Flow<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("id", &self.id)
            .field("now", &self.now)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// What an outstanding action was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Http(Purpose),
    Loaded,
    Stored,
    Marked,
    Updated,
}

/// Whom an HTTP answer is for: the operation itself, or the shared provider state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Op,
    Discovery(usize),
    Registration(usize),
    Keys(usize),
}

/// What a flow obtained for each provider, by index (see [`Flow`]'s `memo`).
#[derive(Default)]
pub(crate) struct Memo {
    metadata: Vec<(usize, Result<Arc<ProviderMetadata>>)>,
    clients: Vec<(usize, Result<Arc<ClientMetadata>>)>,
    /// Where this flow is in a shared client registration, for the provider at that index.
    registration: Option<(usize, Registering)>,
}

/// The steps of a client registration shared through the session store (see
/// [`Cx::plan_client`]), each waiting on the answer to one action.
pub(crate) enum Registering {
    /// The kept registration was asked for; after this many sleeps.
    Loading(u32),
    /// The registration lease was asked for.
    Leasing,
    /// Another instance holds the lease: slept this many times.
    Sleeping(u32),
    /// This process's outcome is being kept in the store.
    Keeping(Result<Arc<ClientMetadata>>),
}

/// How long a client registration lease lasts at most: longer than a registration takes. It
/// lasts no longer than a failed registration is backed off (`discovery_retry`), so that the
/// registration is tried again when the failure kept in the store expires.
const REGISTRATION_LEASE_TTL: Duration = Duration::from_secs(15);

/// The registration lease of a provider with this retry interval.
fn registration_lease_ttl(retry: Duration) -> Duration {
    retry.clamp(Duration::from_secs(1), REGISTRATION_LEASE_TTL)
}

/// How often an instance waiting for another's registration looks again.
const REGISTRATION_LEASE_POLL: Duration = Duration::from_millis(200);

/// The outcome of a fetch for the shared state, by provider index.
pub(crate) enum Fetched {
    Metadata(usize, Result<Arc<ProviderMetadata>>),
    Client(usize, Result<Arc<ClientMetadata>>),
    Keys(usize, Result<Arc<JwkSet>>),
}

/// A fetch a flow makes on behalf of every flow, or a token refresh it runs for its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owned {
    Provider(usize),
    Refresh(String),
}

impl<T> Flow<T> {
    pub(crate) fn new(
        rp: &RelyingParty,
        cx: Context,
        machine: impl Machine<Output = T> + 'static,
        fail: fn(&RelyingParty, Error) -> T,
    ) -> Self {
        Flow {
            id: rp.next_flow_id(),
            rp: rp.clone(),
            now: cx.now,
            rng: Rng::new(cx.entropy),
            machine: Box::new(machine),
            fail,
            question: None,
            answer: None,
            fetched: None,
            memo: Memo::default(),
            owned: Vec::new(),
            misuse: None,
            must_finish: false,
            finished: false,
        }
    }

    /// What to do next. After [`Action::Done`] the flow is spent: polling it again is misuse,
    /// answered with the operation's error outcome.
    pub fn poll(&mut self) -> Action<T> {
        if self.finished {
            return Action::Done((self.fail)(&self.rp, Misuse::Finished("a flow").into()));
        }
        if self.question.is_some() {
            self.misuse = Some(Misuse::Unanswered);
        }
        if let Some(m) = self.misuse.take() {
            self.finish();
            return Action::Done((self.fail)(&self.rp, m.into()));
        }
        let Flow {
            rp,
            id,
            now,
            rng,
            machine,
            answer,
            fetched,
            memo,
            owned,
            must_finish,
            ..
        } = self;
        let mut cx = Cx {
            rp,
            id: *id,
            now: *now,
            rng,
            answer: answer.take(),
            fetched,
            memo,
            owned,
            must_finish,
        };
        match machine.step(&mut cx) {
            Progress::Ready(out) => {
                self.finish();
                Action::Done(out)
            }
            Progress::Pending(ask) => {
                let (question, action) = match ask {
                    Ask::Send(purpose, out) => (Some(Question::Http(purpose)), Action::Send(out)),
                    Ask::Load(id) => (Some(Question::Loaded), Action::Load(id)),
                    Ask::Save(id, r) => (Some(Question::Stored), Action::Save(id, r)),
                    Ask::Update(id, r) => (Some(Question::Updated), Action::Update(id, r)),
                    Ask::Delete(id) => (Some(Question::Stored), Action::Delete(id)),
                    Ask::DeleteIndexed(key) => (Some(Question::Stored), Action::DeleteIndexed(key)),
                    Ask::MarkSpent(k, ttl) => (Some(Question::Marked), Action::MarkSpent(k, ttl)),
                    Ask::Unmark(k) => (Some(Question::Stored), Action::Unmark(k)),
                    Ask::Wait => (None, Action::Wait),
                    Ask::Sleep(d) => (None, Action::Sleep(d)),
                };
                self.question = question;
                action
            }
        }
    }

    /// The answer to the last action [`poll`](Self::poll) returned. An answer of another kind,
    /// or one nothing asked for, is misuse: the next poll ends the flow with an error.
    pub fn answer(&mut self, answer: Answer) {
        let question = self.question.take();
        match (question, answer) {
            (Some(Question::Http(Purpose::Op)), a @ Answer::Http(_))
            | (Some(Question::Loaded), a @ Answer::Loaded(_))
            | (Some(Question::Stored), a @ Answer::Stored(_))
            | (Some(Question::Marked), a @ Answer::Marked(_))
            | (Some(Question::Updated), a @ Answer::Updated(_)) => self.answer = Some(a),
            (Some(Question::Http(purpose)), Answer::Http(response)) => {
                self.record_shared(purpose, response);
            }
            (_, other) => self.misuse = Some(Misuse::UnexpectedAnswer(other.kind())),
        }
    }

    /// Whether the flow has sent a request whose effect only it can save: a token refresh,
    /// after which the provider may already have rotated the refresh token. Such a flow must
    /// be driven to its end even when the request that started it goes away, or the session
    /// keeps a spent refresh token and its next refresh logs the user out.
    pub fn must_finish(&self) -> bool {
        self.must_finish && !self.finished
    }

    /// Records the answer to a fetch made for every flow into the provider's shared state.
    fn record_shared(
        &mut self,
        purpose: Purpose,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) {
        let (Purpose::Discovery(i) | Purpose::Registration(i) | Purpose::Keys(i)) = purpose else {
            return;
        };
        let Some(slot) = self.rp.slot_at(i) else {
            return;
        };
        let mut state = slot.state();
        state.release(self.id);
        let fetched = match purpose {
            Purpose::Discovery(_) => Fetched::Metadata(
                i,
                state
                    .record_discovery(&slot.config, self.now, response)
                    .inspect_err(
                        |e| tracing::warn!(provider = %slot.name, error = %e, "discovery failed"),
                    ),
            ),
            Purpose::Registration(_) => Fetched::Client(
                i,
                state
                    .record_registration(&slot.config, self.now, response)
                    .inspect(|client| {
                        tracing::info!(
                            provider = %slot.name,
                            client_id = %crate::log_safe::log_safe(&client.client_id),
                            "registered client"
                        );
                    })
                    .inspect_err(|e| {
                        tracing::warn!(provider = %slot.name, error = %e, "client registration failed");
                    }),
            ),
            _ => {
                let fetch = KeyFetch::from_response(self.now, response);
                state.keys.record(&fetch);
                Fetched::Keys(i, fetch.outcome)
            }
        };
        drop(state);
        self.owned.retain(|o| *o != Owned::Provider(i));
        self.fetched = Some(fetched);
    }

    fn finish(&mut self) {
        self.finished = true;
        self.question = None;
        self.release();
    }

    /// Gives up what this flow was fetching for others, so that they fetch it themselves.
    fn release(&mut self) {
        for owned in std::mem::take(&mut self.owned) {
            self.rp.release(self.id, &owned);
        }
    }
}

impl<T> Drop for Flow<T> {
    fn drop(&mut self) {
        self.release();
    }
}

/// What a step asks for. The machine's own HTTP calls carry [`Purpose::Op`].
pub(crate) enum Ask {
    Send(Purpose, Outbound),
    Load(String),
    Save(String, SessionRecord),
    Update(String, SessionRecord),
    Delete(String),
    DeleteIndexed(String),
    MarkSpent(String, Duration),
    Unmark(String),
    Wait,
    Sleep(Duration),
}

impl Ask {
    pub(crate) fn send(out: Outbound) -> Self {
        Ask::Send(Purpose::Op, out)
    }
}

/// A step's outcome: finished, or this is needed first.
// One lives on the stack at a time and is matched at once: boxing the request would only add
// an allocation per step.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Progress<T> {
    Ready(T),
    Pending(Ask),
}

/// `ready!(progress)`: the value, or return the pending action from the enclosing step.
macro_rules! ready {
    ($e:expr) => {
        match $e {
            $crate::flow::Progress::Ready(v) => v,
            $crate::flow::Progress::Pending(ask) => return $crate::flow::Progress::Pending(ask),
        }
    };
}
pub(crate) use ready;

/// `tri!(result)`: the value, or end the step with the error as its outcome.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::flow::Progress::Ready(Err(e.into())),
        }
    };
}
pub(crate) use tri;

/// One operation as a state machine.
pub(crate) trait Machine: Send {
    type Output;
    /// Moves on as far as it can without an answer from outside.
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Self::Output>;
}

/// What a step sees: the relying party, the flow's time and randomness, the answer to its
/// last action, and the shared provider state through the fetch helpers.
pub(crate) struct Cx<'a> {
    pub(crate) rp: &'a RelyingParty,
    id: u64,
    pub(crate) now: u64,
    pub(crate) rng: &'a mut Rng,
    answer: Option<Answer>,
    fetched: &'a mut Option<Fetched>,
    memo: &'a mut Memo,
    owned: &'a mut Vec<Owned>,
    must_finish: &'a mut bool,
}

impl Cx<'_> {
    /// The answer to the machine's last [`Ask::Send`].
    pub(crate) fn http(
        &mut self,
    ) -> Result<std::result::Result<http::Response<Bytes>, TransportError>> {
        match self.answer.take() {
            Some(Answer::Http(r)) => Ok(r),
            _ => Err(Misuse::ResumedWithoutRequest("a flow").into()),
        }
    }

    /// The answer to the machine's last [`Ask::Load`].
    pub(crate) fn loaded(&mut self) -> Result<Option<SessionRecord>> {
        match self.answer.take() {
            Some(Answer::Loaded(r)) => Ok(r?),
            _ => Err(Misuse::ResumedWithoutRequest("a flow").into()),
        }
    }

    /// The answer to the machine's last [`Ask::Save`], [`Ask::Delete`], [`Ask::DeleteIndexed`]
    /// or [`Ask::Unmark`].
    pub(crate) fn stored(&mut self) -> Result<()> {
        match self.answer.take() {
            Some(Answer::Stored(r)) => Ok(r?),
            _ => Err(Misuse::ResumedWithoutRequest("a flow").into()),
        }
    }

    /// The answer to the machine's last [`Ask::Update`]: whether the record was still there.
    pub(crate) fn updated(&mut self) -> Result<bool> {
        match self.answer.take() {
            Some(Answer::Updated(r)) => Ok(r?),
            _ => Err(Misuse::ResumedWithoutRequest("a flow").into()),
        }
    }

    /// The answer to the machine's last [`Ask::MarkSpent`].
    pub(crate) fn marked(&mut self) -> Result<bool> {
        match self.answer.take() {
            Some(Answer::Marked(r)) => Ok(r?),
            _ => Err(Misuse::ResumedWithoutRequest("a flow").into()),
        }
    }

    /// Marks the flow as one that must run to its end (see [`Flow::must_finish`]).
    pub(crate) fn set_must_finish(&mut self) {
        *self.must_finish = true;
    }

    /// Takes the session's token refresh for this flow: `false` when another flow runs one.
    pub(crate) fn claim_refresh(&mut self, session: &str) -> bool {
        let claimed = self.rp.claim_refresh(session, self.id);
        if claimed {
            self.owned.push(Owned::Refresh(session.to_owned()));
        }
        claimed
    }

    /// Whether another flow runs the session's token refresh.
    pub(crate) fn refresh_running(&self, session: &str) -> bool {
        self.rp.refresh_owner(session).is_some_and(|o| o != self.id)
    }

    /// Ends this flow's token refresh of the session.
    pub(crate) fn release_refresh(&mut self, session: &str) {
        let owned = Owned::Refresh(session.to_owned());
        self.rp.release(self.id, &owned);
        self.owned.retain(|o| *o != owned);
    }

    /// The metadata of the provider at index `i`: the cached copy, or its discovery first (or
    /// a wait while another flow discovers it).
    pub(crate) fn ensure_metadata(&mut self, i: usize) -> Progress<Result<Arc<ProviderMetadata>>> {
        if let Some((_, known)) = self.memo.metadata.iter().find(|(j, _)| *j == i) {
            return Progress::Ready(known.clone());
        }
        match self.plan_metadata(i) {
            Progress::Ready(outcome) => {
                self.memo.metadata.push((i, outcome.clone()));
                Progress::Ready(outcome)
            }
            pending => pending,
        }
    }

    fn plan_metadata(&mut self, i: usize) -> Progress<Result<Arc<ProviderMetadata>>> {
        if matches!(&*self.fetched, Some(Fetched::Metadata(j, _)) if *j == i) {
            if let Some(Fetched::Metadata(_, outcome)) = self.fetched.take() {
                return Progress::Ready(outcome);
            }
        }
        let Some(slot) = self.rp.slot_at(i) else {
            return Progress::Ready(Err(Error::config("provider", "unknown provider")));
        };
        let mut state = slot.state();
        match state.plan_metadata(&slot.config, self.now) {
            Err(e) => Progress::Ready(Err(e)),
            Ok(MetadataPlan::Use(m)) => Progress::Ready(Ok(m)),
            Ok(MetadataPlan::Discover(request)) => {
                if state.discovering.is_some() {
                    // A stale copy serves while another flow rediscovers; with none, wait.
                    return match state.cached_metadata() {
                        Some(m) => Progress::Ready(Ok(m)),
                        None => Progress::Pending(Ask::Wait),
                    };
                }
                state.discovering = Some(self.id);
                self.owned.push(Owned::Provider(i));
                Progress::Pending(Ask::Send(
                    Purpose::Discovery(i),
                    Outbound {
                        endpoint: Endpoint::Discovery,
                        request: *request,
                    },
                ))
            }
        }
    }

    /// This client at the provider at index `i`: the configured or registered one, or its
    /// registration first (or a wait while another flow registers).
    pub(crate) fn ensure_client(
        &mut self,
        i: usize,
        metadata: &ProviderMetadata,
    ) -> Progress<Result<Arc<ClientMetadata>>> {
        if let Some((_, known)) = self.memo.clients.iter().find(|(j, _)| *j == i) {
            return Progress::Ready(known.clone());
        }
        match self.plan_client(i, metadata) {
            Progress::Ready(outcome) => {
                self.memo.clients.push((i, outcome.clone()));
                Progress::Ready(outcome)
            }
            pending => pending,
        }
    }

    /// The client of the provider at index `i`. A dynamic registration goes through the
    /// session store so that every instance sharing it uses one client: the flow that
    /// registers for this process first loads the registration another instance may have
    /// kept, else takes the registration lease and registers (and keeps the result, or the
    /// failure while it is backed off, for the others), else sleeps until the instance holding
    /// the lease has kept its result. Each step is an action; [`Memo::registration`] says
    /// which one the flow is at.
    fn plan_client(
        &mut self,
        i: usize,
        metadata: &ProviderMetadata,
    ) -> Progress<Result<Arc<ClientMetadata>>> {
        let Some(slot) = self.rp.slot_at(i) else {
            return Progress::Ready(Err(Error::config("provider", "unknown provider")));
        };
        let record_id = || {
            crate::session::index_key(
                "registration",
                slot.config.issuer(),
                slot.redirect_uri.as_str(),
            )
        };
        if matches!(&*self.fetched, Some(Fetched::Client(j, _)) if *j == i) {
            if let Some(Fetched::Client(_, outcome)) = self.fetched.take() {
                // This process registered (or failed to): the other instances learn it too.
                let record = slot.state().shared_registration(&slot.config, self.now);
                self.memo.registration = Some((i, Registering::Keeping(outcome)));
                return Progress::Pending(Ask::Save(record_id(), record));
            }
        }
        match self.memo.registration.take() {
            Some((j, stage)) if j == i => match stage {
                Registering::Keeping(outcome) => {
                    if let Err(e) = self.stored() {
                        tracing::warn!(provider = %slot.name, error = %e, "cannot keep the client registration in the session store");
                    }
                    return Progress::Ready(outcome);
                }
                Registering::Loading(polls) => {
                    let loaded = self.loaded();
                    let mut state = slot.state();
                    let shared = match &loaded {
                        Ok(Some(record)) => record.registration.as_deref(),
                        _ => None,
                    };
                    if let Some(outcome) = shared.and_then(|r| state.adopt_shared(r, self.now)) {
                        state.release(self.id);
                        drop(state);
                        self.owned.retain(|o| *o != Owned::Provider(i));
                        return Progress::Ready(outcome);
                    }
                    drop(state);
                    if polls == 0 {
                        self.memo.registration = Some((i, Registering::Leasing));
                        // The lease names the client being replaced (none at first): a
                        // registration replacing an expired one has a lease of its own.
                        let replaced = shared
                            .and_then(|r| r.client.as_ref())
                            .map_or("", |c| c.client_id.as_str());
                        let lease = crate::session::index_key(
                            crate::session::REGISTRATION_LEASE,
                            slot.config.issuer(),
                            &format!("{}\0{replaced}", slot.redirect_uri),
                        );
                        let ttl = registration_lease_ttl(slot.config.discovery_retry);
                        return Progress::Pending(Ask::MarkSpent(lease, ttl));
                    }
                    let ttl = registration_lease_ttl(slot.config.discovery_retry);
                    let limit = ttl.as_millis() / REGISTRATION_LEASE_POLL.as_millis();
                    if u128::from(polls) >= limit {
                        return Progress::Ready(Err(Error::Transport {
                            endpoint: Endpoint::Registration,
                            source: TransportError::Other(
                                "another instance's client registration did not finish".into(),
                            ),
                        }));
                    }
                    self.memo.registration = Some((i, Registering::Sleeping(polls)));
                    return Progress::Pending(Ask::Sleep(REGISTRATION_LEASE_POLL));
                }
                Registering::Leasing => match self.marked() {
                    // This instance registers: below.
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(provider = %slot.name, "another instance registers the client; waiting for it");
                        self.memo.registration = Some((i, Registering::Sleeping(1)));
                        return Progress::Pending(Ask::Sleep(REGISTRATION_LEASE_POLL));
                    }
                    Err(e) => return Progress::Ready(Err(e)),
                },
                Registering::Sleeping(polls) => {
                    self.memo.registration = Some((i, Registering::Loading(polls + 1)));
                    return Progress::Pending(Ask::Load(record_id()));
                }
            },
            other => self.memo.registration = other,
        }
        let mut state = slot.state();
        let plan = state.plan_client(
            &slot.config,
            metadata,
            &slot.redirect_uri,
            self.rp.post_logout_redirect_uri(),
            self.rp.logout_routes(),
            self.now,
        );
        match plan {
            Err(e) => Progress::Ready(Err(e)),
            Ok(ClientPlan::Use(c)) => Progress::Ready(Ok(c)),
            // This flow holds the process's registration and the store's lease: register.
            Ok(ClientPlan::Register(request)) if state.registering == Some(self.id) => {
                Progress::Pending(Ask::Send(
                    Purpose::Registration(i),
                    Outbound {
                        endpoint: Endpoint::Registration,
                        request: *request,
                    },
                ))
            }
            Ok(ClientPlan::Register(_)) if state.registering.is_some() => {
                Progress::Pending(Ask::Wait)
            }
            Ok(ClientPlan::Register(_)) => {
                // First what another instance may have registered already.
                state.registering = Some(self.id);
                self.owned.push(Owned::Provider(i));
                self.memo.registration = Some((i, Registering::Loading(0)));
                Progress::Pending(Ask::Load(record_id()))
            }
        }
    }

    /// The key set of the provider at index `i` to validate a token with: the current one
    /// when `tried` is `None`, else one newer than `tried` (which lacked the token's key).
    /// `Ok(None)`: no newer set, and the key cache allows no fetch yet (forged `kid`s buy no
    /// fetches).
    pub(crate) fn ensure_keys(
        &mut self,
        i: usize,
        metadata: &ProviderMetadata,
        tried: Option<&Arc<JwkSet>>,
    ) -> Progress<Result<Option<Arc<JwkSet>>>> {
        if matches!(&*self.fetched, Some(Fetched::Keys(j, _)) if *j == i) {
            if let Some(Fetched::Keys(_, outcome)) = self.fetched.take() {
                return Progress::Ready(outcome.map(Some));
            }
        }
        let Some(slot) = self.rp.slot_at(i) else {
            return Progress::Ready(Err(Error::config("provider", "unknown provider")));
        };
        let mut state = slot.state();
        let decision = match tried {
            None => state.keys.current(self.now),
            Some(tried) => state.keys.after_unknown_kid(self.now, tried),
        };
        match decision {
            KeyDecision::Use(set) => Progress::Ready(Ok(Some(set))),
            KeyDecision::Throttled => Progress::Ready(Ok(None)),
            KeyDecision::RecentlyFailed(e) => Progress::Ready(Err(e)),
            KeyDecision::Fetch if state.fetching_keys.is_some() => Progress::Pending(Ask::Wait),
            KeyDecision::Fetch => {
                let request = match metadata.jwks_uri.as_ref() {
                    Some(uri) => jwks::jwks_request(uri.as_str()),
                    None => Err(Error::config(
                        "provider_metadata.jwks_uri",
                        "required to verify JWT access tokens",
                    )),
                };
                let request = match request {
                    Ok(r) => r,
                    Err(e) => return Progress::Ready(Err(e)),
                };
                state.fetching_keys = Some(self.id);
                self.owned.push(Owned::Provider(i));
                Progress::Pending(Ask::Send(
                    Purpose::Keys(i),
                    Outbound {
                        endpoint: Endpoint::Jwks,
                        request,
                    },
                ))
            }
        }
    }
}

/// A protocol exchange ([`CodeExchange`](crate::CodeExchange),
/// [`TokenRefresh`](crate::refresh::TokenRefresh)) stepped inside a flow, with its JWKS
/// requests shared per provider: one flow fetches, and the others waiting for keys decide
/// from the cache it filled instead of each fetching.
pub(crate) struct Gated<E> {
    exchange: E,
    slot: usize,
    /// Fetch attempts of the provider's cache this exchange's copy has seen.
    seen: u64,
    started: bool,
    /// A JWKS request the exchange asked for, not yet sent (another flow was fetching).
    parked: Option<Outbound>,
    /// Whether the request outstanding is this exchange's JWKS request.
    fetching: bool,
}

impl<E: Exchange> Gated<E> {
    /// `exchange` starts from a copy of the provider's key cache taken just before, which has
    /// seen `seen` attempts.
    pub(crate) fn new(exchange: E, slot: usize, seen: u64) -> Self {
        Gated {
            exchange,
            slot,
            seen,
            started: false,
            parked: None,
            fetching: false,
        }
    }

    pub(crate) fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Result<E::Output>> {
        let mut step = if !self.started {
            self.started = true;
            self.exchange.start()
        } else if let Some(out) = self.parked.take() {
            match self.unpark(cx, out) {
                Ok(Some(step)) => step,
                Ok(None) => return Progress::Pending(Ask::Wait),
                Err(ask) => return Progress::Pending(ask),
            }
        } else {
            let response = match cx.http() {
                Ok(r) => r,
                Err(e) => return Progress::Ready(Err(e)),
            };
            let step = self.exchange.resume(response);
            if std::mem::take(&mut self.fetching) {
                self.record_fetches(cx);
            }
            step
        };
        loop {
            step = match step {
                Step::Send(out) if out.endpoint == Endpoint::Jwks => match self.unpark(cx, out) {
                    Ok(Some(step)) => step,
                    Ok(None) => return Progress::Pending(Ask::Wait),
                    Err(ask) => return Progress::Pending(ask),
                },
                Step::Send(out) => return Progress::Pending(Ask::send(out)),
                Step::Done(out) => return Progress::Ready(Ok(out)),
            }
        }
    }

    /// A JWKS request: answered from the shared cache when another flow fetched since this
    /// exchange's copy was made (`Ok(Some)`), parked while one is fetching (`Ok(None)`), else
    /// sent (`Err(ask)`).
    #[allow(clippy::result_large_err)] // the request, moved on at once (see `Progress`)
    fn unpark(
        &mut self,
        cx: &mut Cx<'_>,
        out: Outbound,
    ) -> std::result::Result<Option<Step<E::Output>>, Ask> {
        let Some(slot) = cx.rp.slot_at(self.slot) else {
            return Err(Ask::send(out));
        };
        let mut state = slot.state();
        if state.keys.attempts() > self.seen {
            self.seen = state.keys.attempts();
            let keys = state.keys.clone();
            drop(state);
            return Ok(Some(self.exchange.resume_with_keys(keys)));
        }
        if state.fetching_keys.is_some() {
            self.parked = Some(out);
            return Ok(None);
        }
        state.fetching_keys = Some(cx.id);
        cx.owned.push(Owned::Provider(self.slot));
        self.fetching = true;
        Err(Ask::send(out))
    }

    /// Puts the exchange's key fetches into the provider's cache and ends its fetch.
    fn record_fetches(&mut self, cx: &mut Cx<'_>) {
        let Some(slot) = cx.rp.slot_at(self.slot) else {
            return;
        };
        let mut state = slot.state();
        for fetch in self.exchange.take_key_fetches() {
            state.keys.record(&fetch);
        }
        self.seen = state.keys.attempts();
        state.release(cx.id);
        drop(state);
        cx.owned.retain(|o| *o != Owned::Provider(self.slot));
    }
}

/// A machine with its outcome decided at the start (a configuration error, a bad request).
pub(crate) struct Immediate<T>(pub(crate) Option<T>);

impl<T: Send> Machine for Immediate<T> {
    type Output = T;
    fn step(&mut self, _: &mut Cx<'_>) -> Progress<T> {
        match self.0.take() {
            Some(v) => Progress::Ready(v),
            // Stepped again after it finished: the flow refuses that before it gets here.
            None => Progress::Pending(Ask::Wait),
        }
    }
}

/// A machine whose outcome is mapped (a bearer identity into a [`Principal`](crate::Principal)).
pub(crate) struct Map<M, F> {
    pub(crate) machine: M,
    pub(crate) f: Option<F>,
}

impl<M, F, U> Machine for Map<M, F>
where
    M: Machine,
    F: FnOnce(&RelyingParty, M::Output) -> U + Send,
{
    type Output = U;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<U> {
        let out = ready!(self.machine.step(cx));
        match self.f.take() {
            Some(f) => Progress::Ready(f(cx.rp, out)),
            None => Progress::Pending(Ask::Wait),
        }
    }
}
