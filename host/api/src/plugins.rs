//! `/api/plugins` (admin only): list, install by upload (a component and its
//! manifest), get, replace grants, enable, disable, remove — each change
//! recorded in the audit log with who made it. `/api/tools` lists the
//! tools agents can use.

use super::AppState;
use super::audit::{Act, record};
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use paddock_plugins::{Capability, InstallSource, PluginInfo, ToolInfo};
use serde::Deserialize;
use utoipa::ToSchema;

/// Longest capability string accepted.
const MAX_CAPABILITY: usize = 4096;

/// Largest component upload.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// List installed plugins with requested, granted and effective
/// capabilities and hashes.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", operation_id = "list_plugins", security(("admin" = [])),
    responses((status = 200, body = Vec<paddock_plugins::PluginInfo>), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<PluginInfo>>, ApiError> {
    Ok(Json(state.plugins.list()?))
}

/// One plugin.
#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins", operation_id = "get_plugin",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 200, body = paddock_plugins::PluginInfo), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(state.plugins.get(&name)?))
}

/// Install (or upgrade) a plugin: `multipart/form-data` with a `manifest`
/// part (the `paddock-plugin.toml` text) and a `component` part (the
/// `.wasm`). Nothing is granted that was not granted before.
#[utoipa::path(post, path = "/api/plugins", tag = "plugins", operation_id = "install_plugin", security(("admin" = [])),
    request_body(content_type = "multipart/form-data", content = PluginUpload, description = "parts `manifest` (TOML) and `component` (wasm)"),
    responses((status = 201, body = paddock_plugins::PluginInfo), (status = 400, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody)))]
pub async fn install(
    State(state): State<AppState>,
    caller: Caller,
    Upload(mut multipart): Upload,
) -> Result<(StatusCode, Json<PluginInfo>), ApiError> {
    let mut manifest: Option<Vec<u8>> = None;
    let mut component: Option<Vec<u8>> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        match name.as_str() {
            "manifest" => manifest = Some(bytes.to_vec()),
            "component" => component = Some(bytes.to_vec()),
            other => {
                return Err(ApiError::invalid(format!(
                    "unexpected part `{other}`: send `manifest` and `component`"
                )));
            }
        }
    }
    let manifest = manifest.ok_or_else(|| ApiError::invalid("manifest: part missing"))?;
    let component = component.ok_or_else(|| ApiError::invalid("component: part missing"))?;
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal("cannot stage the upload", &e))?;
    let manifest_path = dir.path().join("paddock-plugin.toml");
    let component_path = dir.path().join("component.wasm");
    std::fs::write(&manifest_path, &manifest)
        .and_then(|_| std::fs::write(&component_path, &component))
        .map_err(|e| ApiError::internal("cannot stage the upload", &e))?;
    let info = state
        .plugins
        .install(&InstallSource {
            path: component_path,
            manifest: Some(manifest_path),
        })
        .await?;
    tracing::info!(plugin = %info.record.name, "plugin installed through the API");
    audit_plugin(&state, &caller, "installed", &info).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Records a change to a plugin (`action`) in the audit log.
async fn audit_plugin(
    state: &AppState,
    caller: &Caller,
    action: &str,
    info: &PluginInfo,
) -> Result<(), ApiError> {
    let r = &info.record;
    record(
        state,
        caller,
        Act {
            agent_id: "",
            kind: "plugin",
            action,
            reason: format!("plugin `{}` {} {action}", r.name, r.version),
            detail: serde_json::json!({
                "name": r.name,
                "version": r.version,
                "sha256": r.sha256,
                "enabled": r.enabled,
                "granted": r.granted.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        },
    )
    .await
}

/// The parts of a plugin upload (`POST /api/plugins`), as the document
/// shows them; [`Upload`] reads them.
#[derive(ToSchema)]
pub struct PluginUpload {
    /// The `paddock-plugin.toml` text.
    pub manifest: String,
    /// The component (`.wasm`).
    #[schema(value_type = String, format = Binary)]
    pub component: Vec<u8>,
}

/// A `multipart/form-data` body: another content type is a 415, a missing
/// or broken boundary a 400, both in the API's error shape.
pub struct Upload(pub Multipart);

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !multipart {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the plugin as `multipart/form-data` with parts `manifest` and `component`",
            ));
        }
        Multipart::from_request(req, state)
            .await
            .map(Upload)
            .map_err(|e| ApiError::invalid(format!("invalid multipart body: {}", e.body_text())))
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the upload is over the limit of {} MiB", MAX_UPLOAD >> 20),
        )
    } else {
        ApiError::invalid(format!("invalid multipart body: {}", e.body_text()))
    }
}

/// `PUT /api/plugins/{name}/grants`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// The full set of granted capabilities: `fs:/workspace:ro|rw`,
    /// `fs:/host/dir:ro|rw`, `net:HOST:PORT`, `env:NAME`, `exec`.
    pub grants: Vec<String>,
}

/// Replace a plugin's grants.
#[utoipa::path(put, path = "/api/plugins/{name}/grants", tag = "plugins", operation_id = "put_plugin_grants",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])), request_body = Grants,
    responses((status = 200, body = paddock_plugins::PluginInfo), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn put_grants(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<Grants>,
) -> Result<Json<PluginInfo>, ApiError> {
    let caps = req
        .grants
        .iter()
        .enumerate()
        .map(|(i, g)| {
            // A capability is short; do not echo a huge one back.
            if g.len() > MAX_CAPABILITY {
                return Err(ApiError::invalid(format!(
                    "grants[{i}]: longer than {MAX_CAPABILITY} bytes"
                )));
            }
            g.parse::<Capability>()
                .map_err(|e| ApiError::invalid(format!("grants[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let info = state.plugins.set_grants(&name, &caps)?;
    tracing::info!(plugin = %name, grants = ?req.grants, "plugin grants replaced through the API");
    audit_plugin(&state, &caller, "granted", &info).await?;
    Ok(Json(info))
}

/// Offer the plugin's tools again.
#[utoipa::path(post, path = "/api/plugins/{name}/enable", tag = "plugins", operation_id = "enable_plugin",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 200, body = paddock_plugins::PluginInfo), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let info = state.plugins.set_enabled(&name, true)?;
    audit_plugin(&state, &caller, "enabled", &info).await?;
    Ok(Json(info))
}

/// Stop offering the plugin's tools.
#[utoipa::path(post, path = "/api/plugins/{name}/disable", tag = "plugins", operation_id = "disable_plugin",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 200, body = paddock_plugins::PluginInfo), (status = 404, body = super::error::ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let info = state.plugins.set_enabled(&name, false)?;
    audit_plugin(&state, &caller, "disabled", &info).await?;
    Ok(Json(info))
}

/// Uninstall a plugin.
#[utoipa::path(delete, path = "/api/plugins/{name}", tag = "plugins", operation_id = "remove_plugin",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let info = state.plugins.get(&name)?;
    state.plugins.remove(&name)?;
    audit_plugin(&state, &caller, "removed", &info).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tools of every enabled plugin, with their JSON Schemas.
#[utoipa::path(get, path = "/api/tools", tag = "plugins", operation_id = "list_tools",
    responses((status = 200, body = Vec<paddock_plugins::ToolInfo>)))]
pub async fn tools(State(state): State<AppState>) -> Result<Json<Vec<ToolInfo>>, ApiError> {
    Ok(Json(state.plugins.tools()?))
}

/// Maps an OCI failure to its status: a refused artifact (unsigned, wrongly
/// signed, tampered) is a 422, an unreachable registry a 502.
fn oci_error(e: paddock_oci::OciError) -> ApiError {
    use paddock_oci::OciError as E;
    match e {
        E::Plugin(p) => p.into(),
        E::Reference(_) | E::Invalid(_) => ApiError::invalid(e.to_string()),
        E::NotFound(_) => ApiError::not_found(e.to_string()),
        E::Unsigned(_)
        | E::UntrustedKey(_)
        | E::BadSignature(_)
        | E::DigestMismatch { .. }
        | E::TooLarge { .. }
        | E::Layout { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string())
        }
        E::Registry { .. } | E::Status { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "registry_failed", e.to_string())
        }
        E::Key(_) | E::Settings { .. } | E::Io { .. } => {
            ApiError::internal("the OCI settings or staged updates failed", &e)
        }
    }
}

/// `POST /api/oci/install`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryInstall {
    /// `oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:…`.
    pub reference: String,
    /// Accept an artifact without a signature (a signature that is present
    /// must still verify against a trusted key).
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// Install (or upgrade) a plugin from an OCI registry: every blob is
/// checked against its digest, the signature against the trusted keys,
/// and the manifest digest is pinned in the plugin's `origin`.
#[utoipa::path(post, path = "/api/oci/install", tag = "plugins", operation_id = "install_plugin_from_registry", security(("admin" = [])),
    request_body = RegistryInstall,
    responses((status = 201, body = paddock_plugins::PluginInfo), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody), (status = 502, body = super::error::ErrorBody)))]
pub async fn install_oci(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RegistryInstall>,
) -> Result<(StatusCode, Json<PluginInfo>), ApiError> {
    if req.reference.len() > 1024 {
        return Err(ApiError::invalid("reference: longer than 1024 bytes"));
    }
    let reference = paddock_oci::Reference::parse(&req.reference)
        .map_err(|e| ApiError::invalid(format!("reference: {e}")))?;
    let info = paddock_oci::Oci::new(&state.plugins)
        .install(&reference, req.allow_unsigned)
        .await
        .map_err(oci_error)?;
    audit_plugin(&state, &caller, "installed", &info).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// The registry settings as admins see them.
#[utoipa::path(get, path = "/api/oci/settings", tag = "plugins", operation_id = "get_registry_settings", security(("admin" = [])),
    responses((status = 200, body = paddock_oci::OciSettings)))]
pub async fn oci_settings(
    State(state): State<AppState>,
) -> Result<Json<paddock_oci::OciSettings>, ApiError> {
    Ok(Json(
        paddock_oci::SettingsFile::new(state.plugins.data_dir())
            .read()
            .map_err(oci_error)?,
    ))
}

/// Every update waiting for an admin.
#[utoipa::path(get, path = "/api/oci/updates", tag = "plugins", operation_id = "list_plugin_updates", security(("admin" = [])),
    responses((status = 200, body = Vec<paddock_oci::PendingUpdate>)))]
pub async fn list_updates(
    State(state): State<AppState>,
) -> Result<Json<Vec<paddock_oci::PendingUpdate>>, ApiError> {
    Ok(Json(
        paddock_oci::Oci::new(&state.plugins)
            .list_pending()
            .map_err(oci_error)?,
    ))
}

/// `POST /api/plugins/{name}/update`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCheck {
    /// Accept an unsigned artifact.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// Pull a registry-installed plugin's reference again: a version that
/// requests nothing new is applied (grants kept); one that requests new
/// capabilities is staged (`pending`) until an admin accepts it.
#[utoipa::path(post, path = "/api/plugins/{name}/update", tag = "plugins", operation_id = "update_plugin",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])), request_body = UpdateCheck,
    responses((status = 200, body = paddock_oci::UpdateOutcome), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody), (status = 502, body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateCheck>,
) -> Result<Json<paddock_oci::UpdateOutcome>, ApiError> {
    let outcome = paddock_oci::Oci::new(&state.plugins)
        .update(&name, req.allow_unsigned)
        .await
        .map_err(oci_error)?;
    if let paddock_oci::UpdateOutcome::Applied { plugin } = &outcome {
        audit_plugin(&state, &caller, "updated", plugin).await?;
    }
    Ok(Json(outcome))
}

/// The update waiting for an admin, with its capability diff.
#[utoipa::path(get, path = "/api/plugins/{name}/update", tag = "plugins", operation_id = "get_plugin_update",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 200, body = paddock_oci::PendingUpdate), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_update(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<paddock_oci::PendingUpdate>, ApiError> {
    state.plugins.get(&name)?;
    paddock_oci::Oci::new(&state.plugins)
        .pending(&name)
        .map_err(oci_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("plugin `{name}` has no update waiting")))
}

/// Accept the waiting update: the new version replaces the old, grants
/// are kept, and the new requests stay ungranted until granted.
#[utoipa::path(post, path = "/api/plugins/{name}/update/accept", tag = "plugins", operation_id = "accept_plugin_update",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 200, body = paddock_plugins::PluginInfo), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn accept_update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    state.plugins.get(&name)?;
    let oci = paddock_oci::Oci::new(&state.plugins);
    if oci.pending(&name).map_err(oci_error)?.is_none() {
        return Err(ApiError::not_found(format!(
            "plugin `{name}` has no update waiting"
        )));
    }
    let info = oci.accept(&name).await.map_err(oci_error)?;
    audit_plugin(&state, &caller, "updated", &info).await?;
    Ok(Json(info))
}

/// Reject (drop) the waiting update.
#[utoipa::path(delete, path = "/api/plugins/{name}/update", tag = "plugins", operation_id = "reject_plugin_update",
    params(("name" = String, Path, description = "The plugin's name.")), security(("admin" = [])),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn reject_update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let info = state.plugins.get(&name)?;
    let oci = paddock_oci::Oci::new(&state.plugins);
    if oci.pending(&name).map_err(oci_error)?.is_none() {
        return Err(ApiError::not_found(format!(
            "plugin `{name}` has no update waiting"
        )));
    }
    oci.reject(&name).map_err(oci_error)?;
    audit_plugin(&state, &caller, "update rejected", &info).await?;
    Ok(StatusCode::NO_CONTENT)
}
