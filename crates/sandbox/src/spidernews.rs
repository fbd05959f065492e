//! Spider News, imitated: a deterministic news graph (the entities and connections of the
//! documentation's examples, plus generated ones), keys with monthly row allowances, the
//! pre-flight row check (402 when the most a request could return exceeds what is left), and
//! billing of `rows_returned` = unique entities + unique connections actually returned.
//!
//! Served by the same spec-driven engine as the other providers: the engine routes and checks
//! every request against `specs/spidernews.json` (keys in `X-API-KEY` or `api_key`, limits,
//! enumerations, UUIDs, dates; list filters repeated or comma-joined) and answers refusals in
//! Spider News's `{"message": ...}` envelope; this module adds the graph and the provider's own
//! rules. Conventions where the provider documents nothing (docs/providers/spidernews.md, gaps
//! G3..G10): 400 (bad parameter, or a path without both ends), 401 (key), 402 (rows; with
//! `rows_required` and `rows_remaining`); names match entity names and aliases
//! case-insensitively; a UUID wins over a name; dates are inclusive; paths are simple, at most 9
//! hops, shortest first, edges walked in either direction.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine::{AltKey, Behaviour, Call, Envelope, Kind, Refusal, Reply, Server, Style};

/// The key the documentation uses as its example; the sandbox accepts it.
pub const EXAMPLE_KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";

/// Rows a new key may request per month in the sandbox.
pub const DEFAULT_ROWS: i64 = 10_000;

/// The 12 entity types.
pub const ENTITY_TYPES: [&str; 12] = [
    "ORG",
    "PRODUCT",
    "GPE",
    "PERSON",
    "TITLE",
    "FAC",
    "TECHNOLOGY",
    "LAW",
    "LOC",
    "NORP",
    "THREAT",
    "EVENT",
];

/// The 25 connection types.
pub const CONNECTION_TYPES: [&str; 25] = [
    "Coop",
    "Oppo",
    "Legal",
    "Deal",
    "GoodsTran",
    "Sanction",
    "Merger",
    "Acquisition",
    "IsPartOf",
    "IsA",
    "HasTitle",
    "Competitors",
    "EquivalentTo",
    "BetterThan",
    "IsSubclassOf",
    "WorksFor",
    "Owns",
    "OperatesIn",
    "IsFrom",
    "Uses",
    "Produces",
    "Affects",
    "Prevents",
    "ParticipatesIn",
    "KnownAssociates",
];

/// Rows per unit of each route's limit parameter.
const ROWS_PER_CONNECTION: i64 = 3;
const ROWS_PER_PATH: i64 = 19;
const MAX_HOPS: usize = 9;

#[derive(Clone, Debug)]
struct Entity {
    uuid: String,
    name: String,
    kind: String,
    aliases: Vec<String>,
    occurrences: u64,
}

#[derive(Clone, Debug)]
struct Connection {
    source: usize,
    target: usize,
    kind: String,
    article: usize,
    context: String,
}

#[derive(Clone, Debug)]
struct Article {
    title: String,
    url: String,
    site: String,
    date: Option<String>,
}

/// The graph and the keys' row ledgers.
#[derive(Debug)]
pub struct SpiderNews {
    entities: Vec<Entity>,
    connections: Vec<Connection>,
    articles: Vec<Article>,
    accounts: Arc<crate::engine::Accounts>,
}

/// A deterministic 128-bit hash rendered as a version-4 UUID.
fn uuid_of(seed: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x9e37_79b9_7f4a_7c15;
    for byte in seed.bytes() {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        b = (b ^ u64::from(byte))
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .rotate_left(29);
    }
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

impl SpiderNews {
    /// The sandbox's data set: the documented examples, a chain from Tesla to Raytheon, and
    /// generated companies, people and products connected by articles.
    pub fn new() -> Self {
        let mut g = SpiderNews {
            entities: Vec::new(),
            connections: Vec::new(),
            articles: Vec::new(),
            accounts: Arc::default(),
        };
        let fixed: &[(&str, &str, &str, &[&str], u64)] = &[
            (
                "ab33916f-395d-4e36-b7d6-3a773f39bfc5",
                "Facebook",
                "PRODUCT",
                &[],
                151,
            ),
            (
                "314e3b58-0283-483b-b996-1441aa63bfca",
                "Facebook",
                "ORG",
                &[],
                82,
            ),
            (
                "01167343-b974-4652-8a06-7cadf0f9f041",
                "Facebook Inc",
                "ORG",
                &[],
                2,
            ),
            (
                "2dae89f6-6804-47d6-969e-810eb6620c66",
                "Raul Castro",
                "PERSON",
                &[],
                2,
            ),
            (
                "2fde488e-28c7-4662-8e81-970508ecdd64",
                "John William Kirby Kelley",
                "PERSON",
                &["Kelley"],
                3,
            ),
            (
                "5ed68a8c-48b4-4cf0-b50d-3c79dd56e7dc",
                "Deadnet",
                "ORG",
                &[],
                4,
            ),
            (
                "170dd88e-9de6-419a-b5b9-bc40c9a518df",
                "Old Dominion University",
                "ORG",
                &["ODU"],
                9,
            ),
            (
                "9aba98c5-d74f-4311-b22d-91a3404c44b6",
                "Raytheon",
                "ORG",
                &["RTX"],
                120,
            ),
            (
                "7a780507-d8f4-41d8-ab6a-a67475d1c56a",
                "Lockheed Martin",
                "ORG",
                &[],
                140,
            ),
        ];
        for (uuid, name, kind, aliases, occ) in fixed {
            g.entities.push(Entity {
                uuid: (*uuid).into(),
                name: (*name).into(),
                kind: (*kind).into(),
                aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                occurrences: *occ,
            });
        }
        for (name, kind, occ) in [
            ("Tesla", "ORG", 310),
            ("Elon Musk", "PERSON", 280),
            ("SpaceX", "ORG", 190),
            ("NASA", "ORG", 170),
            ("AMD", "ORG", 95),
            ("AI", "TECHNOLOGY", 400),
            ("United States", "GPE", 900),
            ("Pentagon", "FAC", 60),
        ] {
            g.add_entity(name, kind, occ);
        }
        let krebs = g.add_article(
            "Alleged Member of Neo-Nazi Swatting Group Charged – Krebs on Security",
            "https://krebsonsecurity.com/2020/01/alleged-member-of-neo-nazi-swatting-group-charged/",
            "https://krebsonsecurity.com/",
            Some("2020-01-10"),
        );
        g.connect(
            4,
            "WorksFor",
            5,
            krebs,
            "” Kelley allegedly explained to fellow Deadnet members he hoped the swatting would",
        );
        g.connect(
            4,
            "WorksFor",
            6,
            krebs,
            "Kelley was a student studying cybersecurity at Old Dominion University",
        );
        let id = |g: &SpiderNews, name: &str| {
            g.entities.iter().position(|e| e.name == name).unwrap_or(0)
        };
        let chain = [
            ("Elon Musk", "WorksFor", "Tesla", "2024-05-02"),
            ("Elon Musk", "Owns", "SpaceX", "2024-06-11"),
            ("SpaceX", "Deal", "NASA", "2024-08-20"),
            ("NASA", "Coop", "Lockheed Martin", "2024-09-03"),
            ("Lockheed Martin", "Competitors", "Raytheon", "2024-10-15"),
            ("Raytheon", "Deal", "Pentagon", "2024-11-01"),
            ("Pentagon", "IsFrom", "United States", "2024-11-02"),
            ("Tesla", "OperatesIn", "United States", "2024-03-12"),
            ("AMD", "Produces", "AI", "2024-07-07"),
            ("Facebook", "Uses", "AI", "2024-02-14"),
            ("Raytheon", "Uses", "AI", "2025-01-20"),
        ];
        for (i, (a, kind, b, date)) in chain.iter().enumerate() {
            let (a, b) = (id(&g, a), id(&g, b));
            let article = g.add_article(
                &format!("Sandbox story {i}"),
                &format!("https://news.example/{i}"),
                "https://news.example/",
                Some(date),
            );
            g.connect(
                a,
                kind,
                b,
                article,
                &format!("{} {} {}", g.entities[a].name, kind, g.entities[b].name),
            );
        }
        // Generated companies, people and products, connected deterministically.
        let base = g.entities.len();
        for i in 0..120 {
            let kind = ENTITY_TYPES[i % ENTITY_TYPES.len()];
            g.add_entity(
                &format!("Sandbox {} {i}", kind.to_lowercase()),
                kind,
                1 + (i as u64 * 7) % 50,
            );
        }
        for i in 0..360 {
            let a = base + (i * 7) % 120;
            let b = base + (i * 13 + 5) % 120;
            if a == b {
                continue;
            }
            let kind = CONNECTION_TYPES[i % CONNECTION_TYPES.len()];
            let date = (i % 5 != 0).then(|| format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28));
            let article = g.add_article(
                &format!("Generated story {i}"),
                &format!("https://news.example/g/{i}"),
                "https://news.example/",
                date.as_deref(),
            );
            g.connect(a, kind, b, article, &format!("story {i}"));
        }
        g
    }

    fn add_entity(&mut self, name: &str, kind: &str, occurrences: u64) {
        self.entities.push(Entity {
            uuid: uuid_of(&format!("{name}/{kind}")),
            name: name.into(),
            kind: kind.into(),
            aliases: Vec::new(),
            occurrences,
        });
    }

    fn add_article(&mut self, title: &str, url: &str, site: &str, date: Option<&str>) -> usize {
        self.articles.push(Article {
            title: title.into(),
            url: url.into(),
            site: site.into(),
            date: date.map(str::to_owned),
        });
        self.articles.len() - 1
    }

    fn connect(&mut self, source: usize, kind: &str, target: usize, article: usize, context: &str) {
        self.connections.push(Connection {
            source,
            target,
            kind: kind.into(),
            article,
            context: context.into(),
        });
    }

    /// Gives a key `rows` rows (a new key, or a new allowance).
    pub fn set_rows(&self, key: &str, rows: i64) {
        match self.accounts.get(key) {
            Some(account) => account.set_remaining(rows),
            None => {
                self.accounts
                    .add(crate::Provider::SpiderNews, key, rows, None, false);
            }
        }
    }

    /// Rows a key has left (`None` for an unknown key).
    pub fn rows_left(&self, key: &str) -> Option<i64> {
        self.accounts.get(key).map(|a| a.remaining())
    }

    /// The keys and their row ledgers.
    pub fn accounts(&self) -> &crate::engine::Accounts {
        &self.accounts
    }

    fn entity_ref(&self, i: usize) -> Value {
        let e = &self.entities[i];
        json!({"ent_name": e.name, "ent_type": e.kind, "ent_uuid": e.uuid, "ent_aliases": e.aliases})
    }

    fn connection_json(&self, c: &Connection) -> Value {
        let a = &self.articles[c.article];
        json!({
            "source_entity": self.entity_ref(c.source),
            "connection_data": {"type": c.kind, "article_title": a.title, "article_url": a.url, "article_site": a.site,
                                "article_date": a.date, "context": c.context},
            "target_entity": self.entity_ref(c.target),
        })
    }
}

impl Default for SpiderNews {
    fn default() -> Self {
        Self::new()
    }
}

/// pg_trgm's similarity: shared trigrams over all trigrams of the two lower-cased texts, each
/// word padded with two spaces before and one after.
pub fn similarity(a: &str, b: &str) -> f32 {
    fn trigrams(text: &str) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for word in text
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let padded: Vec<char> = format!("  {word} ").chars().collect();
            for window in padded.windows(3) {
                set.insert(window.iter().collect());
            }
        }
        set
    }
    let (x, y) = (trigrams(a), trigrams(b));
    let union = x.union(&y).count();
    if union == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let value = x.intersection(&y).count() as f32 / union as f32;
    value
}

/// A similarity as the provider prints it: a 4-byte float (`0.6923077`).
fn sml_json(sml: f32) -> Value {
    format!("{sml}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

#[cfg(test)]
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

impl SpiderNews {
    /// Entities named `name` (or one of its aliases, case-insensitively), or the one with `uuid`
    /// (already checked as a UUID by the spec).
    fn resolve(&self, name: Option<&str>, uuid: Option<&str>) -> Option<BTreeSet<usize>> {
        if let Some(u) = uuid {
            return Some(
                self.entities
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.uuid.eq_ignore_ascii_case(u))
                    .map(|(i, _)| i)
                    .collect(),
            );
        }
        name.map(|n| {
            self.entities
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.name.eq_ignore_ascii_case(n)
                        || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
                })
                .map(|(i, _)| i)
                .collect()
        })
    }

    fn in_dates(&self, c: &Connection, min: Option<&str>, max: Option<&str>) -> bool {
        if min.is_none() && max.is_none() {
            return true;
        }
        let Some(date) = self.articles[c.article].date.as_deref() else {
            return false;
        };
        min.is_none_or(|m| date >= m) && max.is_none_or(|m| date <= m)
    }

    fn entities_answer(&self, call: &Call<'_>, limit: i64) -> (i64, Value) {
        let types = list(call, "ent_type");
        let name = call.param("ent_name");
        let mut found: Vec<(usize, Option<f32>)> = self
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| types.is_empty() || types.contains(&e.kind))
            .filter_map(|(i, e)| match name.as_deref() {
                Some(name) => {
                    let sml = similarity(&e.name, name);
                    (sml >= 0.3).then_some((i, Some(sml)))
                }
                None => Some((i, None)),
            })
            .collect();
        found.sort_by(|(a, sa), (b, sb)| {
            sb.partial_cmp(sa)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(
                    self.entities[*b]
                        .occurrences
                        .cmp(&self.entities[*a].occurrences),
                )
        });
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let list: Vec<Value> = found
            .iter()
            .map(|(i, sml)| {
                let e = &self.entities[*i];
                let mut v = json!({"ent_uuid": e.uuid, "ent_name": e.name, "ent_type": e.kind, "ent_aliases": e.aliases,
                                   "occurrence_count": e.occurrences.to_string()});
                if let (Some(s), Some(o)) = (sml, v.as_object_mut()) {
                    o.insert("sml".into(), sml_json(*s));
                }
                v
            })
            .collect();
        let rows = i64::try_from(list.len()).unwrap_or(i64::MAX);
        (rows, json!({"rows_returned": rows, "entities": list}))
    }

    fn connections_answer(&self, call: &Call<'_>, limit: i64) -> (i64, Value) {
        let kinds = list(call, "connection_type");
        let source_types = list(call, "source_node_type");
        let target_types = list(call, "target_node_type");
        let (min, max) = (call.param("min_date"), call.param("max_date"));
        let sources = self.resolve(
            call.param("source_name").as_deref(),
            call.param("source_uuid").as_deref(),
        );
        let targets = self.resolve(
            call.param("target_name").as_deref(),
            call.param("target_uuid").as_deref(),
        );
        let picked: Vec<usize> = self
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| kinds.is_empty() || kinds.contains(&c.kind))
            .filter(|(_, c)| sources.as_ref().is_none_or(|s| s.contains(&c.source)))
            .filter(|(_, c)| targets.as_ref().is_none_or(|t| t.contains(&c.target)))
            .filter(|(_, c)| {
                source_types.is_empty() || source_types.contains(&self.entities[c.source].kind)
            })
            .filter(|(_, c)| {
                target_types.is_empty() || target_types.contains(&self.entities[c.target].kind)
            })
            .filter(|(_, c)| self.in_dates(c, min.as_deref(), max.as_deref()))
            .map(|(i, _)| i)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let nodes: BTreeSet<usize> = picked
            .iter()
            .flat_map(|i| [self.connections[*i].source, self.connections[*i].target])
            .collect();
        let rows = i64::try_from(nodes.len() + picked.len()).unwrap_or(i64::MAX);
        let list: Vec<Value> = picked
            .iter()
            .map(|i| self.connection_json(&self.connections[*i]))
            .collect();
        (rows, json!({"rows_returned": rows, "connections": list}))
    }

    fn paths_answer(&self, call: &Call<'_>, limit: i64) -> (i64, Value) {
        let kinds = list(call, "connection_type");
        let entity_types = list(call, "entity_type");
        let (min, max) = (call.param("min_date"), call.param("max_date"));
        let sources = self
            .resolve(
                call.param("source_name").as_deref(),
                call.param("source_uuid").as_deref(),
            )
            .unwrap_or_default();
        let targets = self
            .resolve(
                call.param("target_name").as_deref(),
                call.param("target_uuid").as_deref(),
            )
            .unwrap_or_default();
        // The usable edges, walked in either direction.
        let mut adjacent: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        for (i, c) in self.connections.iter().enumerate() {
            if (kinds.is_empty() || kinds.contains(&c.kind))
                && self.in_dates(c, min.as_deref(), max.as_deref())
            {
                adjacent.entry(c.source).or_default().push((c.target, i));
                adjacent.entry(c.target).or_default().push((c.source, i));
            }
        }
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut paths: Vec<Vec<usize>> = Vec::new();
        let mut queue: VecDeque<(usize, Vec<usize>, Vec<usize>)> =
            sources.iter().map(|s| (*s, vec![*s], Vec::new())).collect();
        let mut expansions = 0;
        while let Some((node, visited, edges)) = queue.pop_front() {
            if paths.len() >= wanted || expansions > 200_000 {
                break;
            }
            expansions += 1;
            if targets.contains(&node) && !edges.is_empty() {
                paths.push(edges);
                continue;
            }
            if edges.len() >= MAX_HOPS {
                continue;
            }
            for (next, edge) in adjacent.get(&node).into_iter().flatten() {
                let passable = targets.contains(next)
                    || entity_types.is_empty()
                    || entity_types.contains(&self.entities[*next].kind);
                if !visited.contains(next) && passable {
                    let mut v = visited.clone();
                    v.push(*next);
                    let mut e = edges.clone();
                    e.push(*edge);
                    queue.push_back((*next, v, e));
                }
            }
        }
        let edge_set: BTreeSet<usize> = paths.iter().flatten().copied().collect();
        let nodes: BTreeSet<usize> = edge_set
            .iter()
            .flat_map(|i| [self.connections[*i].source, self.connections[*i].target])
            .collect();
        let rows = i64::try_from(nodes.len() + edge_set.len()).unwrap_or(i64::MAX);
        let list: Vec<Value> = paths
            .iter()
            .map(|p| {
                Value::Array(
                    p.iter()
                        .map(|i| self.connection_json(&self.connections[*i]))
                        .collect(),
                )
            })
            .collect();
        (rows, json!({"rows_returned": rows, "paths": list}))
    }
}

/// The values of a list filter (already checked against the spec's enumeration).
fn list(call: &Call<'_>, name: &str) -> Vec<String> {
    call.params
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The limit parameter of an operation, its default and the most rows one unit may return.
fn limit_of(op: &str) -> (&'static str, i64, i64) {
    match op {
        "list_entities" => ("limit", 10, 1),
        "list_connections" => ("connection_limit", 10, ROWS_PER_CONNECTION),
        _ => ("path_limit", 3, ROWS_PER_PATH),
    }
}

/// Spider News through the engine: the spec routes and checks every request (key, parameters,
/// enumerations, UUIDs, dates, limits), and this behaviour adds the provider's own rules.
struct Behave(Arc<SpiderNews>);

impl Behave {
    /// The most rows a request may return, and its limit.
    fn maximum(call: &Call<'_>) -> (i64, i64, &'static str) {
        let (parameter, default, per_unit) = limit_of(&call.op.id);
        let limit = call.int_param(parameter).unwrap_or(default).max(1);
        (limit.saturating_mul(per_unit), limit, parameter)
    }
}

impl Behaviour for Behave {
    /// A path needs both ends; the key must have the request's maximum rows left.
    fn check(&self, call: &Call<'_>) -> Result<(), Refusal> {
        if call.op.id == "find_paths" {
            let has = |name: &str, uuid: &str| {
                call.params.contains_key(name) || call.params.contains_key(uuid)
            };
            if !(has("source_name", "source_uuid") && has("target_name", "target_uuid")) {
                return Err(Refusal::new(
                    Kind::Validation,
                    "pathfinding needs a source (source_name or source_uuid) and a target (target_name or target_uuid)",
                ));
            }
        }
        let (needed, _, parameter) = Self::maximum(call);
        let left = call.account.remaining();
        if needed > left {
            return Err(Refusal::new(
                Kind::InsufficientCredits,
                format!(
                    "Not enough rows: this request may return up to {needed} rows but the key has {left} left; lower {parameter}."
                ),
            )
            .with("rows_required", needed)
            .with("rows_remaining", left));
        }
        Ok(())
    }

    /// Reserves the maximum, answers, bills the unique entities and connections returned and
    /// gives the rest back.
    fn handle(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let (needed, limit, parameter) = Self::maximum(call);
        let operation = call.op.id.as_str();
        call.account
            .charge(operation, needed, "pre-flight maximum")
            .map_err(|_| {
                let left = call.account.remaining();
                Refusal::new(
                    Kind::InsufficientCredits,
                    format!(
                        "Not enough rows: this request may return up to {needed} rows but the key has {left} left; lower {parameter}."
                    ),
                )
                .with("rows_required", needed)
                .with("rows_remaining", left)
            })?;
        let graph = &self.0;
        let (rows, answer) = match operation {
            "list_entities" => graph.entities_answer(call, limit),
            "list_connections" => graph.connections_answer(call, limit),
            _ => graph.paths_answer(call, limit),
        };
        call.account
            .refund(operation, needed.saturating_sub(rows), "rows not returned");
        Ok(Reply::json(answer))
    }
}

/// The Spider News server: routed and checked by the engine from `specs/spidernews.json`.
pub(crate) fn server(graph: Arc<SpiderNews>) -> Result<Server, String> {
    let style = Style {
        provider: crate::Provider::SpiderNews,
        profile: &tollgate_spidernews::PROFILE,
        alt_keys: &[AltKey::QueryApiKey],
        envelope: Envelope::Message,
        rate_headers: false,
        throttled: |s| format!("Too many requests; retry in {s} seconds."),
        unauthorized: "an API key is required (X-API-KEY header or api_key parameter)",
        out_of_credits: None,
    };
    let accounts = Arc::clone(&graph.accounts);
    Server::with_accounts(
        style,
        include_str!("../specs/spidernews.json"),
        Box::new(Behave(graph)),
        accounts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_matches_pg_trgm_on_the_documented_example() {
        assert_eq!(similarity("Facebook", "facebook"), 1.0);
        assert_eq!(similarity("Facebook Inc", "Facebook"), 9.0 / 13.0);
        assert_eq!(
            sml_json(similarity("Facebook Inc", "Facebook")).to_string(),
            "0.6923077"
        );
    }

    #[test]
    fn uuids_are_deterministic_and_well_formed() {
        assert_eq!(uuid_of("a"), uuid_of("a"));
        assert_ne!(uuid_of("a"), uuid_of("b"));
        assert!(is_uuid(&uuid_of("Tesla/ORG")), "{}", uuid_of("Tesla/ORG"));
    }
}
