//! A local control socket, `<data dir>/admin.sock` (mode 0600): while a server holds the data
//! directory, `reelcache cache stats|clear` are carried out by that server through it, so they are
//! safe to run at any time. One JSON request line in, one JSON answer line out.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::error::ApiError;
use crate::service::state::AppState;

pub const FILE_NAME: &str = "admin.sock";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    Stats,
    Clear {
        namespace: Option<String>,
        key: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub error: Option<String>,
    /// The error was the request's (a bad namespace or key), not the server's: the command
    /// exits 2, not 1.
    #[serde(default)]
    pub client_error: bool,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

async fn answer(state: &AppState, request: Request) -> Answer {
    let result: Result<Value, ApiError> = match request {
        Request::Stats => crate::service::cache_admin::stats(state).await,
        Request::Clear { namespace, key } => {
            crate::service::cache_admin::clear(state, namespace.as_deref(), key.as_deref())
                .await
                .map(|c| serde_json::to_value(c).expect("serialises"))
        }
    };
    match result {
        Ok(data) => Answer {
            ok: true,
            data,
            error: None,
            client_error: false,
        },
        Err(e) => Answer {
            ok: false,
            data: Value::Null,
            client_error: e.status().is_client_error(),
            error: Some(e.to_string()),
        },
    }
}

async fn serve_one(state: &AppState, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => answer(state, request).await,
        Err(e) => Answer {
            ok: false,
            data: Value::Null,
            error: Some(format!("bad request: {e}")),
            client_error: true,
        },
    };
    let mut bytes = serde_json::to_vec(&reply).expect("serialises");
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// Serves the socket until `stop` resolves, then removes it.
pub async fn serve(
    data_dir: PathBuf,
    state: AppState,
    stop: impl std::future::Future<Output = ()>,
) {
    let path = path(&data_dir);
    // A socket left by a killed server: we hold the data directory's lock, so it is stale.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "admin socket unavailable; `reelcache cache` commands will need the server stopped");
            return;
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted
                    && let Err(e) = serve_one(&state, stream).await
                {
                    tracing::debug!(error = %e, "admin socket connection failed");
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Sends one request to the server running on `data_dir`.
pub async fn send(data_dir: &Path, request: &Request) -> Result<Answer, String> {
    let path = path(data_dir);
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|e| format!("cannot reach the running server at {}: {e}", path.display()))?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).expect("serialises");
    line.push(b'\n');
    write.write_all(&line).await.map_err(|e| e.to_string())?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&answer).map_err(|e| format!("unreadable answer from the server: {e}"))
}
