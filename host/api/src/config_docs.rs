//! `/api/config/agent-templates` and `/api/config/system-prompts`: named
//! documents kept in the store, with CRUD.

use super::AppState;
use super::agents::AgentTemplate;
use super::error::{ApiError, ApiJson, ApiPath, Fields};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_store::{Doc, DocKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Checks a document name: 1–64 of `A-Z a-z 0-9 . _ -`, starting with a
/// letter or digit.
fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = paddock_core::config::is_plain_name(name);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "name: `{name}` must be 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        )))
    }
}

/// A stored agent template.
#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    /// Its name.
    pub name: String,
    /// Its fields.
    #[serde(flatten)]
    pub template: AgentTemplate,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/config/agent-templates`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, try_from = "serde_json::Value")]
pub struct NewTemplate {
    /// Its name: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a
    /// letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// Its fields.
    #[serde(flatten)]
    pub template: AgentTemplate,
}

/// A stored system prompt.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemPrompt {
    /// The prompt.
    pub text: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A stored system prompt with its name.
#[derive(Serialize, ToSchema)]
pub struct SystemPromptView {
    /// Its name.
    pub name: String,
    /// Its fields.
    #[serde(flatten)]
    pub prompt: SystemPrompt,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/config/system-prompts`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, try_from = "serde_json::Value")]
pub struct NewSystemPrompt {
    /// Its name: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a
    /// letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// Its fields.
    #[serde(flatten)]
    pub prompt: SystemPrompt,
}

impl TryFrom<serde_json::Value> for NewTemplate {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<NewTemplate, String> {
        let mut f = Fields::try_from(v)?;
        Ok(NewTemplate {
            name: f.require("name")?,
            template: f.rest()?,
        })
    }
}

impl TryFrom<serde_json::Value> for NewSystemPrompt {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<NewSystemPrompt, String> {
        let mut f = Fields::try_from(v)?;
        Ok(NewSystemPrompt {
            name: f.require("name")?,
            prompt: f.rest()?,
        })
    }
}

fn template_view(doc: Doc) -> Result<TemplateView, ApiError> {
    let template = serde_json::from_value(doc.body)
        .map_err(|e| ApiError::internal("a stored template is not valid", &e))?;
    Ok(TemplateView {
        name: doc.name,
        template,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    })
}

fn prompt_view(doc: Doc) -> Result<SystemPromptView, ApiError> {
    let prompt = serde_json::from_value(doc.body)
        .map_err(|e| ApiError::internal("a stored system prompt is not valid", &e))?;
    Ok(SystemPromptView {
        name: doc.name,
        prompt,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    })
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal("cannot encode a document", &e))
}

async fn create_doc(
    state: &AppState,
    kind: DocKind,
    name: &str,
    body: serde_json::Value,
) -> Result<Doc, ApiError> {
    check_name(name)?;
    if state.store.get_doc(kind, name).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "`{name}` exists; use PUT to replace it"
        )));
    }
    Ok(state.store.put_doc(kind, name, &body).await?)
}

async fn get_doc(state: &AppState, kind: DocKind, name: &str) -> Result<Doc, ApiError> {
    state
        .store
        .get_doc(kind, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no document named `{name}`")))
}

async fn delete_doc(state: &AppState, kind: DocKind, name: &str) -> Result<StatusCode, ApiError> {
    if state.store.delete_doc(kind, name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no document named `{name}`")))
    }
}

/// List agent templates.
#[utoipa::path(get, path = "/api/config/agent-templates", tag = "config",
    responses((status = 200, body = Vec<TemplateView>)))]
pub async fn list_templates(
    State(state): State<AppState>,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    let docs = state.store.list_docs(DocKind::AgentTemplate).await?;
    Ok(Json(
        docs.into_iter()
            .map(template_view)
            .collect::<Result<_, _>>()?,
    ))
}

/// Create an agent template.
#[utoipa::path(post, path = "/api/config/agent-templates", tag = "config", request_body = NewTemplate,
    responses((status = 201, body = TemplateView), (status = 400, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewTemplate>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    req.template.check()?;
    let doc = create_doc(
        &state,
        DocKind::AgentTemplate,
        &req.name,
        to_json(&req.template)?,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(template_view(doc)?)))
}

/// One agent template.
#[utoipa::path(get, path = "/api/config/agent-templates/{name}", tag = "config",
    params(("name" = String, Path, description = "The template's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses((status = 200, body = TemplateView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_template(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TemplateView>, ApiError> {
    Ok(Json(template_view(
        get_doc(&state, DocKind::AgentTemplate, &name).await?,
    )?))
}

/// Create or replace an agent template.
#[utoipa::path(put, path = "/api/config/agent-templates/{name}", tag = "config",
    params(("name" = String, Path, description = "The template's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")), request_body = AgentTemplate,
    responses((status = 200, body = TemplateView), (status = 400, body = super::error::ErrorBody)))]
pub async fn put_template(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(template): ApiJson<AgentTemplate>,
) -> Result<Json<TemplateView>, ApiError> {
    check_name(&name)?;
    template.check()?;
    let doc = state
        .store
        .put_doc(DocKind::AgentTemplate, &name, &to_json(&template)?)
        .await?;
    Ok(Json(template_view(doc)?))
}

/// Delete an agent template.
#[utoipa::path(delete, path = "/api/config/agent-templates/{name}", tag = "config",
    params(("name" = String, Path, description = "The template's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    delete_doc(&state, DocKind::AgentTemplate, &name).await
}

/// List system prompts.
#[utoipa::path(get, path = "/api/config/system-prompts", tag = "config",
    responses((status = 200, body = Vec<SystemPromptView>)))]
pub async fn list_prompts(
    State(state): State<AppState>,
) -> Result<Json<Vec<SystemPromptView>>, ApiError> {
    let docs = state.store.list_docs(DocKind::SystemPrompt).await?;
    Ok(Json(
        docs.into_iter()
            .map(prompt_view)
            .collect::<Result<_, _>>()?,
    ))
}

/// Create a system prompt.
#[utoipa::path(post, path = "/api/config/system-prompts", tag = "config", request_body = NewSystemPrompt,
    responses((status = 201, body = SystemPromptView), (status = 400, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create_prompt(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewSystemPrompt>,
) -> Result<(StatusCode, Json<SystemPromptView>), ApiError> {
    let doc = create_doc(
        &state,
        DocKind::SystemPrompt,
        &req.name,
        to_json(&req.prompt)?,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(prompt_view(doc)?)))
}

/// One system prompt.
#[utoipa::path(get, path = "/api/config/system-prompts/{name}", tag = "config",
    params(("name" = String, Path, description = "The system prompt's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses((status = 200, body = SystemPromptView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_prompt(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SystemPromptView>, ApiError> {
    Ok(Json(prompt_view(
        get_doc(&state, DocKind::SystemPrompt, &name).await?,
    )?))
}

/// Create or replace a system prompt.
#[utoipa::path(put, path = "/api/config/system-prompts/{name}", tag = "config",
    params(("name" = String, Path, description = "The system prompt's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")), request_body = SystemPrompt,
    responses((status = 200, body = SystemPromptView), (status = 400, body = super::error::ErrorBody)))]
pub async fn put_prompt(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(prompt): ApiJson<SystemPrompt>,
) -> Result<Json<SystemPromptView>, ApiError> {
    check_name(&name)?;
    let doc = state
        .store
        .put_doc(DocKind::SystemPrompt, &name, &to_json(&prompt)?)
        .await?;
    Ok(Json(prompt_view(doc)?))
}

/// Delete a system prompt.
#[utoipa::path(delete, path = "/api/config/system-prompts/{name}", tag = "config",
    params(("name" = String, Path, description = "The system prompt's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete_prompt(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    delete_doc(&state, DocKind::SystemPrompt, &name).await
}
