//! The query parameters each route reads, as published in `/openapi.json`. The bounds and
//! enums are the ones `switchyard_domain::QueryParams` and core enforce (its constants
//! where there are any), so the document and the validators agree.

use switchyard_domain::{MAX_LIMIT, MAX_OFFSET};
use utoipa::openapi::{
    Content, KnownFormat, ObjectBuilder, Required, SchemaFormat, Type,
    path::{Parameter, ParameterBuilder, ParameterIn},
};

/// What values a query parameter takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Free text.
    Text,
    /// An entity id.
    Uuid,
    /// `true`/`false`.
    Bool,
    /// RFC 3339 date-time.
    Time,
    /// An unsigned integer within bounds.
    Int { min: u64, max: Option<u64> },
    /// Any integer.
    Signed,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// A JSON object, URL-encoded.
    JsonObject,
    /// A duration such as `720h`.
    Duration,
}

/// One documented query parameter.
#[derive(Debug, Clone, Copy)]
pub struct QueryDoc {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
}

const fn q(name: &'static str, kind: Kind, description: &'static str) -> QueryDoc {
    QueryDoc {
        name,
        kind,
        description,
    }
}

const OFFSET: QueryDoc = q(
    "offset",
    Kind::Int {
        min: 0,
        max: Some(MAX_OFFSET),
    },
    "Items to skip",
);
const LIMIT: QueryDoc = q(
    "limit",
    Kind::Int {
        min: 1,
        max: Some(MAX_LIMIT),
    },
    "Page size",
);
const DIR: QueryDoc = q("dir", Kind::Enum(&["asc", "desc"]), "Sort direction");
const STATUS: QueryDoc = q(
    "status",
    Kind::Enum(&["enabled", "disabled", "deleted", "all"]),
    "Status filter (default enabled)",
);
const NAME: QueryDoc = q("name", Kind::Text, "Name contains (case-insensitive)");
const METADATA: QueryDoc = q(
    "metadata",
    Kind::JsonObject,
    "Metadata containing this JSON object",
);
const TAGS: QueryDoc = q("tags", Kind::Text, "Comma-separated tags (any of them)");
const ID: QueryDoc = q("id", Kind::Text, "Id contains");
const ONLY_TOTAL: QueryDoc = q("only_total", Kind::Bool, "Count only");
const CREATED_FROM: QueryDoc = q("created_from", Kind::Time, "Created at or after");
const CREATED_TO: QueryDoc = q("created_to", Kind::Time, "Created at or before");

/// The filters every page of named entities reads (`QueryParams::page`), then `extra`.
macro_rules! page_with {
    ($status:expr; $($extra:expr),* $(,)?) => {
        &[
            OFFSET, LIMIT, ORDER, DIR, $status, NAME, METADATA, TAGS, ID, ONLY_TOTAL,
            CREATED_FROM, CREATED_TO, $($extra),*
        ]
    };
}

const ORDER: QueryDoc = q(
    "order",
    Kind::Enum(&["name", "created_at", "updated_at"]),
    "Sort key",
);

/// Clients, channels: the shared page filters plus connections and parent group.
pub const ENTITIES: &[QueryDoc] = page_with!(
    STATUS;
    q("channel", Kind::Uuid, "Connected to this channel"),
    q("client", Kind::Uuid, "Connected to this client"),
    q(
        "connection_type",
        Kind::Enum(&["publish", "subscribe"]),
        "With the channel/client filter: this connection type",
    ),
    q(
        "group",
        Kind::Uuid,
        "Parent group (empty: entities without one)",
    ),
);

/// Groups: the shared page filters plus roots only and subtree.
pub const GROUPS: &[QueryDoc] = page_with!(
    STATUS;
    q("root_group", Kind::Bool, "Only groups without a parent"),
    q("group", Kind::Uuid, "Descendants of this group"),
);

/// Domains: page filters; status also takes `freezed`.
pub const DOMAINS: &[QueryDoc] = page_with!(
    q(
        "status",
        Kind::Enum(&["enabled", "disabled", "freezed", "deleted", "all"]),
        "Status filter (default enabled)",
    );
);

const USER_ORDER: QueryDoc = q(
    "order",
    Kind::Enum(&[
        "created_at",
        "updated_at",
        "first_name",
        "last_name",
        "username",
        "email",
    ]),
    "Sort key",
);

/// Users.
pub const USERS: &[QueryDoc] = &[
    OFFSET,
    LIMIT,
    USER_ORDER,
    DIR,
    STATUS,
    METADATA,
    TAGS,
    ID,
    ONLY_TOTAL,
    q("username", Kind::Text, "Username contains"),
    q("email", Kind::Text, "E-mail contains"),
    q("first_name", Kind::Text, "First name contains"),
    q("last_name", Kind::Text, "Last name contains"),
];

/// Invitations.
pub const INVITATIONS: &[QueryDoc] = &[
    OFFSET,
    LIMIT,
    q("domain_id", Kind::Uuid, "Of this domain"),
    q("invitee_user_id", Kind::Uuid, "To this user"),
    q("invited_by", Kind::Uuid, "From this user"),
    q(
        "state",
        Kind::Enum(&["all", "pending", "accepted", "rejected"]),
        "Invitation state",
    ),
    ONLY_TOTAL,
];

/// A limit where 0 asks for the total only.
const LIMIT_OR_TOTAL: QueryDoc = q(
    "limit",
    Kind::Int {
        min: 0,
        max: Some(MAX_LIMIT),
    },
    "Page size (0: the total only)",
);

/// Plain pages: offset and limit.
pub const PAGE: &[QueryDoc] = &[OFFSET, LIMIT];

/// Certificates.
pub const CERTS: &[QueryDoc] = &[
    OFFSET,
    LIMIT_OR_TOTAL,
    q("entity_id", Kind::Uuid, "Of this client"),
];

/// Bootstrap configurations.
pub const CONFIGS: &[QueryDoc] = &[
    OFFSET,
    LIMIT_OR_TOTAL,
    q("name", Kind::Text, "Name contains"),
    q("external_id", Kind::Text, "This external id"),
    q("state", Kind::Enum(&["0", "1"]), "0 inactive, 1 active"),
];

/// A certificate's lifetime.
pub const TTL: &[QueryDoc] = &[q("ttl", Kind::Duration, "Lifetime, e.g. 720h")];

/// Group hierarchy.
pub const HIERARCHY: &[QueryDoc] = &[
    q(
        "level",
        Kind::Int {
            min: 0,
            max: Some(20),
        },
        "Levels to walk (0: all)",
    ),
    q(
        "direction",
        Kind::Signed,
        "0 or more: ancestors; negative (default): descendants",
    ),
    q("tree", Kind::Bool, "As a tree"),
];

/// Children of a group.
pub const CHILDREN: &[QueryDoc] = &[
    OFFSET,
    LIMIT,
    q(
        "start_level",
        Kind::Int { min: 0, max: None },
        "First level",
    ),
    q(
        "end_level",
        Kind::Int { min: 0, max: None },
        "Last level (0: all)",
    ),
];

/// Viewing a client or channel.
pub const VIEW: &[QueryDoc] = &[q("roles", Kind::Bool, "Include the caller's roles")];

/// A body taken as it is: JSON of any shape for JSON media types, bytes otherwise.
pub fn raw_body_schema(media: &str) -> utoipa::openapi::Schema {
    let b = ObjectBuilder::new();
    let b = if media.contains("json") {
        b
    } else {
        b.schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
    };
    utoipa::openapi::Schema::Object(b.build())
}

/// The WebSocket handshake (RFC 6455 §4.1), as required request headers.
pub fn websocket_headers() -> Vec<Parameter> {
    let header = |name: &str, schema: utoipa::openapi::Object| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .schema(Some(schema))
            .build()
    };
    let word = |w: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([w.to_string()]))
            .build()
    };
    vec![
        header("Upgrade", word("websocket")),
        header("Connection", word("Upgrade")),
        header("Sec-WebSocket-Version", word("13")),
        header(
            "Sec-WebSocket-Key",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9+/]{22}==$"))
                .build(),
        ),
    ]
}

/// How a route authenticates its caller, as published in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A user's Bearer token (access token, PAT or API key; refresh and reset tokens
    /// where the route takes those).
    User,
    /// A client of the message plane: `Authorization: Client <secret>` or Basic.
    Client,
    /// The internal agent secret (`Bearer <MG_CERTS_SECRET>`).
    Agent,
    /// A Bearer token, or none (self-registration, `/metrics` without its token).
    Optional,
    /// None.
    Public,
}

/// The OpenAPI form of a query parameter.
pub fn parameter(p: &QueryDoc) -> Parameter {
    let b = ParameterBuilder::new()
        .name(p.name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(p.description));
    let schema = ObjectBuilder::new();
    let schema = match p.kind {
        Kind::Text | Kind::Duration => schema.schema_type(Type::String),
        // An empty value means "not given", as the validators read it.
        Kind::Uuid => schema.schema_type(Type::String).pattern(Some(
            "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$",
        )),
        Kind::Bool => schema.schema_type(Type::Boolean),
        Kind::Time => schema.schema_type(Type::String).pattern(Some(
            r"^$|^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$",
        )),
        // Numbers: an empty value is "not given" too (`limit=` is the default page).
        Kind::Signed => return b.schema(Some(or_empty(schema.schema_type(Type::Integer)))).build(),
        Kind::Int { min, max } => {
            let int = schema
                .schema_type(Type::Integer)
                .minimum(Some(min as f64))
                .maximum(max.map(|m| m as f64));
            return b.schema(Some(or_empty(int))).build();
        }
        // The empty value is the default, as the validators read it.
        Kind::Enum(values) => schema
            .schema_type(Type::String)
            .enum_values(Some(std::iter::once("").chain(values.iter().copied()))),
        Kind::JsonObject => {
            let obj = ObjectBuilder::new().schema_type(Type::Object).build();
            return b
                .content(
                    "application/json",
                    Content::new(Some(utoipa::openapi::Schema::Object(obj))),
                )
                .build();
        }
    };
    b.schema(Some(schema.build())).build()
}

/// `schema`, or the empty string.
fn or_empty(schema: ObjectBuilder) -> utoipa::openapi::Schema {
    let empty = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(0))
        .build();
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(schema.build())
        .item(empty)
        .build()
        .into()
}

/// Path parameters that are entity ids (uuid). Others: role ids (`<entity>_admin`),
/// certificate serials, bootstrap external ids, the message plane's channel routes.
/// On `/{domainID}/certs/{id}…`, `id` is a serial, except on the two DELETE routes where
/// it is a client id.
pub fn path_is_uuid(method: &axum::http::Method, path: &str, name: &str) -> bool {
    if path.starts_with("/m/") {
        return false;
    }
    match name {
        "domainID" | "clientID" | "channelID" | "groupID" | "patID" | "keyID" | "configID" => true,
        // The document-era publish takes the channel's id only.
        "channel" => path.starts_with("/channels/"),
        "id" => !path.contains("/certs/") || method == axum::http::Method::DELETE,
        _ => false,
    }
}
