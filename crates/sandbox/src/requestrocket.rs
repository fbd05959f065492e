//! RequestRocket, imitated: every resource of the Core API lives in a store per user token, so
//! what is created can be read, updated, listed (page/limit) and deleted, and an id that does
//! not exist (or belongs to a deleted parent) is a 404 naming it. Request history and
//! notifications are read-only and made up on first read. No credits: only the rate limit.
//!
//! The resources are data ([`RESOURCES`]): the last literal segment of a collection path picks
//! the resource, and the spec's path templates decide what each operation does (a collection:
//! list or create; a collection followed by `{id}`: read, update or delete).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::Provider;
use crate::engine::{AltKey, Behaviour, Call, Envelope, Kind, Refusal, Reply, Server, Style, lock};

/// One kind of resource.
struct Resource {
    /// The collection's last path segment (`credentials`).
    segment: &'static str,
    /// The envelope key of one (`credential`).
    singular: &'static str,
    /// The list key (`credentials`).
    plural: &'static str,
    /// The field holding the id.
    id_field: &'static str,
    /// The id prefix (`cred_`).
    prefix: &'static str,
    /// The schema of one.
    schema: &'static str,
    /// Read-only: made up on first read instead of created.
    made_up: usize,
    /// Fields of the create body that are never stored or returned (secrets).
    write_only: &'static [&'static str],
    /// Created and updated timestamp fields.
    stamps: (&'static str, &'static str),
}

const RESOURCES: &[Resource] = &[
    Resource {
        segment: "clients",
        singular: "client",
        plural: "clients",
        id_field: "clientId",
        prefix: "client_",
        schema: "Client",
        made_up: 0,
        write_only: &[],
        stamps: ("createdAt", "updatedAt"),
    },
    Resource {
        segment: "credentials",
        singular: "credential",
        plural: "credentials",
        id_field: "sKey",
        prefix: "cred_",
        schema: "Credential",
        made_up: 0,
        write_only: &["credentialSecret"],
        stamps: ("credentialCreatedAt", "credentialUpdatedAt"),
    },
    Resource {
        segment: "targets",
        singular: "target",
        plural: "targets",
        id_field: "sKey",
        prefix: "tgt_",
        schema: "Target",
        made_up: 0,
        write_only: &[],
        stamps: ("targetCreatedAt", "targetUpdatedAt"),
    },
    Resource {
        segment: "proxies",
        singular: "proxy",
        plural: "proxies",
        id_field: "sKey",
        prefix: "proxy_",
        schema: "Proxy",
        made_up: 0,
        write_only: &[],
        stamps: ("proxyCreatedAt", "proxyUpdatedAt"),
    },
    Resource {
        segment: "rules",
        singular: "rule",
        plural: "rules",
        id_field: "sKey",
        prefix: "rule_",
        schema: "Rule",
        made_up: 0,
        write_only: &[],
        stamps: ("ruleCreatedAt", "ruleCreatedAt"),
    },
    Resource {
        segment: "meters",
        singular: "meter",
        plural: "meters",
        id_field: "sKey",
        prefix: "meter_",
        schema: "Meter",
        made_up: 0,
        write_only: &[],
        stamps: ("meterCreatedAt", "meterUpdatedAt"),
    },
    Resource {
        segment: "requests",
        singular: "request",
        plural: "requests",
        id_field: "sKey",
        prefix: "req_",
        schema: "RequestLog",
        made_up: 5,
        write_only: &[],
        stamps: ("", ""),
    },
    Resource {
        segment: "notifications",
        singular: "notification",
        plural: "notifications",
        id_field: "notificationId",
        prefix: "notif_",
        schema: "Notification",
        made_up: 3,
        write_only: &[],
        stamps: ("createdAt", "createdAt"),
    },
    Resource {
        segment: "system",
        singular: "notification",
        plural: "notifications",
        id_field: "notificationId",
        prefix: "notif_sys_",
        schema: "Notification",
        made_up: 3,
        write_only: &[],
        stamps: ("createdAt", "createdAt"),
    },
];

fn resource(segment: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.segment == segment)
}

/// What an operation does, read from its path template.
enum Action {
    List(&'static Resource, String),
    Create(&'static Resource, String),
    Read(&'static Resource, String, String),
    Update(&'static Resource, String, String),
    Delete(&'static Resource, String, String),
    Configure(String),
    Telemetry(String),
    Unknown,
}

#[derive(Default)]
struct Store {
    /// Collection path (with ids, per token) -> its items in creation order.
    collections: BTreeMap<String, Vec<Value>>,
    next: u64,
}

/// The RequestRocket behaviour.
#[derive(Default)]
pub(crate) struct RequestRocket {
    store: Mutex<Store>,
}

/// The current time as RequestRocket writes it (ISO 8601, UTC).
fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The user id of a token (stable).
fn user_of(token: &str) -> String {
    format!("user_{}", crate::synth::Rng::seeded(token).hex(12))
}

fn not_found(param: &str, id: &str) -> Refusal {
    let what = param.trim_end_matches("Id");
    let mut code = String::from("INVALID_");
    for c in what.chars() {
        if c.is_ascii_uppercase() {
            code.push('_');
        }
        code.push(c.to_ascii_uppercase());
    }
    code.push_str("_ID");
    Refusal::new(Kind::NotFound, format!("No {what} with id `{id}`")).code(code)
}

impl RequestRocket {
    fn action(call: &Call<'_>) -> Action {
        let segments = call.op.segments();
        // The concrete path, per token: `{clientId}` replaced by its value.
        let concrete = |upto: usize| -> String {
            let mut out = format!("{}:", call.key);
            for s in &segments[..upto] {
                out.push('/');
                match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => out.push_str(call.path.get(name).map_or("", String::as_str)),
                    None => out.push_str(s),
                }
            }
            out
        };
        let n = segments.len();
        let last = segments.last().copied().unwrap_or_default();
        let method = call.op.method.as_str();
        if last == "configuration" {
            return Action::Configure(concrete(n - 1));
        }
        if last == "telemetry" {
            return Action::Telemetry(concrete(n - 1));
        }
        if let Some(param) = last.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
            && n >= 2
            && let Some(r) = resource(segments[n - 2])
        {
            let id = call.path.get(param).cloned().unwrap_or_default();
            let collection = concrete(n - 1);
            return match method {
                "GET" => Action::Read(r, collection, id),
                "PUT" | "PATCH" => Action::Update(r, collection, id),
                "DELETE" => Action::Delete(r, collection, id),
                _ => Action::Unknown,
            };
        }
        if let Some(r) = resource(last) {
            let collection = concrete(n);
            return match method {
                "GET" => Action::List(r, collection),
                "POST" => Action::Create(r, collection),
                _ => Action::Unknown,
            };
        }
        Action::Unknown
    }

    /// Checks that every id on the way exists: `/clients/{clientId}/proxies/{proxyId}/meters`
    /// needs the client and the proxy.
    fn check_parents(&self, call: &Call<'_>) -> Result<(), Refusal> {
        let segments = call.op.segments();
        let store = lock(&self.store);
        let mut path = format!("{}:", call.key);
        for (i, s) in segments.iter().enumerate() {
            let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                path.push('/');
                path.push_str(s);
                continue;
            };
            let id = call.path.get(name).cloned().unwrap_or_default();
            let is_last = i + 1 == segments.len();
            if name == "userId" {
                if id != user_of(&call.key) {
                    return Err(not_found(name, &id));
                }
            } else if !is_last
                && let Some(r) = i.checked_sub(1).and_then(|p| resource(segments[p]))
                && r.made_up == 0
            {
                let found = store
                    .collections
                    .get(&path)
                    .is_some_and(|items| items.iter().any(|v| v[r.id_field] == json!(id)));
                if !found {
                    return Err(not_found(name, &id));
                }
            }
            path.push('/');
            path.push_str(&id);
        }
        Ok(())
    }

    fn make(&self, call: &Call<'_>, r: &Resource, store: &mut Store, collection: &str) -> Value {
        store.next += 1;
        let schema = json!({"$ref": format!("#/components/schemas/{}", r.schema)});
        let mut synth = call.synth();
        for _ in 0..store.next % 7 {
            synth.rng().next_u64();
        }
        let mut item = synth.value(&schema);
        let id = format!(
            "{}{}",
            r.prefix,
            crate::synth::Rng::seeded(&format!("{collection}/{}", store.next)).hex(12)
        );
        if let Some(o) = item.as_object_mut() {
            o.insert(r.id_field.into(), Value::String(id));
            let user = user_of(&call.key);
            if o.contains_key("userId") {
                o.insert("userId".into(), Value::String(user.clone()));
            }
            if let Some(client) = call.path.get("clientId") {
                for field in ["clientId", "pKey", "parentId"] {
                    if o.contains_key(field) {
                        o.insert(field.into(), Value::String(client.clone()));
                    }
                }
            }
            for (param, field) in [
                ("proxyId", "parentId"),
                ("credentialId", "parentId"),
                ("targetId", "parentId"),
                ("proxyId", "pKey"),
            ] {
                if let Some(v) = call.path.get(param)
                    && o.contains_key(field)
                {
                    o.insert(field.into(), Value::String(v.clone()));
                }
            }
            let now = now_iso();
            for stamp in [r.stamps.0, r.stamps.1] {
                if !stamp.is_empty() {
                    o.insert(stamp.into(), Value::String(now.clone()));
                }
            }
        }
        item
    }

    fn page(call: &Call<'_>, items: &[Value], r: &Resource) -> Value {
        let default_limit = if r.segment == "requests" { 1000 } else { 20 };
        let page = call.int_param("page").unwrap_or(1).max(1);
        let limit = call.int_param("limit").unwrap_or(default_limit).max(1);
        let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let start = usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX);
        let slice: Vec<Value> = items
            .iter()
            .skip(start)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        let mut out = Map::new();
        out.insert(r.plural.into(), Value::Array(slice));
        out.insert("message".into(), json!("Success"));
        if r.segment == "requests" {
            out.insert("totalRequests".into(), json!(total));
        } else if r.segment != "rules" && r.segment != "meters" {
            out.insert(
                "pagination".into(),
                json!({"page": page, "limit": limit, "total": total, "pages": crate::engine::pages(total, limit)}),
            );
        }
        Value::Object(out)
    }

    fn wrapped(r: &Resource, item: Value, message: &str) -> Value {
        json!({r.singular: item, "message": message})
    }

    fn seed_made_up(&self, call: &Call<'_>, r: &Resource, store: &mut Store, collection: &str) {
        if r.made_up == 0 || store.collections.contains_key(collection) {
            return;
        }
        let mut items = Vec::new();
        for _ in 0..r.made_up {
            let mut item = self.make(call, r, store, collection);
            if r.schema == "Notification" {
                let kind = match r.segment {
                    "system" => "system",
                    _ if collection.contains("/users/") => "user",
                    _ => "client",
                };
                crate::engine::set(&mut item, "type", json!(kind));
                crate::engine::set(&mut item, "read", json!(false));
            }
            items.push(item);
        }
        store.collections.insert(collection.to_owned(), items);
    }
}

impl Behaviour for RequestRocket {
    fn check(&self, call: &Call<'_>) -> Result<(), Refusal> {
        self.check_parents(call)
    }

    fn handle(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut store = lock(&self.store);
        match Self::action(call) {
            Action::List(r, collection) => {
                self.seed_made_up(call, r, &mut store, &collection);
                let items = store
                    .collections
                    .get(&collection)
                    .cloned()
                    .unwrap_or_default();
                Ok(Reply::json(Self::page(call, &items, r)))
            }
            Action::Create(r, collection) => {
                let mut item = self.make(call, r, &mut store, &collection);
                if let (Some(o), Some(Value::Object(body))) = (item.as_object_mut(), &call.body) {
                    for (k, v) in body {
                        if !r.write_only.contains(&k.as_str()) {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                }
                if r.segment == "clients" {
                    let name = item.get("clientName").cloned().unwrap_or(Value::Null);
                    let taken = store.collections.get(&collection).is_some_and(|items| {
                        items.iter().any(|c| c.get("clientName") == Some(&name))
                    });
                    if taken {
                        return Err(Refusal::new(
                            Kind::Conflict,
                            format!("A client named {name} already exists"),
                        ));
                    }
                    crate::engine::set(
                        &mut item,
                        "clientMembers",
                        json!([{"userId": user_of(&call.key), "roles": ["owner"]}]),
                    );
                    crate::engine::set(
                        &mut item,
                        "configuration",
                        json!({"limits": {"requestsPerMinute": 100, "requestsPerDay": 20000}}),
                    );
                }
                store
                    .collections
                    .entry(collection)
                    .or_default()
                    .push(item.clone());
                let body = match r.segment {
                    "clients" => item,
                    "rules" => json!({"rules": [item], "message": "Rule created"}),
                    _ => Self::wrapped(r, item, "Created"),
                };
                Ok(Reply::json(body))
            }
            Action::Read(r, collection, id) => {
                self.seed_made_up(call, r, &mut store, &collection);
                let item = store
                    .collections
                    .get(&collection)
                    .and_then(|items| items.iter().find(|v| v[r.id_field] == json!(id)))
                    .cloned()
                    .ok_or_else(|| not_found(&format!("{}Id", r.singular), &id))?;
                Ok(Reply::json(Self::wrapped(r, item, "Success")))
            }
            Action::Update(r, collection, id) => {
                let item = store
                    .collections
                    .get_mut(&collection)
                    .and_then(|items| items.iter_mut().find(|v| v[r.id_field] == json!(id)))
                    .ok_or_else(|| not_found(&format!("{}Id", r.singular), &id))?;
                if let (Some(o), Some(Value::Object(body))) = (item.as_object_mut(), &call.body) {
                    for (k, v) in body {
                        if !r.write_only.contains(&k.as_str()) {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                    if !r.stamps.1.is_empty() {
                        o.insert(r.stamps.1.into(), Value::String(now_iso()));
                    }
                }
                let item = item.clone();
                Ok(Reply::json(Self::wrapped(r, item, "Updated")))
            }
            Action::Delete(r, collection, id) => {
                let items = store.collections.entry(collection.clone()).or_default();
                let before = items.len();
                items.retain(|v| v[r.id_field] != json!(id));
                if items.len() == before {
                    return Err(not_found(&format!("{}Id", r.singular), &id));
                }
                // Everything below the deleted item goes with it.
                let below = format!("{collection}/{id}/");
                store.collections.retain(|k, _| !k.starts_with(&below));
                Ok(Reply::json(
                    json!({"message": format!("{} deleted", r.singular)}),
                ))
            }
            Action::Configure(client_path) => {
                let (collection, id) = client_path
                    .rsplit_once('/')
                    .map(|(c, i)| (c.to_owned(), i.to_owned()))
                    .unwrap_or_default();
                let configuration = call
                    .body_at("/configuration")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let client = store
                    .collections
                    .get_mut(&collection)
                    .and_then(|items| items.iter_mut().find(|v| v["clientId"] == json!(id)))
                    .ok_or_else(|| not_found("clientId", &id))?;
                crate::engine::set(client, "configuration", configuration.clone());
                Ok(Reply::json(
                    json!({"configuration": configuration, "message": "Configuration updated"}),
                ))
            }
            Action::Telemetry(owner) => {
                let requests: usize = store
                    .collections
                    .iter()
                    .filter(|(k, _)| k.starts_with(&owner) && k.ends_with("/requests"))
                    .map(|(_, v)| v.len())
                    .sum();
                let meters: usize = store
                    .collections
                    .iter()
                    .filter(|(k, _)| k.starts_with(&owner) && k.ends_with("/meters"))
                    .map(|(_, v)| v.len())
                    .sum();
                Ok(Reply::json(json!({
                    "telemetry": {"totalRequests": requests, "byStatus": {"200": requests}, "meters": meters},
                    "message": "Success"
                })))
            }
            Action::Unknown => Ok(Reply::json(call.synthesize())),
        }
    }
}

/// The RequestRocket server.
pub(crate) fn server() -> Result<Server, String> {
    let style = Style {
        provider: Provider::RequestRocket,
        profile: &tollgate_requestrocket::PROFILE,
        alt_keys: &[] as &[AltKey],
        envelope: Envelope::ErrorCode,
        rate_headers: false,
        throttled: |s| format!("Rate limit exceeded. Try again in {s} seconds."),
        unauthorized: "Unauthorized",
        out_of_credits: None,
    };
    Server::new(
        style,
        include_str!("../specs/requestrocket.json"),
        Box::new(RequestRocket::default()),
    )
}
