//! The operators' doors: the local control socket and what `/metrics` exposes.

/// The local control socket of a running server.
pub mod admin_socket;
/// The `/metrics` text.
pub mod metrics;
/// CPU, memory and file descriptors of the process, for `/metrics`.
pub mod process_metrics;
