//! The online path: cache lookups, coalesced TMDB fetches, stale-while-revalidate,
//! stale-if-error, the last-good fallback of search and popular, and prefetching the next page.

use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;

use super::dynamic_ttl;
use super::endpoints::Kind;
use super::flight::Then;
use super::served::StaleReason;
use super::{CacheOutcome, Document, Fetched, HotSlot, MovieService, Served};
use crate::cache::fill::FillClaim;
use crate::cache::hot::LaterBody;
use crate::cache::redis_store::FillLock;
use crate::cache::{self, CacheKey, CachedEntry, EntryMeta, Landed, Lookup, Shape};
use crate::counters::Counters;
use crate::domain::{MAX_PAGE, Page, Requester};
use crate::error::ApiError;
use crate::tmdb::{self, TmdbError};

/// One cacheable TMDB document: where it lives in the cache and how to fetch it.
#[derive(Debug, Clone)]
pub(super) struct Request {
    /// Whose share of the upstream budget the fetch takes.
    pub requester: Requester,
    pub key: CacheKey,
    pub ttl: Duration,
    pub kind: Kind,
    pub path: String,
    pub params: Vec<(&'static str, String)>,
    /// For messages: "trending (day) page 3".
    pub what: String,
    /// The entry this fetch replaces, when there is one: its TTL and hash decide the new TTL
    /// (`dynamic_ttl.rs`).
    pub previous: Option<EntryMeta>,
}

impl Request {
    /// A client's (reads count towards refresh-ahead), not background work's.
    pub(super) fn is_client(&self) -> bool {
        matches!(self.requester, Requester::Client(_))
    }
}

/// How often an instance waiting for another's fill looks for the entry.
const FILL_POLL: Duration = Duration::from_millis(20);

/// How waiting for another instance's fill ended.
enum Waited {
    Stored(Fetched),
    /// It stored a negative entry: TMDB has no such movie.
    Missing,
    /// Fetch here, holding the lock when it could be taken.
    FetchHere(Option<FillLock>),
}

/// What a negative entry answers: the words of TMDB's own 404.
fn no_such_movie() -> ApiError {
    ApiError::from(TmdbError::NotFound)
}

/// Errors after which a stale copy is better than the error: TMDB failing, not TMDB saying the
/// movie does not exist.
fn stale_can_answer(error: &ApiError) -> bool {
    !matches!(
        error,
        ApiError::MovieNotFound(_) | ApiError::Validation { .. }
    )
}

impl MovieService {
    /// key → cache → one coalesced fetch → store (the hot tier in front is `cached`'s), with
    /// the stale rules:
    /// - expired by less than the revalidate window: answered at once from the stale copy while
    ///   one background refresh runs;
    /// - expired within the stale grace: fetched, and the stale copy answers if TMDB fails;
    /// - older, or nothing stored: fetched, and a failure is the client's error.
    pub(super) async fn through_cache(&self, mut request: Request) -> Result<Served, ApiError> {
        if self.offline {
            return self.offline_lookup(&request.key, &request.what).await;
        }
        let ns = request.key.namespace_label();
        let now_ms = self.clock.now_ms();
        let window = self.resilience.revalidate_window.as_millis() as u64;
        let grace = self.resilience.stale_grace.as_millis() as u64;
        // Noted before the read: a body rendered from what is read may be kept only if nothing
        // was written in between.
        let generation = self.cache.hot().generation();
        let mut lookup = self.cache.get(&request.key, now_ms).await;
        if let Lookup::Expired(_) | Lookup::Miss = lookup {
            if let Some(served) = self.answered_flight(&request, now_ms) {
                return Ok(served);
            }
            // A write that landed (and its flight ended) between the read and that look: read
            // again, on the miss path only, rather than look at the flights before every read.
            if let fresh @ Lookup::Fresh(_) = self.cache.get(&request.key, now_ms).await {
                lookup = fresh;
            }
        }
        let stale = match lookup {
            Lookup::Missing { .. } => return Err(self.negative_hit(ns)),
            Lookup::Fresh(entry) => {
                tracing::debug!(key = %request.key, "cache hit");
                if request.is_client() {
                    self.note_read(request.key.as_str(), &entry.meta, now_ms);
                }
                let mut served = self.serve_entry(ns, entry, CacheOutcome::Hit, now_ms);
                served.hot = Some(HotSlot {
                    key: request.key,
                    generation,
                });
                return Ok(served);
            }
            Lookup::Expired(entry) if now_ms < entry.meta.expires_at_ms.saturating_add(window) => {
                tracing::debug!(key = %request.key, "stale: serving while revalidating");
                if request.is_client() {
                    self.note_read(request.key.as_str(), &entry.meta, now_ms);
                }
                request.previous = Some(entry.meta);
                self.refresh_in_background(request, &self.counters.revalidations);
                return Ok(self
                    .serve_entry(ns, entry, CacheOutcome::Stale, now_ms)
                    .because(StaleReason::Revalidating));
            }
            Lookup::Expired(entry) if now_ms < entry.meta.expires_at_ms.saturating_add(grace) => {
                request.previous = Some(entry.meta);
                Some(entry)
            }
            Lookup::Expired(entry) => {
                request.previous = Some(entry.meta);
                None
            }
            Lookup::Miss => None,
        };
        Counters::incr(&self.counters.misses);
        self.record_outcome(ns, CacheOutcome::Miss);
        let key = request.key.clone();
        let client = request.is_client();
        let (fetched, collapsed) = match &stale {
            // With a stale copy at hand, a client waits for TMDB only `stale_after`: then the
            // copy answers, and the fetch (its own task, single-flight, bounded by the upstream
            // deadline) goes on and refreshes the entry.
            Some(_) => {
                tokio::time::timeout(self.resilience.stale_after, self.coalesced_fetch(request))
                    .await
                    .unwrap_or_else(|_| {
                        let slow = "TMDB is slow; the fetch goes on in the background";
                        (Err(ApiError::UpstreamTimeout(slow.to_owned())), false)
                    })
            }
            None => self.coalesced_fetch(request).await,
        };
        match fetched {
            Ok((shape, raw, meta, later)) => {
                let document = Document::Fetched { shape, raw };
                let now_ms = self.clock.now_ms();
                if client {
                    self.note_read(key.as_str(), &meta, now_ms);
                }
                let mut served = Served::new(document, CacheOutcome::Miss, Some(meta), now_ms);
                // Answered before its write lands (the flight lasts until it does). The body
                // rendered from it is kept in the hot tier at once if nothing was written since
                // the store was read (the store holds no fresh entry: the tier none either), and
                // again by the write when it lands (which empties the tier of the key).
                served.kept = self.cache.takes_writes();
                served.hot = Some(HotSlot {
                    key: key.clone(),
                    generation,
                });
                served.later = Some(later);
                served.collapsed = collapsed;
                Ok(served)
            }
            Err(error) => match stale {
                Some(entry) if stale_can_answer(&error) => {
                    tracing::warn!(%key, %error, "TMDB failed; serving the stale copy");
                    let now_ms = self.clock.now_ms();
                    Ok(self
                        .serve_entry(ns, entry, CacheOutcome::Stale, now_ms)
                        .because(StaleReason::UpstreamError))
                }
                _ => Err(error),
            },
        }
    }

    /// A document fetched a moment ago and answered, its write still on the way: newer than
    /// anything stored, so a hit on the flight's copy while it is fresh.
    fn answered_flight(&self, request: &Request, now_ms: u64) -> Option<Served> {
        let (shape, raw, meta, _) = self
            .flights
            .answered(request.key.as_str())
            .filter(|(_, _, meta, _)| now_ms < meta.expires_at_ms)?;
        if request.is_client() {
            self.note_read(request.key.as_str(), &meta, now_ms);
        }
        Counters::incr(&self.counters.hits);
        self.record_outcome(request.key.namespace_label(), CacheOutcome::Hit);
        let document = Document::Fetched { shape, raw };
        Some(Served::new(document, CacheOutcome::Hit, Some(meta), now_ms))
    }

    /// The fetch for `request`, shared with every concurrent request for the same key, and
    /// whether it was another request's. A request that joined another client's fetch, refused
    /// for *that* client's share, tries once more on its own: one client's flood must not
    /// refuse everyone asking for the same page.
    pub(super) async fn coalesced_fetch(
        &self,
        request: Request,
    ) -> (Result<Fetched, ApiError>, bool) {
        let key = request.key.as_str().to_owned();
        let (result, joined) = self.flight(&key, request.clone()).await;
        if joined {
            Counters::incr(&self.counters.coalesced);
            if let Err(ApiError::ClientShareUsed { .. }) = result {
                return self.flight(&key, request).await;
            }
        }
        (result, joined)
    }

    async fn flight(&self, key: &str, request: Request) -> (Result<Fetched, ApiError>, bool) {
        let service = self.clone();
        self.flights
            .run_then(key, async move { service.fetch_and_store(request).await })
            .await
    }

    /// Fetches and validates one document; answered at once, stored by the work it returns
    /// (the flight lasts until that is done). Runs in its own task (see `SingleFlight`). With a
    /// shared store, one instance at a time fetches a key (its lock released once the entry is
    /// stored); the others wait for its entry.
    async fn fetch_and_store(&self, request: Request) -> (Result<Fetched, ApiError>, Option<Then>) {
        let lock = match self.cache.claim_fill(&request.key).await {
            FillClaim::Unshared => None,
            FillClaim::Owned(lock) => Some(lock),
            FillClaim::Elsewhere => match self.wait_for_other_instance(&request.key).await {
                Waited::Stored(fetched) => return (Ok(fetched), None),
                Waited::Missing => return (Err(no_such_movie()), None),
                Waited::FetchHere(lock) => lock,
            },
        };
        let (result, write) = self.fetch_here(request, lock.is_some()).await;
        let Some(lock) = lock else {
            return (result, write);
        };
        let cache = self.cache.clone();
        let then = async move {
            let landed = match write {
                Some(write) => write.await,
                None => Landed::default(),
            };
            cache.release_fill(lock).await;
            landed
        };
        (result, Some(then.boxed()))
    }

    /// Polls (bounded by the lock's lifetime) for the entry another instance is fetching. Its
    /// lock disappearing without a fresh entry means it failed or died: then this one fetches.
    async fn wait_for_other_instance(&self, key: &CacheKey) -> Waited {
        let until = tokio::time::Instant::now() + self.cache.fill_wait();
        loop {
            tokio::time::sleep(FILL_POLL).await;
            // Read the lock before the entry: the holder stores before it unlocks, so a lock
            // found gone means its entry (if any) is visible now.
            let pending = self.cache.fill_pending(key).await;
            match self.cache.get(key, self.clock.now_ms()).await {
                Lookup::Fresh(entry) => {
                    if let Ok(raw) = entry.render(b"", b"") {
                        Counters::incr(&self.counters.shared_fills);
                        // Stored by another instance: the next request here reads it and
                        // keeps it.
                        let raw = Bytes::from(raw);
                        let later = LaterBody::default();
                        return Waited::Stored((entry.meta.shape, raw, entry.meta, later));
                    }
                }
                Lookup::Missing { .. } => {
                    Counters::incr(&self.counters.shared_fills);
                    return Waited::Missing;
                }
                Lookup::Expired(_) | Lookup::Miss => {}
            }
            if tokio::time::Instant::now() >= until {
                return Waited::FetchHere(None);
            }
            if !pending {
                match self.cache.claim_fill(key).await {
                    FillClaim::Elsewhere => {}
                    FillClaim::Owned(lock) => return Waited::FetchHere(Some(lock)),
                    FillClaim::Unshared => return Waited::FetchHere(None),
                }
            }
        }
    }

    /// Fetches; the document's write is returned, to run once it is answered. TMDB's 404 for a
    /// movie id is stored too, as a negative entry, before it is answered (never an outage: only
    /// `MovieNotFound` comes from TMDB saying so).
    /// `urgent`: other instances wait for this entry (a fill lock is held): written at once with
    /// the fast encoding.
    async fn fetch_here(
        &self,
        request: Request,
        urgent: bool,
    ) -> (Result<Fetched, ApiError>, Option<Then>) {
        let fetched = self
            .fetch(
                request.kind,
                &request.path,
                &request.params,
                request.requester,
            )
            .await;
        let (shape, raw) = match fetched {
            Ok(fetched) => fetched,
            Err(error @ ApiError::MovieNotFound(_)) => {
                let ttl = self.ttl.negative;
                if !ttl.is_zero() && !matches!(request.kind, Kind::GlobalList) {
                    let now_ms = self.clock.now_ms();
                    self.cache.put_negative(&request.key, now_ms, ttl).await;
                }
                return (Err(error), None);
            }
            Err(error) => return (Err(error), None),
        };
        let now_ms = self.clock.now_ms();
        let mut ttl = dynamic_ttl::next_ttl(
            &self.ttl,
            request.ttl,
            request.previous.as_ref(),
            crate::cache::envelope::payload_hash(&raw),
            &self.ttl_counters,
        );
        // Details the change feed watches (the default language's) live long while it works;
        // the dynamic TTL moves around the normal TTL, never around this one.
        let default_language = request
            .params
            .iter()
            .any(|(name, value)| *name == "language" && value == self.default_language.as_str());
        if matches!(request.kind, Kind::Movie) && default_language && self.feed_is_working() {
            ttl = ttl.max(self.ttl.details_with_feed);
        }
        let meta = cache::entry_meta(shape, &raw, now_ms, ttl);
        let later = LaterBody::default();
        let write = self.cache.keep(
            request.key,
            meta,
            raw.clone(),
            later.clone(),
            now_ms,
            urgent,
        );
        (Ok((shape, raw, meta, later)), Some(write))
    }

    /// A request answered from a negative entry: 404, counted apart, TMDB not asked.
    pub(super) fn negative_hit(&self, ns: &'static str) -> ApiError {
        Counters::incr(&self.counters.negative_hits);
        crate::measure::cache_outcome(ns, "NEGATIVE");
        self.history
            .add(ns, self.clock.now_ms(), super::history::Event::Negative);
        no_such_movie()
    }

    /// Starts a coalesced fetch nobody waits for (revalidation, prefetch).
    fn refresh_in_background(&self, mut request: Request, counter: &std::sync::atomic::AtomicU64) {
        if self.flights.is_running(request.key.as_str()) {
            return;
        }
        request.requester = Requester::Background;
        Counters::incr(counter);
        let service = self.clone();
        tokio::spawn(async move {
            let key = request.key.clone();
            if let (Err(error), _) = service.coalesced_fetch(request).await {
                tracing::debug!(%key, %error, "background refresh failed");
            }
        });
    }

    /// After a miss on page N of a list, fetch page N+1 in the background so paging forward is a
    /// hit, and page N-1 too when the client jumped into the middle of the list (page N-1 is not
    /// stored), so paging back is one; each unless it is already stored, the list ends, or the
    /// upstream budget is busy (prefetch never competes with client misses).
    pub(super) fn prefetch_after(
        &self,
        served: &Served,
        page: Page,
        request_at: impl Fn(Page) -> Request,
    ) {
        if !self.resilience.prefetch || served.outcome != CacheOutcome::Miss {
            return;
        }
        let Some(Shape::List(list)) = served.document.shape() else {
            return;
        };
        let last = list.total_pages.min(MAX_PAGE);
        let next = Page::new(page.get() + 1).filter(|n| n.get() <= last);
        let previous = Page::new(page.get().saturating_sub(1));
        for (neighbour, backwards) in [(next, false), (previous, true)] {
            let Some(neighbour) = neighbour else {
                continue;
            };
            if self.tmdb.budget().is_busy() {
                tracing::debug!("upstream busy: no prefetch");
                return;
            }
            let request = request_at(neighbour);
            let service = self.clone();
            tokio::spawn(async move {
                let now_ms = service.clock.now_ms();
                if let Lookup::Fresh(_) | Lookup::Missing { .. } =
                    service.cache.get(&request.key, now_ms).await
                {
                    return;
                }
                let counters = std::sync::Arc::clone(&service.counters);
                let counter = match backwards {
                    false => &counters.prefetches,
                    true => &counters.prefetches_previous,
                };
                service.refresh_in_background(request, counter);
            });
        }
    }

    /// Search and popular: asked of TMDB every time, never answered from cache while TMDB
    /// answers. Each good answer is stored as the fallback for when it does not. Identical
    /// requests (same path and parameters: query, page, language, region) in flight at once
    /// share one call, whose answer each of them gets.
    pub(super) async fn bypass(&self, request: Request) -> Result<Served, ApiError> {
        Counters::incr(&self.counters.bypasses);
        let ns = request.key.namespace_label();
        self.record_outcome(ns, CacheOutcome::Bypass);
        let flight_key = {
            let mut key = request.path.clone();
            for (name, value) in &request.params {
                key.push_str(if key.contains('?') { "&" } else { "?" });
                key.extend(form_urlencoded::byte_serialize(name.as_bytes()));
                key.push('=');
                key.extend(form_urlencoded::byte_serialize(value.as_bytes()));
            }
            key
        };
        // Each good answer is kept as the fallback once it is answered, by a write of its own:
        // the call's flight ends with the answer, so the next identical request asks TMDB again.
        let call = |fetch: Request| {
            let service = self.clone();
            self.bypasses.run(&flight_key, async move {
                let (shape, raw) = service
                    .fetch(fetch.kind, &fetch.path, &fetch.params, fetch.requester)
                    .await?;
                let now_ms = service.clock.now_ms();
                let meta = cache::entry_meta(shape, &raw, now_ms, fetch.ttl);
                let later = LaterBody::default();
                // `settle` (and so a graceful stop) waits for it.
                let write = service
                    .cache
                    .keep(fetch.key, meta, raw.clone(), later, now_ms, false);
                tokio::spawn(write);
                Ok((shape, raw))
            })
        };
        let (mut result, joined) = call(request.clone()).await;
        if joined {
            Counters::incr(&self.counters.coalesced);
            // Joined a call refused for another client's share: once more, on this one's.
            if let Err(ApiError::ClientShareUsed { .. }) = result {
                result = call(request.clone()).await.0;
            }
        }
        match result {
            Ok((shape, raw)) => {
                let now_ms = self.clock.now_ms();
                let document = Document::Fetched { shape, raw };
                let mut served = Served::new(document, CacheOutcome::Bypass, None, now_ms);
                served.collapsed = joined;
                Ok(served)
            }
            Err(error) if stale_can_answer(&error) => {
                let now_ms = self.clock.now_ms();
                match self.last_good(&request.key, now_ms).await {
                    Some(entry) => {
                        tracing::warn!(key = %request.key, %error, "TMDB failed; serving the last good answer");
                        Ok(self
                            .serve_entry(ns, entry, CacheOutcome::Stale, now_ms)
                            .because(StaleReason::UpstreamError))
                    }
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// A stored answer still within expiry + stale grace.
    async fn last_good(&self, key: &CacheKey, now_ms: u64) -> Option<CachedEntry> {
        let grace = self.resilience.stale_grace.as_millis() as u64;
        match self.cache.get(key, now_ms).await {
            Lookup::Fresh(entry) => Some(entry),
            Lookup::Expired(entry) if now_ms < entry.meta.expires_at_ms.saturating_add(grace) => {
                Some(entry)
            }
            _ => None,
        }
    }

    /// One TMDB call, validated: a body that is not the expected JSON is an upstream error.
    async fn fetch(
        &self,
        kind: Kind,
        path: &str,
        params: &[(&'static str, String)],
        who: Requester,
    ) -> Result<(Shape, Bytes), ApiError> {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = match self.tmdb.get(path, &params, who).await {
            Ok(body) => body,
            Err(TmdbError::NotFound) if matches!(kind, Kind::GlobalList) => {
                return Err(ApiError::Upstream(
                    "TMDB answered 404 for a list that always exists".to_owned(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let parsed = match kind {
            Kind::GlobalList | Kind::MovieList => {
                tmdb::parse_list(&body).map(|list| (Shape::List(list.meta), list.results))
            }
            Kind::Movie => tmdb::parse_object(&body).map(|raw| (Shape::Object, raw)),
        };
        parsed.map_err(|e| {
            Counters::incr(&self.counters.upstream_errors);
            tracing::warn!(path, error = %e, "TMDB body refused; nothing stored");
            ApiError::from(e)
        })
    }
}
