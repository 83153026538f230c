//! The API described once: every endpoint with its methods, who may call it, its parameters and
//! its answers. The OpenAPI document (`/api/docs.json`) and the route labels of logs and metrics
//! are generated from this table, and a test holds the router to it in both directions.
//!
//! Every constraint the document states (bounds, patterns, enums, lengths) is read from the
//! constants the validators use (`crate::domain`, the error enum, the cache's namespaces), so
//! the document cannot promise what the server refuses, nor the reverse; the tests check the
//! patterns against the validators, and a schema fuzzer (`.ci/fuzz-api`) the whole document.

use serde_json::{Map, Value, json};

use crate::domain::{Language, MAX_PAGE, MovieId, Region};
use crate::domain::{account, favorite, image, setting};
use crate::error::ApiError;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    User,
    Staff,
}

#[derive(Debug, Clone, Copy)]
pub enum In {
    Path,
    Query,
}

/// What values a parameter takes, as its validator accepts them.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A decimal integer in `min..=max`.
    Integer { min: u64, max: u64 },
    /// A string matching the pattern the function builds.
    Pattern(fn() -> String),
    /// One of these strings.
    OneOf(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub shape: Shape,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub params: &'static [Param],
    /// The request body schema (a component name), when there is one.
    pub body: Option<&'static str>,
    /// Success status and its schema (a component name).
    pub success: (u16, &'static str),
    /// Other answers that are not the error envelope, with their schemas.
    pub also: &'static [(u16, &'static str)],
    /// Error statuses this operation can answer besides the universal ones (429, 500).
    pub errors: &'static [u16],
}

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// OpenAPI form: `/api/movies/{movie_id}/`.
    pub path: &'static str,
    pub operations: &'static [Operation],
}

pub(super) const fn query(name: &'static str, shape: Shape, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        required: false,
        shape,
        description,
    }
}

pub(super) const fn path(name: &'static str, shape: Shape, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        required: true,
        shape,
        description,
    }
}

fn language_pattern() -> String {
    Language::PATTERN.to_owned()
}

fn region_pattern() -> String {
    Region::PATTERN.to_owned()
}

/// TMDB movie ids (`MovieId`).
const MOVIE_IDS: Shape = Shape::Integer {
    min: 1,
    max: MovieId::MAX as u64,
};
/// Our own database ids (`json::id_segment`): any positive `i64`.
const ROW_IDS: Shape = Shape::Integer {
    min: 1,
    max: i64::MAX as u64,
};

pub(super) const PAGE: Param = query(
    "page",
    Shape::Integer {
        min: 1,
        max: MAX_PAGE as u64,
    },
    "default 1",
);
pub(super) const LANGUAGE: Param = query(
    "language",
    Shape::Pattern(language_pattern),
    "xx or xx-YY in any letter case, default from configuration",
);
pub(super) const REGION: Param = query(
    "region",
    Shape::Pattern(region_pattern),
    "ISO 3166-1 code, e.g. US",
);
pub(super) const MOVIE_ID: Param = path("movie_id", MOVIE_IDS, "TMDB movie id");
pub(super) const UPSTREAM: &[u16] = &[400, 502, 503, 504];

pub(super) const fn op(
    method: &'static str,
    summary: &'static str,
    tag: &'static str,
) -> Operation {
    Operation {
        method,
        summary,
        tag,
        access: Access::Public,
        params: &[],
        body: None,
        success: (200, "Object"),
        also: &[],
        errors: &[],
    }
}

/// The API: the movie routes' rows (kept with their routes, in `http/movies/mod.rs`) and then
/// everyone else's.
pub fn endpoints() -> &'static [Endpoint] {
    static ALL: std::sync::LazyLock<Vec<Endpoint>> = std::sync::LazyLock::new(|| {
        let movies = super::movies::documented();
        movies.chain(OTHERS.iter().copied()).collect()
    });
    &ALL
}

const OTHERS: &[Endpoint] = &[
    Endpoint {
        path: "/api/users/register/",
        operations: &[Operation {
            body: Some("RegisterRequest"),
            success: (201, "User"),
            errors: &[400, 409, 413, 415],
            ..op("post", "Create an account", "users")
        }],
    },
    Endpoint {
        path: "/api/users/login/",
        operations: &[Operation {
            body: Some("LoginRequest"),
            success: (200, "LoginResponse"),
            errors: &[400, 401, 413, 415],
            ..op("post", "Exchange credentials for tokens", "users")
        }],
    },
    Endpoint {
        path: "/api/users/refresh/",
        operations: &[Operation {
            body: Some("RefreshRequest"),
            success: (200, "TokenPair"),
            errors: &[400, 401, 413, 415],
            ..op("post", "Rotate a refresh token", "users")
        }],
    },
    Endpoint {
        path: "/api/users/logout/",
        operations: &[Operation {
            access: Access::User,
            body: Some("RefreshRequest"),
            success: (200, "Detail"),
            errors: &[400, 401, 413, 415],
            ..op("post", "Revoke a refresh token", "users")
        }],
    },
    Endpoint {
        path: "/api/users/profile/",
        operations: &[Operation {
            access: Access::User,
            success: (200, "Profile"),
            errors: &[401],
            ..op(
                "get",
                "The signed-in user's profile (cached; 15m by default)",
                "users",
            )
        }],
    },
    Endpoint {
        path: "/api/users/favorites/",
        operations: &[Operation {
            access: Access::User,
            params: &[
                query(
                    "page",
                    Shape::Integer {
                        min: 1,
                        max: favorite::PAGE_MAX as u64,
                    },
                    "default 1; past the last page is a 404",
                ),
                query(
                    "page_size",
                    Shape::Integer {
                        min: 1,
                        max: favorite::PAGE_SIZE_MAX as u64,
                    },
                    "default 20",
                ),
            ],
            success: (200, "FavoriteList"),
            errors: &[400, 401, 404],
            ..op(
                "get",
                "The signed-in user's favorites, newest first",
                "favorites",
            )
        }],
    },
    Endpoint {
        path: "/api/users/favorites/add/",
        operations: &[Operation {
            access: Access::User,
            body: Some("FavoriteRequest"),
            success: (201, "Favorite"),
            also: &[(200, "Favorite")],
            errors: &[400, 401, 413, 415],
            ..op(
                "post",
                "Add a favorite (200 with the existing one when already there)",
                "favorites",
            )
        }],
    },
    Endpoint {
        path: "/api/users/favorites/{favorite_id}/remove/",
        operations: &[Operation {
            access: Access::User,
            params: &[path("favorite_id", ROW_IDS, "favorite id")],
            success: (200, "Detail"),
            errors: &[401, 404],
            ..op("delete", "Remove one of the user's favorites", "favorites")
        }],
    },
    Endpoint {
        path: "/api/users/favorites/check/{tmdb_id}/",
        operations: &[Operation {
            access: Access::User,
            params: &[path("tmdb_id", MOVIE_IDS, "TMDB movie id")],
            success: (200, "FavoriteCheck"),
            errors: &[400, 401, 404],
            ..op(
                "get",
                "Whether a movie is one of the user's favorites",
                "favorites",
            )
        }],
    },
    Endpoint {
        path: "/api/utils/cache/",
        operations: &[
            Operation {
                access: Access::Staff,
                success: (200, "CacheStats"),
                errors: &[401, 403],
                ..op("get", "Cache statistics", "staff")
            },
            Operation {
                access: Access::Staff,
                params: &[
                    query(
                        "namespace",
                        Shape::OneOf(crate::service::cache_admin::CLEARABLE_NAMESPACES),
                        "clear one namespace",
                    ),
                    query(
                        "key",
                        Shape::Pattern(crate::service::cache_admin::clearable_key_pattern),
                        "clear one key (with namespace: only when the key is in it)",
                    ),
                ],
                success: (200, "Cleared"),
                errors: &[400, 401, 403],
                ..op("delete", "Clear the cache, a namespace or a key", "staff")
            },
        ],
    },
    Endpoint {
        path: "/api/utils/cache/warm/",
        operations: &[
            Operation {
                access: Access::Staff,
                success: (200, "WarmRunEnvelope"),
                errors: &[401, 403],
                ..op(
                    "get",
                    "The current or last warm run (data: null before the first)",
                    "staff",
                )
            },
            Operation {
                access: Access::Staff,
                body: Some("WarmRequest"),
                success: (202, "WarmRunEnvelope"),
                errors: &[400, 401, 403, 409, 415],
                ..op(
                    "post",
                    "Start a warm run (409 while one runs, or offline)",
                    "staff",
                )
            },
        ],
    },
    Endpoint {
        path: "/api/utils/cache/refresh/",
        operations: &[Operation {
            access: Access::Staff,
            params: &[
                query(
                    "key",
                    Shape::Pattern(crate::service::cache_admin::clearable_key_pattern),
                    "fetch this trending, recommendations or details entry again now",
                ),
                query(
                    "namespace",
                    Shape::OneOf(crate::service::cache_admin::REFRESHABLE_NAMESPACES),
                    "fetch every stored entry of this namespace again, in the background",
                ),
            ],
            success: (200, "Refreshed"),
            also: &[(202, "RefreshingNamespace")],
            errors: &[400, 401, 403, 404, 409, 502, 503, 504],
            ..op("post", "Refresh one entry, or a namespace, now", "staff")
        }],
    },
    Endpoint {
        path: "/api/utils/settings/",
        operations: &[
            Operation {
                access: Access::User,
                success: (200, "SettingList"),
                errors: &[401],
                ..op("get", "All settings", "settings")
            },
            Operation {
                access: Access::Staff,
                body: Some("SettingCreate"),
                success: (201, "SettingEnvelope"),
                errors: &[400, 401, 403, 409, 413, 415],
                ..op("post", "Create a setting", "settings")
            },
        ],
    },
    Endpoint {
        path: "/api/utils/settings/code/{setting_code}/",
        operations: &[Operation {
            access: Access::User,
            params: &[path(
                "setting_code",
                Shape::Pattern(setting::code_pattern),
                "letters, digits, _ and -",
            )],
            success: (200, "SettingEnvelope"),
            errors: &[400, 401, 404],
            ..op("get", "An active setting by code", "settings")
        }],
    },
    Endpoint {
        path: "/api/utils/settings/{setting_id}/",
        operations: &[
            Operation {
                access: Access::User,
                params: &[path("setting_id", ROW_IDS, "setting id")],
                success: (200, "SettingEnvelope"),
                errors: &[401, 404],
                ..op("get", "One setting", "settings")
            },
            Operation {
                access: Access::Staff,
                params: &[path("setting_id", ROW_IDS, "setting id")],
                body: Some("SettingReplace"),
                success: (200, "SettingEnvelope"),
                errors: &[400, 401, 403, 404, 413, 415],
                ..op("put", "Replace a setting", "settings")
            },
            Operation {
                access: Access::Staff,
                params: &[path("setting_id", ROW_IDS, "setting id")],
                body: Some("SettingChange"),
                success: (200, "SettingEnvelope"),
                errors: &[400, 401, 403, 404, 413, 415],
                ..op("patch", "Change some fields of a setting", "settings")
            },
            Operation {
                access: Access::Staff,
                params: &[path("setting_id", ROW_IDS, "setting id")],
                success: (200, "Object"),
                errors: &[401, 403, 404],
                ..op("delete", "Delete a setting", "settings")
            },
        ],
    },
    Endpoint {
        path: "/health/",
        operations: &[Operation {
            success: (200, "Health"),
            also: &[(503, "Health")],
            ..op(
                "get",
                "Health of the cache store and the database",
                "operations",
            )
        }],
    },
    // The probes orchestrators ask (kept together, apart from /health/'s full report).
    Endpoint {
        path: "/health/live",
        operations: &[Operation {
            success: (200, "Object"),
            ..op(
                "get",
                "Liveness: 200 while the process answers (asks no store)",
                "operations",
            )
        }],
    },
    Endpoint {
        path: "/health/ready",
        operations: &[Operation {
            success: (200, "Object"),
            errors: &[503],
            ..op(
                "get",
                "Readiness: 200 while serving with usable stores; 503 SERVICE_UNAVAILABLE \
                 (the message says why) while starting, shutting down or a store fails",
                "operations",
            )
        }],
    },
    Endpoint {
        path: "/metrics",
        operations: &[Operation {
            success: (200, "Metrics"),
            errors: &[401, 403, 404],
            ..op(
                "get",
                "Prometheus metrics (access is configuration)",
                "operations",
            )
        }],
    },
    Endpoint {
        path: "/api/docs.json",
        operations: &[Operation {
            success: (200, "Object"),
            ..op("get", "This OpenAPI document", "operations")
        }],
    },
    Endpoint {
        path: "/api/docs/",
        operations: &[Operation {
            success: (200, "Html"),
            ..op("get", "Browsable API documentation", "operations")
        }],
    },
    Endpoint {
        path: "/api/images/{size}/{file_path}",
        operations: &[Operation {
            params: &[
                path("size", Shape::OneOf(image::SIZES), "a TMDB image size"),
                path(
                    "file_path",
                    Shape::Pattern(image_file_pattern),
                    "a TMDB image file name (a poster_path without its /)",
                ),
            ],
            success: (200, "Image"),
            also: &[(304, "Image")],
            errors: &[400, 404, 502, 503, 504],
            ..op(
                "get",
                "A TMDB image through the image cache (offline: only stored images, else 404)",
                "images",
            )
        }],
    },
    Endpoint {
        path: "/",
        operations: &[Operation {
            success: (200, "Html"),
            ..op("get", "The movie front end (a web page)", "pages")
        }],
    },
    Endpoint {
        path: "/dashboard/",
        operations: &[Operation {
            success: (200, "Html"),
            ..op("get", "The staff cache dashboard (a web page)", "pages")
        }],
    },
    Endpoint {
        path: "/assets/app.css",
        operations: &[Operation {
            success: (200, "Css"),
            ..op("get", "The pages' stylesheet", "pages")
        }],
    },
    Endpoint {
        path: "/assets/api.js",
        operations: &[Operation {
            success: (200, "Script"),
            ..op("get", "The pages' API client (an ES module)", "pages")
        }],
    },
    Endpoint {
        path: "/assets/app.js",
        operations: &[Operation {
            success: (200, "Script"),
            ..op("get", "The front end's script (an ES module)", "pages")
        }],
    },
    Endpoint {
        path: "/assets/dashboard.js",
        operations: &[Operation {
            success: (200, "Script"),
            ..op("get", "The dashboard's script (an ES module)", "pages")
        }],
    },
    Endpoint {
        path: "/favicon.svg",
        operations: &[Operation {
            success: (200, "Svg"),
            ..op("get", "The pages' icon", "pages")
        }],
    },
];

/// What `domain::image::ImagePath` takes as a file name.
fn image_file_pattern() -> String {
    format!(
        "^[A-Za-z0-9_-]{{1,{}}}\\.(jpg|jpeg|png|webp|gif|svg)$",
        image::MAX_STEM
    )
}

/// The router's form of a path: `{}` for every parameter.
pub fn router_pattern(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The error codes a status is answered with, from the error enum itself.
fn codes_for(status: u16) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = ApiError::examples()
        .iter()
        .filter(|e| e.status().as_u16() == status)
        .map(ApiError::code)
        .collect();
    codes.dedup();
    codes
}

/// Every error code, in the enum's order.
pub fn error_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = Vec::new();
    for error in ApiError::examples() {
        if !codes.contains(&error.code()) {
            codes.push(error.code());
        }
    }
    codes
}

fn shape_json(shape: Shape) -> Value {
    match shape {
        Shape::Integer { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Shape::Pattern(pattern) => json!({"type": "string", "pattern": pattern()}),
        Shape::OneOf(values) => json!({"type": "string", "enum": values}),
    }
}

fn reference(schema: &str) -> Value {
    match schema {
        "Html" | "Metrics" | "Redirect" | "Css" | "Script" | "Svg" => json!({"type": "string"}),
        "Image" => json!({"type": "string", "format": "binary"}),
        name => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

fn content_type(schema: &str) -> &'static str {
    match schema {
        "Html" | "Redirect" => "text/html",
        "Metrics" => "text/plain",
        "Css" => "text/css",
        "Script" => "text/javascript",
        "Svg" => "image/svg+xml",
        "Image" => "image/*",
        _ => "application/json",
    }
}

fn answer(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {content_type(schema): {"schema": reference(schema)}},
    })
}

/// The error envelope of one status: its `code` narrowed to the codes that status carries.
fn error_answer(status: u16) -> Value {
    let codes = codes_for(status);
    json!({
        "description": codes.join(" or "),
        "content": {"application/json": {"schema": {"allOf": [
            reference("Error"),
            {"properties": {"error": {"properties": {
                "code": {"enum": codes},
                "status_code": {"const": status},
            }}}},
        ]}}},
    })
}

fn operation_json(op: &Operation) -> Value {
    let params: Vec<Value> = op
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.location { In::Path => "path", In::Query => "query" },
                "required": p.required,
                "description": p.description,
                "schema": shape_json(p.shape),
            })
        })
        .collect();
    let mut responses = Map::new();
    let (status, schema) = op.success;
    let mut success = answer("success", schema);
    if schema == "Redirect" {
        success["headers"] = json!({"Location": {"schema": {"type": "string"}, "required": true}});
    }
    responses.insert(status.to_string(), success);
    for (status, schema) in op.also {
        responses.insert(status.to_string(), answer("also", schema));
    }
    for status in op.errors.iter().chain(UNIVERSAL) {
        responses.insert(status.to_string(), error_answer(*status));
    }
    let mut operation = json!({
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
    });
    if op.access != Access::Public {
        operation["security"] = json!([{"bearer": []}]);
        operation["description"] = json!(match op.access {
            Access::Staff =>
                "Requires a staff access token. The token is checked before anything else the request carries: without a valid one the answer is 401 whatever else is wrong.",
            _ =>
                "Requires an access token. The token is checked before anything else the request carries: without a valid one the answer is 401 whatever else is wrong.",
        });
    }
    if let Some(body) = op.body {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": reference(body)}},
        });
    }
    operation
}

/// Answers any operation may give: a method the path does not take, the client limiter, our bug.
pub const UNIVERSAL: &[u16] = &[405, 429, 500];

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// An object that takes no property besides those listed (the server refuses others).
fn closed(mut schema: Value) -> Value {
    schema["additionalProperties"] = json!(false);
    schema
}

/// A string field the server reads as absent when it is `null` (serde's `Option`).
fn nullable(mut schema: Value) -> Value {
    schema["type"] = json!(["string", "null"]);
    schema
}

/// The request bodies, every bound from the validators' constants.
fn request_schemas() -> Map<String, Value> {
    let username = json!({
        "type": "string",
        "minLength": account::USERNAME_MIN,
        "maxLength": account::USERNAME_MAX,
        "pattern": account::username_pattern(),
        "description": "letters, digits and @ . + - _; letters and digits of any script are accepted too (the pattern states the ASCII ones, which every schema tool reads alike)",
    });
    let password = json!({
        "type": "string",
        "minLength": account::PASSWORD_MIN,
        "maxLength": account::PASSWORD_MAX,
    });
    // `email: null` is accepted and means "no address", as absent or blank do: a form that
    // sends every field, empty ones as null, registers (the contract: "email optional").
    let email = nullable(json!({
        "maxLength": account::EMAIL_MAX,
        "pattern": account::email_pattern(),
        "description": "optional: absent, null or blank is none",
    }));
    let non_empty = json!({"type": "string", "minLength": 1});
    let description = nullable(json!({"maxLength": setting::DESCRIPTION_MAX}));
    let is_active = json!({"type": ["boolean", "null"]});
    let value = json!({"description": "any JSON value, null included"});
    let code = json!({"type": "string", "pattern": setting::code_pattern()});
    let ignored_code =
        json!({"type": ["string", "null"], "description": "fixed at creation: ignored"});
    let favorite = object(
        json!({
            "tmdb_id": shape_json(MOVIE_IDS),
            "title": {
                "type": "string",
                "maxLength": favorite::TITLE_MAX,
                "pattern": favorite::title_pattern(),
                "description": "not blank",
            },
            "poster_path": nullable(json!({"maxLength": favorite::POSTER_PATH_MAX})),
            "overview": nullable(json!({})),
            "release_date": {
                "anyOf": [
                    {"type": "string", "format": "date"},
                    {"const": ""},
                    {"type": "null"},
                ],
                "description": "YYYY-MM-DD; empty (TMDB's unknown date) or null is none",
            },
        }),
        &["tmdb_id", "title"],
    );
    let schemas = json!({
        "RegisterRequest": object(
            json!({"username": username, "email": email, "password": password}),
            &["username", "password"],
        ),
        "LoginRequest": object(
            json!({"username": non_empty, "password": non_empty}),
            &["username", "password"],
        ),
        "RefreshRequest": object(json!({"refresh": non_empty}), &["refresh"]),
        "FavoriteRequest": favorite,
        "SettingCreate": object(
            json!({"setting_code": code, "setting_value": value,
                   "description": description, "is_active": is_active}),
            &["setting_code", "setting_value"],
        ),
        "SettingReplace": object(
            json!({"setting_code": ignored_code, "setting_value": value,
                   "description": description, "is_active": is_active}),
            &["setting_value"],
        ),
        "WarmRequest": closed(object(
            json!({
                "trending_pages": {"type": "integer", "minimum": 0, "maximum": 500},
                "popular_pages": {"type": "integer", "minimum": 0, "maximum": 500},
                "recommendation_pages": {"type": "integer", "minimum": 0, "maximum": 500},
                "details": {"type": "boolean"},
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 64},
                "budget": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            }),
            &[],
        )),
        "SettingChange": object(
            json!({"setting_code": ignored_code, "setting_value": value,
                   "description": description, "is_active": is_active}),
            &[],
        ),
    });
    let Value::Object(map) = schemas else {
        unreachable!("an object literal")
    };
    map
}

/// The answers' schemas.
fn response_schemas() -> Value {
    let favorite = object(
        json!({
            "id": {"type": "integer"}, "user": {"type": "string"}, "tmdb_id": {"type": "integer"},
            "title": {"type": "string"}, "poster_path": {"type": ["string", "null"]},
            "overview": {"type": "string"}, "release_date": {"type": ["string", "null"], "format": "date"},
            "created_at": {"type": "string", "format": "date-time"},
        }),
        &["id", "user", "tmdb_id", "title", "created_at"],
    );
    let pagination = object(
        json!({
            "count": {"type": "integer"}, "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]}, "current_page": {"type": "integer"},
            "total_pages": {"type": "integer"}, "page_size": {"type": "integer"},
        }),
        &[
            "count",
            "next",
            "previous",
            "current_page",
            "total_pages",
            "page_size",
        ],
    );
    let list = |item: Value| {
        object(
            json!({"success": {"const": true}, "data": {"type": "array", "items": item}, "pagination": pagination}),
            &["success", "data", "pagination"],
        )
    };
    let setting_fields = json!({
        "id": {"type": "integer"}, "setting_code": {"type": "string"},
        "setting_value": {"description": "any JSON value"},
        "description": {"type": "string"}, "is_active": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    });
    let setting = object(
        setting_fields.clone(),
        &["id", "setting_code", "setting_value", "is_active"],
    );
    let setting_summary = {
        let mut fields = setting_fields;
        fields
            .as_object_mut()
            .expect("an object")
            .remove("setting_value");
        object(fields, &["id", "setting_code", "is_active"])
    };
    let tmdb_item = json!({"type": "object", "description": "TMDB's result object, passed through unchanged", "additionalProperties": true});
    let check = |statuses: &[&str]| {
        object(
            json!({"status": {"type": "string", "enum": statuses}}),
            &["status"],
        )
    };
    json!({
        "Object": {"type": "object", "additionalProperties": true},
        "Error": object(
            json!({
                "success": {"const": false},
                "error": object(json!({
                    "message": {"type": "string"},
                    "code": {"type": "string", "enum": error_codes()},
                    "status_code": {"type": "integer"},
                    "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                }), &["message", "code", "status_code"]),
                "detail": {"type": "string"},
            }),
            &["success", "error", "detail"],
        ),
        "MovieList": list(tmdb_item.clone()),
        "MovieDetail": object(json!({"success": {"const": true}, "data": tmdb_item}), &["success", "data"]),
        "User": object(json!({"id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"}}), &["id", "username", "email"]),
        "LoginResponse": object(json!({"refresh": {"type": "string"}, "access": {"type": "string"}, "username": {"type": "string"}, "email": {"type": "string"}}), &["refresh", "access", "username", "email"]),
        "TokenPair": object(json!({"access": {"type": "string"}, "refresh": {"type": "string"}}), &["access", "refresh"]),
        "Detail": object(json!({"detail": {"type": "string"}}), &["detail"]),
        "Profile": object(json!({"success": {"const": true}, "data": object(json!({
            "id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"},
            "date_joined": {"type": "string", "format": "date-time"}, "last_login": {"type": ["string", "null"], "format": "date-time"},
            "is_active": {"type": "boolean"}, "is_staff": {"type": "boolean"}, "favorites_count": {"type": "integer"},
        }), &["id", "username"]), "cached": {"type": "boolean"}}), &["success", "data", "cached"]),
        "Favorite": favorite.clone(),
        "FavoriteList": list(favorite.clone()),
        "FavoriteCheck": object(json!({"is_favorite": {"type": "boolean"}, "favorite_data": favorite, "detail": {"type": "string"}}), &["is_favorite"]),
        "CacheStats": object(json!({"success": {"const": true}, "data": {"type": "object", "additionalProperties": true}}), &["success", "data"]),
        "WarmRunEnvelope": object(json!({"success": {"const": true}, "data": {"type": ["object", "null"]}}), &["success", "data"]),
        "Refreshed": object(json!({"success": {"const": true}, "data": {"type": "object", "properties": {"key": {"type": "string"}, "stored_at": {"type": "string"}, "expires_at": {"type": "string"}}}}), &["success", "data"]),
        "RefreshingNamespace": object(json!({"success": {"const": true}, "data": {"type": "object", "properties": {"namespace": {"type": ["string", "null"]}, "refreshing": {"type": "integer"}}}}), &["success", "data"]),
        "Cleared": object(json!({"success": {"const": true}, "message": {"type": "string"}, "removed": {"type": "integer"}}), &["success", "message", "removed"]),
        "SettingEnvelope": object(json!({"success": {"const": true}, "message": {"type": "string", "description": "on create, update and delete"}, "data": setting}), &["success", "data"]),
        "SettingList": object(json!({"success": {"const": true}, "count": {"type": "integer"}, "data": {"type": "array", "items": setting_summary}}), &["success", "count", "data"]),
        "Health": object(json!({
            "status": {"type": "string", "enum": crate::service::health::STATUSES},
            "checks": object(json!({
                "cache": check(crate::service::health::CACHE),
                "database": check(crate::service::health::DATABASE),
                "tmdb": check(crate::service::health::TMDB),
                "components": check(crate::service::health::COMPONENTS),
            }), &["cache", "database", "tmdb", "components"]),
            "version": {"type": "string"},
            "uptime_seconds": {"type": "integer"},
        }), &["status", "checks"]),
    })
}

fn schemas() -> Value {
    let mut all = request_schemas();
    let Value::Object(answers) = response_schemas() else {
        unreachable!("an object literal")
    };
    all.extend(answers);
    Value::Object(all)
}

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for endpoint in endpoints() {
        let mut item = Map::new();
        for op in endpoint.operations {
            item.insert(op.method.to_owned(), operation_json(op));
        }
        paths.insert(endpoint.path.to_owned(), Value::Object(item));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "reelcache",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A caching TMDB movie API. Every answer carries X-Request-Id; movie answers carry X-Cache (HIT, MISS, STALE, BYPASS) and its RFC 9211 form Cache-Status (hit; ttl=N, fwd=miss with collapsed and stored, fwd=stale with ttl=-N and detail=revalidating|upstream-error|offline, fwd=bypass), and when cached Age, ETag and Cache-Control. Paths work with or without the trailing slash. Every bound, pattern and enum here is the one the server enforces (patterns are ECMA-262 with Unicode property escapes). A method a path does not list is answered 405 with Allow.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    })
}

#[cfg(test)]
mod summaries {
    use super::endpoints;
    use crate::config::SPECS;

    /// A summary that names a TTL names the default the configuration really has.
    #[test]
    fn cached_for_claims_match_the_configured_defaults() {
        for (path, key) in [
            ("/api/movies/{movie_id}/", "ttl.details"),
            ("/api/users/profile/", "ttl.user"),
        ] {
            let default = SPECS
                .iter()
                .find(|s| s.key == key)
                .and_then(|s| s.default)
                .unwrap();
            let summary = endpoints()
                .iter()
                .find(|e| e.path == path)
                .map(|e| e.operations[0].summary)
                .unwrap();
            assert!(
                summary.contains(&format!("cached; {default} by default")),
                "{path}: {summary} (default {key} = {default})"
            );
        }
    }
}
