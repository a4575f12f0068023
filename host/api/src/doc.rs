//! What makes the OpenAPI document that utoipa derives from the route
//! attributes say what the server does: `serde(flatten)` types become one
//! object (utoipa's `allOf` of a type that denies unknown fields and the
//! fields beside it can never be satisfied), every operation lists the
//! errors that the shared extractors and the auth middleware give, and the
//! bearer tokens are declared as security schemes.

use serde_json::{Map, Value, json};

/// The document utoipa derives, with the passes applied.
pub fn accurate(derived: &utoipa::openapi::OpenApi) -> Result<Value, serde_json::Error> {
    let mut doc = serde_json::to_value(derived)?;
    flatten_all_of(&mut doc);
    exclusive_fields(&mut doc);
    bound_integers(&mut doc);
    add_error_responses(&mut doc);
    add_security_schemes(&mut doc);
    add_access(&mut doc);
    Ok(doc)
}

/// Marks each operation with the access its route needs
/// (`x-paddock-access`, from [`crate::access::ROUTES`]; absent only on
/// signing in, which needs no credentials).
fn add_access(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Value::Object(item) = item else { continue };
        for (method, op) in item.iter_mut() {
            let Value::Object(op) = op else { continue };
            let Ok(m) = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            else {
                continue;
            };
            if let Some(access) = crate::access::access_of(&m, path) {
                op.insert("x-paddock-access".into(), json!(access.as_str()));
            }
        }
    }
}

/// Replaces every `allOf` whose parts are all plain objects (inline or
/// `$ref`s to one) by the one object serde reads and writes: the union of
/// the properties and of the required fields, closed
/// (`additionalProperties: false`) when any part is. Others (an `allOf`
/// with a `oneOf`, as a tagged enum gives) stay as they are.
fn flatten_all_of(doc: &mut Value) {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    flatten_in(doc, &schemas);
}

fn flatten_in(v: &mut Value, schemas: &Map<String, Value>) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                flatten_in(child, schemas);
            }
            if let Some(Value::Array(parts)) = map.get("allOf")
                && let Some(merged) = merge_objects(parts, schemas, 0)
            {
                map.remove("allOf");
                for (k, val) in merged {
                    map.insert(k, val);
                }
            }
        }
        Value::Array(items) => {
            for child in items {
                flatten_in(child, schemas);
            }
        }
        _ => {}
    }
}

/// The `$ref`s a schema may go through before it is given up on.
const MAX_REF_DEPTH: usize = 16;

/// The one object the `parts` of an `allOf` amount to, or None when a part
/// is not a plain object or two parts give one property different schemas.
fn merge_objects(
    parts: &[Value],
    schemas: &Map<String, Value>,
    depth: usize,
) -> Option<Map<String, Value>> {
    if depth > MAX_REF_DEPTH {
        return None;
    }
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut closed = false;
    for part in parts {
        let object = plain_object(part, schemas, depth)?;
        if let Some(Value::Object(props)) = object.get("properties") {
            for (name, schema) in props {
                match properties.get(name) {
                    Some(existing) if existing != schema => return None,
                    _ => {
                        properties.insert(name.clone(), schema.clone());
                    }
                }
            }
        }
        if let Some(Value::Array(names)) = object.get("required") {
            for n in names {
                if !required.contains(n) {
                    required.push(n.clone());
                }
            }
        }
        match object.get("additionalProperties") {
            None | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => closed = true,
            // A map-like part (values of a schema) does not merge.
            Some(_) => return None,
        }
    }
    let mut merged = Map::new();
    merged.insert("type".into(), json!("object"));
    if !required.is_empty() {
        merged.insert("required".into(), Value::Array(required));
    }
    merged.insert("properties".into(), Value::Object(properties));
    if closed {
        merged.insert("additionalProperties".into(), json!(false));
    }
    Some(merged)
}

/// A part of an `allOf` as a plain object schema (a `$ref` followed, a
/// nested `allOf` merged), or None.
fn plain_object(
    part: &Value,
    schemas: &Map<String, Value>,
    depth: usize,
) -> Option<Map<String, Value>> {
    let map = part.as_object()?;
    if let Some(Value::String(r)) = map.get("$ref") {
        let name = r.strip_prefix("#/components/schemas/")?;
        return plain_object(schemas.get(name)?, schemas, depth + 1);
    }
    if let Some(Value::Array(parts)) = map.get("allOf") {
        return merge_objects(parts, schemas, depth + 1);
    }
    let is_object = map.get("type") == Some(&json!("object"));
    let composed = ["oneOf", "anyOf", "not", "if", "discriminator"]
        .iter()
        .any(|k| map.contains_key(*k));
    (is_object && !composed).then(|| map.clone())
}

/// The schemas of templates and creation requests say which fields go one
/// at a time ([`super::agents::EXCLUSIVE`]): of each group, at most one is
/// given and not null.
fn exclusive_fields(doc: &mut Value) {
    let mut rules = Vec::new();
    for group in super::agents::EXCLUSIVE {
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                rules.push(json!({"not": {
                    "required": [a, b],
                    "properties": {*a: {"not": {"type": "null"}}, *b: {"not": {"type": "null"}}}
                }}));
            }
        }
    }
    for name in [
        "AgentTemplate",
        "NewTemplate",
        "TemplateView",
        "CreateAgent",
    ] {
        if let Some(Value::Object(schema)) = doc.pointer_mut(&format!("/components/schemas/{name}"))
        {
            schema.insert("allOf".into(), Value::Array(rules.clone()));
        }
    }
}

/// Gives every integer of a Rust type its range (`uint32` is 0 to
/// 4294967295, …): a format alone says nothing to a validator, and
/// `int32`'s range is not `u32`'s. utoipa spells the unsigned formats
/// `u-int32`; they are named as everyone else does.
fn bound_integers(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(f)) = map.get_mut("format")
                && let Some(bits) = f.strip_prefix("u-int")
            {
                *f = format!("uint{bits}");
            }
            let range: Option<(Value, Value)> = match map.get("format").and_then(Value::as_str) {
                Some("int8") => Some((json!(i8::MIN), json!(i8::MAX))),
                Some("int16") => Some((json!(i16::MIN), json!(i16::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = range {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            for child in map.values_mut() {
                bound_integers(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// The errors every operation can give through what all routes share, added
/// to those its attribute lists (which win, with their own words): the auth
/// middleware (401 without a valid token where one is needed, 403 for a
/// foreign `Host` on loopback or a user token on an admin route), the query
/// and body extractors (400 naming the parameter or field; 413 and 415 for
/// bodies), the path (404 for what is not there) and the store (500).
fn add_error_responses(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for item in paths.values_mut() {
        let Value::Object(item) = item else { continue };
        for op in item.values_mut() {
            let Value::Object(op) = op else { continue };
            let mut add: Vec<(&str, &str)> = Vec::new();
            let params: Vec<&str> = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| p.get("in").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let body = op.contains_key("requestBody");
            if body || params.contains(&"query") {
                add.push((
                    "400",
                    "Invalid request: the message names the parameter or field",
                ));
            }
            add.push((
                "401",
                "Credentials are required: a valid bearer token or session cookie",
            ));
            add.push((
                "403",
                "Not allowed: a foreign `Host` on loopback, a caller whose role or token scope this route does not take (`x-paddock-access`), or a cross-site request",
            ));
            if params.contains(&"path") {
                add.push(("404", "No such resource"));
            }
            if body {
                add.push(("413", "The request body is over the size limit"));
                add.push((
                    "415",
                    "The body is not of the content type this route reads",
                ));
            }
            add.push((
                "429",
                "Too many requests with this credential: retry after `Retry-After` seconds",
            ));
            add.push(("500", "Internal error (details in the server log)"));
            add.push((
                "503",
                "The store is unavailable for now (the database is away or cannot write): retry after `Retry-After` seconds",
            ));
            let responses = op
                .entry("responses")
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(responses) = responses else {
                continue;
            };
            for (status, description) in add {
                responses.entry(status).or_insert_with(|| {
                    let mut response = json!({
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                    });
                    if status == "503" || status == "429" {
                        response["headers"] = json!({"Retry-After": {
                            "description": "Seconds after which a retry may succeed",
                            "schema": {"type": "integer", "minimum": 0}
                        }});
                    }
                    response
                });
            }
        }
    }
}

/// The credentials as security schemes: `bearer` (a personal access token
/// or a service token), `session` (the dashboard's cookie) and `admin` (a
/// credential of scope `admin`).
fn add_security_schemes(doc: &mut Value) {
    let Value::Object(root) = doc else {
        return;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(components) = components else {
        return;
    };
    // Every request needs credentials, on loopback too: a bearer token, or
    // the dashboard's session cookie. Admin operations ask for `admin`
    // themselves; signing in asks for nothing.
    let security = json!([{"bearer": []}, {"session": []}]);
    components.insert(
        "securitySchemes".into(),
        json!({
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal access token (`pdk_…`: `POST /api/me/tokens`, or `paddock user add NAME --token`), acting as its user with its scope (`read`, `write` or `admin`; `x-paddock-access` says what each route needs); or a service token, acting as the built-in `local` admin: the API token (`PADDOCK_TOKEN`, or `api-token` in the data dir; scope `write`) or the admin token (scope `admin`). Needed on every route, loopback included (unless the server runs with `--unsafe-no-auth`)."
            },
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "paddock_session_PORT",
                "description": "The dashboard's session cookie (`paddock_session_<port>`, HttpOnly, SameSite=Strict; Secure behind https), set by `POST /api/session` (a name and password, or a token), single sign-on, or the one-time link `paddock serve` prints when there are no users. A change made with it must send `X-Paddock-CSRF` with the value of the `paddock_csrf_<port>` cookie set beside it (403 `csrf_failed` otherwise)."
            },
            "admin": {
                "type": "http",
                "scheme": "bearer",
                "description": "The admin token (`PADDOCK_ADMIN_TOKEN`, or `admin-token` in the data dir), or an admin's personal access token of scope `admin`: needed on admin routes wherever the server is bound."
            }
        }),
    );
    root.insert("security".into(), security);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_merges_a_closed_part_and_the_fields_beside_it() {
        let mut doc = json!({
            "components": {"schemas": {
                "Base": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "additionalProperties": false},
                "New": {"allOf": [{"$ref": "#/components/schemas/Base", "description": "x"}, {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}], "description": "d"},
                "Tagged": {"allOf": [{"oneOf": [{"type": "object"}]}, {"type": "object", "properties": {"seq": {"type": "integer"}}}]}
            }}
        });
        flatten_all_of(&mut doc);
        let new = &doc["components"]["schemas"]["New"];
        assert_eq!(
            new,
            &json!({
                "type": "object", "description": "d", "required": ["a", "name"],
                "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "name": {"type": "string"}},
                "additionalProperties": false
            })
        );
        assert!(
            doc["components"]["schemas"]["Tagged"]
                .get("allOf")
                .is_some(),
            "a oneOf part is left alone"
        );
    }

    #[test]
    fn flatten_leaves_conflicting_properties_alone() {
        let mut doc = json!({"components": {"schemas": {
            "X": {"allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}},
                {"type": "object", "properties": {"a": {"type": "integer"}}}
            ]}
        }}});
        let before = doc.clone();
        flatten_all_of(&mut doc);
        assert_eq!(doc, before);
    }

    #[test]
    fn exclusive_fields_are_stated_pair_by_pair() {
        let mut doc =
            json!({"components": {"schemas": {"CreateAgent": {"type": "object"}, "Other": {}}}});
        exclusive_fields(&mut doc);
        let rules = doc["components"]["schemas"]["CreateAgent"]["allOf"]
            .as_array()
            .unwrap();
        // Three pairs of the places to work, one of models, one of prompts.
        assert_eq!(rules.len(), 5);
        assert_eq!(
            rules[0],
            json!({"not": {"required": ["workspace", "workspace_id"], "properties": {
                "workspace": {"not": {"type": "null"}}, "workspace_id": {"not": {"type": "null"}}}}})
        );
        assert!(doc["components"]["schemas"]["Other"].get("allOf").is_none());
    }

    #[test]
    fn integers_get_their_types_range() {
        let mut doc = json!({"a": {"type": "integer", "format": "u-int32", "minimum": 1},
            "b": {"type": ["integer", "null"], "format": "uint64"},
            "c": {"type": "string", "format": "date"}});
        bound_integers(&mut doc);
        assert_eq!(
            doc["a"],
            json!({"type": "integer", "format": "uint32", "minimum": 1, "maximum": 4294967295u32})
        );
        assert_eq!(doc["b"]["minimum"], 0);
        assert_eq!(doc["b"]["maximum"], json!(u64::MAX));
        assert!(doc["c"].get("maximum").is_none());
    }

    #[test]
    fn error_responses_follow_what_an_operation_takes() {
        let mut doc = json!({"paths": {
            "/a/{id}": {"post": {
                "parameters": [{"name": "id", "in": "path"}],
                "requestBody": {"content": {"application/json": {}}},
                "responses": {"200": {"description": "ok"}, "404": {"description": "no such agent"}}
            }},
            "/b": {"get": {"responses": {"200": {"description": "ok"}}}}
        }});
        add_error_responses(&mut doc);
        let a = doc["paths"]["/a/{id}"]["post"]["responses"]
            .as_object()
            .unwrap();
        let codes: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            codes,
            [
                "200", "400", "401", "403", "404", "413", "415", "429", "500", "503"
            ]
        );
        assert!(a["503"]["headers"]["Retry-After"].is_object());
        assert!(a["429"]["headers"]["Retry-After"].is_object());
        assert_eq!(
            a["404"]["description"], "no such agent",
            "the route's own words win"
        );
        let b = doc["paths"]["/b"]["get"]["responses"].as_object().unwrap();
        let codes: Vec<&str> = b.keys().map(String::as_str).collect();
        assert_eq!(codes, ["200", "401", "403", "429", "500", "503"]);
    }
}
