//! Node images: built locally from an in-memory context, never pulled.

use super::*;

/// One file of an in-memory build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Path inside the context, relative, e.g. `Dockerfile` or `bin/seglab-node`.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Unix permission bits, e.g. `0o755` for executables.
    pub mode: u32,
}

/// Content hash of a build context: sha256 over every file's path, mode and
/// bytes, in path order, as lowercase hex. The same files always give the same
/// hash, whatever their order in the slice.
pub fn context_hash(files: &[ContextFile]) -> String {
    let mut sorted: Vec<&ContextFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for f in sorted {
        h.update((f.path.len() as u64).to_le_bytes());
        h.update(f.path.as_bytes());
        h.update(f.mode.to_le_bytes());
        h.update((f.bytes.len() as u64).to_le_bytes());
        h.update(&f.bytes);
    }
    hex::encode(h.finalize())
}

/// Pack files into an uncompressed tar, deterministically (mtime 0, root).
pub(super) fn context_tar(files: &[ContextFile]) -> Result<Vec<u8>, RuntimeError> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(f.bytes.len() as u64);
        header.set_mode(f.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, &f.path, f.bytes.as_slice())
            .map_err(|source| RuntimeError::Context {
                path: f.path.clone(),
                source,
            })?;
    }
    builder
        .into_inner()
        .map_err(|source| RuntimeError::Context {
            path: "<archive>".into(),
            source,
        })
}

/// Split `repo[:tag]` (the repo may hold a registry port) into repo and tag.
pub(super) fn split_reference(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

impl Engine {
    /// Make sure an image built from exactly these files exists and carries
    /// `reference`, building it only when no image with the same content hash
    /// exists: repeated lab runs then cost nothing, and a changed binary always
    /// gets a fresh image. Nothing is pulled and nothing touches the disk
    /// outside the engine. Several processes may race here; a loser of the
    /// race still gets a usable image id.
    pub async fn ensure_image(
        &self,
        reference: &str,
        files: &[ContextFile],
        labels: &HashMap<String, String>,
    ) -> Result<String, RuntimeError> {
        let hash = context_hash(files);
        if let Some(id) = self.image_with_hash(&hash, reference).await? {
            tracing::debug!(reference, id, "image already present");
            return Ok(id);
        }
        let started = Instant::now();
        match self.build_image(reference, &hash, files, labels).await {
            Ok(id) => {
                tracing::info!(reference, id, elapsed = ?started.elapsed(), "built image");
                Ok(id)
            }
            Err(err) => {
                // A concurrent builder of the same content may have won.
                if let Ok(Some(id)) = self.image_with_hash(&hash, reference).await {
                    tracing::debug!(reference, %err, "build failed but another builder made it");
                    return Ok(id);
                }
                Err(err)
            }
        }
    }

    /// Id of an image with this content hash, tagging it `reference` if no
    /// image with the hash carries that tag yet.
    pub(super) async fn image_with_hash(
        &self,
        hash: &str,
        reference: &str,
    ) -> Result<Option<String>, RuntimeError> {
        let hash_label = format!("{IMAGE_HASH_LABEL}={hash}");
        let filters = HashMap::from([("label".to_string(), vec![hash_label])]);
        let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(|e| RuntimeError::api("listing images for", reference, e))?;
        if let Some(img) = images
            .iter()
            .find(|i| i.repo_tags.iter().any(|t| t == reference))
        {
            return Ok(Some(img.id.clone()));
        }
        // Prefer a tagged image (concurrent builds leave untagged twins).
        let tagged = |i: &ImageSummary| i.repo_tags.iter().any(|t| t != "<none>:<none>");
        let Some(img) = images.into_iter().max_by_key(|i| (tagged(i), i.created)) else {
            return Ok(None);
        };
        let (repo, tag) = split_reference(reference);
        let opts = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        match self.docker.tag_image(&img.id, Some(opts)).await {
            Ok(()) => Ok(Some(img.id)),
            // Removed meanwhile: build it again.
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(RuntimeError::api("tagging image", reference, e)),
        }
    }

    async fn build_image(
        &self,
        reference: &str,
        hash: &str,
        files: &[ContextFile],
        labels: &HashMap<String, String>,
    ) -> Result<String, RuntimeError> {
        let tar = context_tar(files)?;
        let mut all_labels = labels.clone();
        all_labels.insert(IMAGE_HASH_LABEL.to_string(), hash.to_string());
        let opts = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(reference)
            .rm(true)
            .forcerm(true)
            .labels(&all_labels)
            .build();
        let mut stream = self
            .docker
            .build_image(opts, None, Some(bollard::body_full(tar.into())));
        let mut output: Vec<String> = Vec::new();
        let mut built_id: Option<String> = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.stream {
                        output.extend(s.lines().map(str::to_string));
                    }
                    if let Some(s) = info.status {
                        output.push(s);
                    }
                    if let Some(id) = info.aux.and_then(|a| a.id) {
                        built_id = Some(id);
                    }
                }
                Err(e) => {
                    let message = match e {
                        BollardError::DockerStreamError { error } => error,
                        other => other.to_string(),
                    };
                    let skip = output.len().saturating_sub(BUILD_TAIL_LINES);
                    return Err(RuntimeError::Build {
                        reference: reference.to_string(),
                        message,
                        output: output[skip..].join("\n"),
                    });
                }
            }
        }
        if let Some(id) = built_id {
            return Ok(id);
        }
        let inspected =
            self.docker.inspect_image(reference).await.map_err(|e| {
                RuntimeError::from_bollard("inspecting image", "image", reference, e)
            })?;
        inspected.id.ok_or_else(|| RuntimeError::Build {
            reference: reference.to_string(),
            message: "the engine reported no image id".into(),
            output: output.join("\n"),
        })
    }

    /// Remove the images matching all label filters (every tag of them), so
    /// `seglab clean` can reclaim space; an image some container still uses is
    /// left alone without complaint. Returns how many images were deleted;
    /// with no filter at all, nothing is removed.
    pub async fn remove_images(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<usize, RuntimeError> {
        if label_filters.is_empty() {
            // Never every image on the engine.
            return Ok(0);
        }
        let filters = label_filter(label_filters);
        let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images =
            self.docker.list_images(Some(opts)).await.map_err(|e| {
                RuntimeError::api("listing images", describe_filters(label_filters), e)
            })?;
        let mut removed = 0;
        for img in images {
            // Removing by tag never forces; the last tag removed deletes the image.
            let mut names: Vec<String> = img
                .repo_tags
                .iter()
                .filter(|t| t.as_str() != "<none>:<none>")
                .cloned()
                .collect();
            if names.is_empty() {
                names.push(img.id.clone());
            }
            let mut deleted = false;
            for name in &names {
                let opts = RemoveImageOptionsBuilder::new().force(false).build();
                match self.docker.remove_image(name, Some(opts), None).await {
                    Ok(items) => deleted |= items.iter().any(|i| i.deleted.is_some()),
                    Err(e) if matches!(status_of(&e), Some(404 | 409)) => {
                        tracing::debug!(image = name, error = %e, "image kept");
                    }
                    Err(e) => return Err(RuntimeError::api("removing image", name.clone(), e)),
                }
            }
            if deleted {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
