//! The store's connection: one Redis server (redis-rs's `ConnectionManager`: one multiplexed,
//! reconnecting connection) or a Redis Cluster (redis-rs's async `ClusterConnection`, which
//! routes each command to the primary of its key's slot, follows `MOVED` redirects, and
//! refreshes the slot map by itself when a primary fails and its replica takes over). Both run
//! the same commands; the few that are not about one key (SCAN, INFO) go to every primary
//! (`scan.rs`, `info.rs`).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::cache::CacheError;
use crate::config::RedisUrl;

#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Builds the client without connecting (a Redis that is down at start-up only means a
    /// degraded cache until it answers). `timeout` bounds connecting and each reply.
    pub fn open(url: &RedisUrl, timeout: Duration) -> Result<Conn, CacheError> {
        // The driver's errors can quote the URL: never let them through.
        let unusable = |_| CacheError::Store(format!("{url} is not a usable Redis URL"));
        match url.cluster_seeds() {
            None => {
                let client = redis::Client::open(url.expose()).map_err(unusable)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    // One attempt per reconnection: the next command after a failure tries
                    // again, so a Redis that comes back is used at once, and no command waits
                    // on a long retry loop.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(100));
                let conn =
                    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
                        CacheError::Store(format!("cannot set up the Redis client: {e}"))
                    })?;
                Ok(Conn::Single(conn))
            }
            Some(seeds) => {
                let client = ClusterClientBuilder::new(seeds)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .overall_response_timeout(Some(timeout))
                    // Redirects and a topology change within the command's time: short waits
                    // (the client's defaults sleep over a second between tries).
                    .retries(3)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map_err(unusable)?;
                // Its `with_config` replaces the builder's timeouts: set them here too.
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Ok(Conn::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }

    /// `single` or `cluster`, for `/health/` and statistics.
    pub fn topology(&self) -> &'static str {
        match self {
            Conn::Single(_) => "single",
            Conn::Cluster(_) => "cluster",
        }
    }

    /// `cmd` sent to every primary: each primary's address and answer (one server: its answer
    /// under "").
    pub async fn on_primaries(&mut self, cmd: Cmd) -> RedisResult<Vec<(String, Value)>> {
        match self {
            Conn::Single(c) => Ok(vec![(String::new(), cmd.query_async(c).await?)]),
            Conn::Cluster(c) => {
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                match c.route_command(cmd, routing).await? {
                    Value::Map(pairs) => pairs
                        .into_iter()
                        .map(|(node, value)| Ok((redis::from_redis_value(node)?, value)))
                        .collect(),
                    other => Err(redis::RedisError::from((
                        redis::ErrorKind::UnexpectedReturnType,
                        "a command sent to every primary did not answer per node",
                        format!("{other:?}"),
                    ))),
                }
            }
        }
    }

    /// The primaries' addresses: `[""]` for one server (no round trip), every primary's
    /// address for a cluster (as its slot map has them).
    pub async fn primaries(&mut self) -> RedisResult<Vec<String>> {
        match self {
            Conn::Single(_) => Ok(vec![String::new()]),
            Conn::Cluster(_) => Ok(self
                .on_primaries(redis::cmd("PING"))
                .await?
                .into_iter()
                .map(|(node, _)| node)
                .collect()),
        }
    }

    /// `cmd` sent to the node at `node` (an address `on_primaries` gave; "" with one server).
    pub async fn on_node(&mut self, node: &str, cmd: Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => cmd.query_async(c).await,
            Conn::Cluster(c) => {
                let (host, port) = node
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host, port.parse().ok()?)))
                    .ok_or_else(|| {
                        redis::RedisError::from((
                            redis::ErrorKind::ClusterConnectionNotFound,
                            "not a node address",
                        ))
                    })?;
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_owned(),
                    port,
                });
                c.route_command(cmd, routing).await
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
