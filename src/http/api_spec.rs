//! The API described once: every endpoint with its methods, who may call it, its parameters and
//! its answers. The OpenAPI document (`/api/docs.json`) and the route labels of logs and metrics
//! are generated from this table, and a test holds the router to it in both directions.

use serde_json::{Map, Value, json};

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

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub schema: &'static str,
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
    /// Error statuses this operation can answer besides the universal ones (429, 500).
    pub errors: &'static [u16],
}

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// OpenAPI form: `/api/movies/{movie_id}/`.
    pub path: &'static str,
    pub operations: &'static [Operation],
}

const fn query(name: &'static str, schema: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        required: false,
        schema,
        description,
    }
}

const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        required: true,
        schema: "integer",
        description,
    }
}

const PAGE: Param = query("page", "integer", "1..=500, default 1");
const LANGUAGE: Param = query(
    "language",
    "string",
    "xx or xx-YY, default from configuration",
);
const REGION: Param = query("region", "string", "ISO 3166-1 code, e.g. US");
const MOVIE_ID: Param = path("movie_id", "TMDB movie id, 1..=2147483647");
const UPSTREAM: &[u16] = &[400, 502, 503, 504];

const fn op(method: &'static str, summary: &'static str, tag: &'static str) -> Operation {
    Operation {
        method,
        summary,
        tag,
        access: Access::Public,
        params: &[],
        body: None,
        success: (200, "Object"),
        errors: &[],
    }
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/movies/trending/",
        operations: &[Operation {
            params: &[
                query("time_window", "string", "day | week, default day"),
                PAGE,
                LANGUAGE,
            ],
            success: (200, "MovieList"),
            errors: UPSTREAM,
            ..op(
                "get",
                "Trending movies, one cached page at a time",
                "movies",
            )
        }],
    },
    Endpoint {
        path: "/api/movies/search/",
        operations: &[Operation {
            params: &[
                Param {
                    required: true,
                    ..query("query", "string", "1..=200 characters, trimmed")
                },
                PAGE,
                LANGUAGE,
                REGION,
            ],
            success: (200, "MovieList"),
            errors: UPSTREAM,
            ..op("get", "Search movies (asked of TMDB every time)", "movies")
        }],
    },
    Endpoint {
        path: "/api/movies/popular/",
        operations: &[Operation {
            params: &[PAGE, LANGUAGE, REGION],
            success: (200, "MovieList"),
            errors: UPSTREAM,
            ..op("get", "Popular movies (asked of TMDB every time)", "movies")
        }],
    },
    Endpoint {
        path: "/api/movies/{movie_id}/recommendations/",
        operations: &[Operation {
            params: &[MOVIE_ID, PAGE, LANGUAGE],
            success: (200, "MovieList"),
            errors: &[400, 404, 502, 503, 504],
            ..op(
                "get",
                "Recommendations for a movie, one cached page at a time",
                "movies",
            )
        }],
    },
    Endpoint {
        path: "/api/movies/{movie_id}/",
        operations: &[Operation {
            params: &[MOVIE_ID, LANGUAGE],
            success: (200, "MovieDetail"),
            errors: &[400, 404, 502, 503, 504],
            ..op("get", "Movie details (cached 24 h)", "movies")
        }],
    },
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
                "The signed-in user's profile (cached 15 min)",
                "users",
            )
        }],
    },
    Endpoint {
        path: "/api/users/favorites/",
        operations: &[Operation {
            access: Access::User,
            params: &[
                query("page", "integer", "default 1"),
                query("page_size", "integer", "1..=100, default 20"),
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
            params: &[path("favorite_id", "favorite id")],
            success: (200, "Detail"),
            errors: &[401, 404],
            ..op("delete", "Remove one of the user's favorites", "favorites")
        }],
    },
    Endpoint {
        path: "/api/users/favorites/check/{tmdb_id}/",
        operations: &[Operation {
            access: Access::User,
            params: &[path("tmdb_id", "TMDB movie id")],
            success: (200, "FavoriteCheck"),
            errors: &[400, 401],
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
                    query("namespace", "string", "clear one namespace"),
                    query("key", "string", "clear one key"),
                ],
                success: (200, "Cleared"),
                errors: &[400, 401, 403],
                ..op("delete", "Clear the cache, a namespace or a key", "staff")
            },
        ],
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
                body: Some("SettingRequest"),
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
            params: &[Param {
                schema: "string",
                ..path("setting_code", "letters, digits, _ and -")
            }],
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
                params: &[path("setting_id", "setting id")],
                success: (200, "SettingEnvelope"),
                errors: &[401, 404],
                ..op("get", "One setting", "settings")
            },
            Operation {
                access: Access::Staff,
                params: &[path("setting_id", "setting id")],
                body: Some("SettingRequest"),
                success: (200, "SettingEnvelope"),
                errors: &[400, 401, 403, 404, 409, 413, 415],
                ..op("put", "Replace a setting", "settings")
            },
            Operation {
                access: Access::Staff,
                params: &[path("setting_id", "setting id")],
                body: Some("SettingRequest"),
                success: (200, "SettingEnvelope"),
                errors: &[400, 401, 403, 404, 409, 413, 415],
                ..op("patch", "Change some fields of a setting", "settings")
            },
            Operation {
                access: Access::Staff,
                params: &[path("setting_id", "setting id")],
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
            errors: &[503],
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
        path: "/",
        operations: &[Operation {
            success: (302, "Html"),
            ..op("get", "Redirect to the documentation", "operations")
        }],
    },
];

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

fn error_code(status: u16) -> &'static str {
    match status {
        400 => "VALIDATION_ERROR",
        401 => "AUTHENTICATION_FAILED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND or MOVIE_NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        429 => "RATE_LIMITED",
        502 => "UPSTREAM_ERROR",
        408 => "REQUEST_TIMEOUT",
        503 => "UPSTREAM_UNAVAILABLE or SERVICE_UNAVAILABLE",
        504 => "UPSTREAM_TIMEOUT",
        _ => "INTERNAL_ERROR",
    }
}

fn reference(schema: &str) -> Value {
    match schema {
        "integer" | "string" => json!({"type": schema}),
        "Html" | "Metrics" => json!({"type": "string"}),
        name => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
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
                "schema": reference(p.schema),
            })
        })
        .collect();
    let mut responses = Map::new();
    let (status, schema) = op.success;
    let content_type = match schema {
        "Html" => "text/html",
        "Metrics" => "text/plain",
        _ => "application/json",
    };
    responses.insert(
        status.to_string(),
        json!({"description": "success", "content": {content_type: {"schema": reference(schema)}}}),
    );
    for status in op.errors.iter().chain(&[405, 429, 500]) {
        responses.insert(
            status.to_string(),
            json!({
                "description": error_code(*status),
                "content": {"application/json": {"schema": reference("Error")}},
            }),
        );
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
            Access::Staff => "Requires a staff access token.",
            _ => "Requires an access token.",
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

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn schemas() -> Value {
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
    json!({
        "Object": {"type": "object", "additionalProperties": true},
        "Error": object(
            json!({
                "success": {"const": false},
                "error": object(json!({
                    "message": {"type": "string"},
                    "code": {"type": "string", "enum": [
                        "VALIDATION_ERROR", "AUTHENTICATION_FAILED", "PERMISSION_DENIED", "NOT_FOUND",
                        "MOVIE_NOT_FOUND", "METHOD_NOT_ALLOWED", "CONFLICT", "PAYLOAD_TOO_LARGE",
                        "UNSUPPORTED_MEDIA_TYPE", "RATE_LIMITED", "UPSTREAM_ERROR",
                        "UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT", "REQUEST_TIMEOUT",
                        "SERVICE_UNAVAILABLE", "INTERNAL_ERROR"]},
                    "status_code": {"type": "integer"},
                    "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                }), &["message", "code", "status_code"]),
                "detail": {"type": "string"},
            }),
            &["success", "error", "detail"],
        ),
        "MovieList": list(tmdb_item.clone()),
        "MovieDetail": object(json!({"success": {"const": true}, "data": tmdb_item}), &["success", "data"]),
        "RegisterRequest": object(json!({"username": {"type": "string", "minLength": 3, "maxLength": 150}, "email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 8}}), &["username", "password"]),
        "LoginRequest": object(json!({"username": {"type": "string"}, "password": {"type": "string"}}), &["username", "password"]),
        "RefreshRequest": object(json!({"refresh": {"type": "string"}}), &["refresh"]),
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
        "FavoriteRequest": object(json!({"tmdb_id": {"type": "integer", "minimum": 1, "maximum": 2147483647}, "title": {"type": "string", "maxLength": 255}, "poster_path": {"type": ["string", "null"], "maxLength": 255}, "overview": {"type": "string"}, "release_date": {"type": ["string", "null"], "format": "date"}}), &["tmdb_id", "title"]),
        "FavoriteList": list(favorite.clone()),
        "FavoriteCheck": object(json!({"is_favorite": {"type": "boolean"}, "favorite_data": favorite, "detail": {"type": "string"}}), &["is_favorite"]),
        "CacheStats": object(json!({"success": {"const": true}, "data": {"type": "object", "additionalProperties": true}}), &["success", "data"]),
        "Cleared": object(json!({"success": {"const": true}, "message": {"type": "string"}, "removed": {"type": "integer"}}), &["success", "message", "removed"]),
        "SettingRequest": object(json!({"setting_code": {"type": "string", "maxLength": 100, "description": "fixed at creation: ignored by PUT and PATCH"}, "setting_value": {"description": "any JSON value; required by POST and PUT"}, "description": {"type": "string", "maxLength": 1000}, "is_active": {"type": "boolean"}}), &[]),
        "SettingEnvelope": object(json!({"success": {"const": true}, "message": {"type": "string", "description": "on create, update and delete"}, "data": setting}), &["success", "data"]),
        "SettingList": object(json!({"success": {"const": true}, "count": {"type": "integer"}, "data": {"type": "array", "items": setting_summary}}), &["success", "count", "data"]),
        "Health": object(json!({"status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]}, "checks": {"type": "object"}}), &["status", "checks"]),
    })
}

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
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
            "description": "A caching TMDB movie API. Every answer carries X-Request-Id; movie answers carry X-Cache (HIT, MISS, STALE, BYPASS), and when cached Age, ETag and Cache-Control. Paths work with or without the trailing slash.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    })
}
