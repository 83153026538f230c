//! Upstream host failover: `TMDB_BASE_URL` may list several base URLs that serve the same API
//! (TMDB answers identically at `https://api.themoviedb.org/3` and `https://api.tmdb.org/3`).
//! Requests go to the first host not marked down; a connection failure or a timeout on a host
//! marks it down for `FAILOVER_FOR`, so traffic moves to the next one for a while and comes back
//! by itself. HTTP answers (even errors) never mark a host down: they are the API's word, and
//! the same on every host. When every host is down, the one that comes back first is used.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long a host that failed to connect or answer is passed over.
pub const FAILOVER_FOR: Duration = Duration::from_secs(30);

pub struct Hosts {
    urls: Box<[String]>,
    /// Per host: passed over until then.
    down_until: Mutex<Box<[Option<Instant>]>>,
}

impl Hosts {
    /// `urls`: at least one base URL, in order of preference.
    pub fn new(urls: &[String]) -> Hosts {
        assert!(!urls.is_empty(), "at least one TMDB base URL");
        Hosts {
            urls: urls.into(),
            down_until: Mutex::new(vec![None; urls.len()].into()),
        }
    }

    /// The host to ask now: its index and base URL.
    pub fn pick(&self) -> (usize, &str) {
        let now = Instant::now();
        let down = crate::sync::lock(&self.down_until);
        let index = down
            .iter()
            .position(|until| until.is_none_or(|until| until <= now))
            .or_else(|| {
                down.iter()
                    .enumerate()
                    .min_by_key(|(_, until)| *until)
                    .map(|(i, _)| i)
            })
            .unwrap_or(0);
        (index, &self.urls[index])
    }

    /// The host at `index` could not be reached or did not answer in time.
    pub fn failed(&self, index: usize) {
        if self.urls.len() < 2 {
            return;
        }
        let until = Instant::now() + FAILOVER_FOR;
        let newly = {
            let mut down = crate::sync::lock(&self.down_until);
            let was_up = down[index].is_none_or(|old| old <= Instant::now());
            down[index] = Some(until);
            was_up
        };
        if newly {
            let (_, next) = self.pick();
            tracing::warn!(
                failed = %self.urls[index],
                now_using = %next,
                for_s = FAILOVER_FOR.as_secs(),
                "TMDB host unreachable; moving to the next"
            );
        }
    }

    /// The host in use now (for `/health/`).
    pub fn in_use(&self) -> &str {
        self.pick().1
    }

    /// Every host, in order of preference.
    pub fn all(&self) -> &[String] {
        &self.urls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_host_is_passed_over_for_a_while_then_tried_again() {
        let hosts = Hosts::new(&["https://a/3".to_owned(), "https://b/3".to_owned()]);
        assert_eq!(hosts.pick(), (0, "https://a/3"));
        hosts.failed(0);
        assert_eq!(hosts.pick(), (1, "https://b/3"));
        hosts.failed(1);
        assert_eq!(hosts.pick().0, 0, "all down: the one back first");
        tokio::time::advance(FAILOVER_FOR + Duration::from_millis(1)).await;
        assert_eq!(
            hosts.pick(),
            (0, "https://a/3"),
            "the first host back in use"
        );
    }

    #[test]
    fn one_host_is_always_used() {
        let hosts = Hosts::new(&["https://a/3".to_owned()]);
        hosts.failed(0);
        assert_eq!(hosts.pick(), (0, "https://a/3"));
    }
}
