//! `reelcache snapshot export|import`.

use super::*;

/// `reelcache snapshot export FILE`.
pub async fn run_export(
    settings: &Settings,
    file: &Path,
    namespaces: &[String],
    description: &str,
) -> Result<(), CommandError> {
    let header = SnapshotHeader {
        created_at_ms: Clock::system().now_ms(),
        producer: concat!("reelcache ", env!("CARGO_PKG_VERSION")).to_owned(),
        description: description.to_owned(),
    };
    export_with(settings, Clock::system(), file, namespaces, header).await
}

pub(super) async fn export_with(
    settings: &Settings,
    clock: Clock,
    file: &Path,
    namespaces: &[String],
    header: SnapshotHeader,
) -> Result<(), CommandError> {
    if let Some(unknown) = namespaces.iter().find(|ns| {
        !crate::cache::key::SNAPSHOT_NAMESPACES.contains(&ns.as_str()) && *ns != snapshot::IMAGES
    }) {
        return Err(CommandError::usage(format!(
            "unknown namespace '{unknown}' (snapshots hold: {}, {})",
            crate::cache::key::SNAPSHOT_NAMESPACES.join(", "),
            snapshot::IMAGES
        )));
    }
    let opened = open(settings, clock).await?;
    let cache = opened.state.cache.clone();
    let images = opened.state.images.store().clone();
    let (file_owned, namespaces) = (file.to_owned(), namespaces.to_vec());
    let estimate = cache.usage().stored_bytes() + images.stats().bytes;
    let result = with_progress("export", estimate, move |progress| {
        snapshot::export(
            &cache,
            Some(&images),
            &file_owned,
            &namespaces,
            &header,
            progress,
        )
    })
    .await?;
    close(opened).await;
    let summary = result.map_err(|e| CommandError::runtime(e.to_string()))?;
    eprintln!(
        "exported {} entries ({} bytes) to {}: {}",
        summary.entries,
        summary.bytes,
        file.display(),
        describe_namespaces(&summary.namespaces)
    );
    Ok(())
}

/// Runs blocking snapshot work off the async threads, showing bytes done out of `total`.
pub(super) async fn with_progress<T: Send + 'static>(
    label: &'static str,
    total: u64,
    work: impl FnOnce(&mut dyn FnMut(u64)) -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(move || {
        let progress = Progress::new(label);
        progress.add_total(total);
        let result = work(&mut |bytes| progress.set_position(bytes, || "bytes".to_owned()));
        progress.finish();
        result
    })
    .await
    .map_err(|e| CommandError::runtime(e.to_string()))
}

fn describe_namespaces(namespaces: &std::collections::BTreeMap<String, u64>) -> String {
    namespaces
        .iter()
        .map(|(ns, n)| format!("{ns} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `reelcache snapshot import FILE`: nothing changes unless the whole file checks out.
pub async fn run_import(settings: &Settings, file: &Path) -> Result<(), CommandError> {
    let opened = open(settings, Clock::system()).await?;
    let cache = opened.state.cache.clone();
    let images = opened.state.images.store().clone();
    let file_owned = file.to_owned();
    let total = snapshot::file_len(file);
    let result = with_progress("import", total, move |progress| {
        snapshot::import(&cache, Some(&images), &file_owned, progress)
    })
    .await?;
    close_after_bulk_write(opened, settings).await;
    let (header, summary) = result.map_err(|e| match e {
        // Verified, then the store failed while loading it (a full disk, say): some batches
        // may be in. Say so rather than claim nothing changed.
        snapshot::SnapshotError::Store(_) => CommandError::runtime(format!(
            "{} was only partly imported (the file checked out, then the cache store failed; \
             run the import again once it can write): {e}",
            file.display()
        )),
        e => CommandError::runtime(format!(
            "{} was not imported, the cache is unchanged: {e}",
            file.display()
        )),
    })?;
    eprintln!(
        "imported {} entries from {} (written by {}{}): {}",
        summary.entries,
        file.display(),
        header.producer,
        if header.description.is_empty() {
            String::new()
        } else {
            format!("; {}", header.description)
        },
        describe_namespaces(&summary.namespaces)
    );
    Ok(())
}
