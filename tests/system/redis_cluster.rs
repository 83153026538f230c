//! A real Redis Cluster for the tests: six `redis-server --cluster-enabled yes` processes on free
//! loopback ports (each with its cluster bus port given, so any free port works), joined with
//! `redis-cli --cluster create ... --cluster-replicas 1` into three primaries with a replica
//! each, a one-second node timeout so a failover takes a few seconds, a password on every node.
//! Killed by PID on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::PASSWORD;

pub struct RedisCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// Whether `redis-cli` (which creates the cluster) is installed beside `redis-server`.
pub fn cli_installed() -> bool {
    Command::new("redis-cli")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn deadline(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisCluster {
    /// Three primaries and three replicas, every slot covered and every replica in sync.
    pub fn start() -> RedisCluster {
        assert!(
            crate::redis_server::installed() && cli_installed(),
            "redis-server and redis-cli are not installed, and under CI=true the Redis Cluster \
             tests must run (apt-get install redis-server)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let mut nodes = Vec::new();
        // Twelve different ports (a free port asked for twice in a row can come back twice).
        let mut ports = std::collections::BTreeSet::new();
        while ports.len() < 12 {
            ports.insert(crate::helpers::free_port());
        }
        let ports: Vec<u16> = ports.into_iter().collect();
        for pair in ports.chunks(2) {
            let (port, bus) = (pair[0], pair[1]);
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--requirepass", PASSWORD, "--masterauth", PASSWORD])
                .args(["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        let cluster = RedisCluster { nodes, _dir: dir };
        for node in &cluster.nodes {
            deadline("a cluster node to answer", Duration::from_secs(10), || {
                cluster.cli(node.port, &["PING"]).as_deref() == Some("PONG")
            });
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .env("REDISCLI_AUTH", PASSWORD)
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_healthy(Duration::from_secs(30));
        cluster
    }

    /// `redis-cli -p PORT ARGS...`'s answer, trimmed (`None` when it could not run or connect).
    fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .env("REDISCLI_AUTH", PASSWORD)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .replace('\r', "")
                .trim()
                .to_owned()
        })
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// Every running node says the cluster is ok, and every running replica is in sync.
    fn wait_healthy(&self, within: Duration) {
        deadline("the cluster to be ok and in sync", within, || {
            self.running().all(|node| {
                let ok = self
                    .cli(node.port, &["CLUSTER", "INFO"])
                    .is_some_and(|i| i.lines().any(|l| l == "cluster_state:ok"));
                let replication = self
                    .cli(node.port, &["INFO", "replication"])
                    .unwrap_or_default();
                let synced = !replication.lines().any(|l| l == "role:slave")
                    || replication.lines().any(|l| l == "master_link_status:up");
                ok && synced
            })
        });
    }

    /// `redis+cluster://` with three seed nodes (any one would do).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes[..3]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://:{PASSWORD}@{}", seeds.join(","))
    }

    /// The ports of the running primaries.
    pub fn primaries(&self) -> Vec<u16> {
        self.running()
            .filter(|n| {
                self.cli(n.port, &["ROLE"])
                    .is_some_and(|role| role.lines().next() == Some("master"))
            })
            .map(|n| n.port)
            .collect()
    }

    /// SIGKILLs one primary that holds slots, then waits (bounded) until its replica has taken
    /// over and the cluster is ok again; returns how long that took.
    pub fn kill_a_primary(&mut self) -> Duration {
        let victim = self.primaries()[0];
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == victim)
            .expect("the primary is a node");
        let mut child = node.child.take().expect("running");
        let started = Instant::now();
        let _ = child.kill();
        let _ = child.wait();
        let survivor = self.running().next().expect("a survivor").port;
        deadline(
            "the replica to be promoted",
            Duration::from_secs(30),
            || {
                self.cli(survivor, &["CLUSTER", "NODES"])
                    .is_some_and(|nodes| {
                        // Three primaries that answer, none of them the victim.
                        nodes
                            .lines()
                            .filter(|l| l.contains("master") && !l.contains("fail"))
                            .count()
                            == 3
                    })
            },
        );
        self.wait_healthy(Duration::from_secs(30));
        started.elapsed()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
