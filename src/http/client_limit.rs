//! The per-client limit as a warp filter (the limiter itself is `service::client_limit`).

use std::net::IpAddr;

use warp::Filter;

use crate::service::client_limit::ClientLimiter;

/// The client went over its request rate: the rejection the envelope is made from.
#[derive(Debug)]
pub struct ClientRateLimited {
    pub retry_after: u64,
}
impl warp::reject::Reject for ClientRateLimited {}

/// Passes requests under the client's limit; rejects the others with `ClientRateLimited`.
pub fn filter(
    limiter: &ClientLimiter,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone + use<> {
    let limiter = limiter.clone();
    super::filters::client_addr()
        .and_then(move |client: Option<IpAddr>| {
            let limiter = limiter.clone();
            async move {
                limiter.check(client).map_err(|limited| {
                    warp::reject::custom(ClientRateLimited {
                        retry_after: limited.retry_after,
                    })
                })
            }
        })
        .untuple_one()
}
