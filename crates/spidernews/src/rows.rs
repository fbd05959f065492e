//! Recounting an answer's rows, as Spider News bills them: one row per unique entity and per
//! unique connection. `rows_returned` should equal [`count_rows`] of the same answer.

use std::collections::BTreeSet;

use serde_json::Value;

/// The unique entities and connections of a Spider News answer, as it bills them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowCount {
    /// Unique entities (by `ent_uuid`).
    pub entities: usize,
    /// Unique connections (by source, target, type, article URL and context).
    pub connections: usize,
}

impl RowCount {
    /// Entities plus connections: what `rows_returned` should say.
    pub fn rows(&self) -> usize {
        self.entities + self.connections
    }
}

/// Counts the unique entities and connections of a Spider News answer (entities, connections
/// or pathfinding), to check its `rows_returned`.
///
/// ```
/// let answer = serde_json::json!({"rows_returned": 3, "connections": [{
///     "source_entity": {"ent_uuid": "a"}, "target_entity": {"ent_uuid": "b"},
///     "connection_data": {"type": "Deal", "article_url": "u", "context": "c"}}]});
/// let count = tollgate_spidernews::count_rows(&answer);
/// assert_eq!((count.entities, count.connections, count.rows()), (2, 1, 3));
/// ```
pub fn count_rows(answer: &Value) -> RowCount {
    let mut entities = BTreeSet::new();
    let mut edges = BTreeSet::new();
    let uuid = |v: &Value| v.get("ent_uuid").and_then(Value::as_str).map(str::to_owned);
    let mut connection = |c: &Value| {
        let source = c.get("source_entity").and_then(uuid);
        let target = c.get("target_entity").and_then(uuid);
        entities.extend(source.clone());
        entities.extend(target.clone());
        let data = c.get("connection_data");
        let field = |k: &str| {
            data.and_then(|d| d.get(k))
                .map(Value::to_string)
                .unwrap_or_default()
        };
        edges.insert((
            source,
            target,
            field("type"),
            field("article_url"),
            field("context"),
        ));
    };
    for c in answer
        .get("connections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        connection(c);
    }
    for path in answer
        .get("paths")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for c in path.as_array().into_iter().flatten() {
            connection(c);
        }
    }
    for e in answer
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        entities.extend(uuid(e));
    }
    RowCount {
        entities: entities.len(),
        connections: edges.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_unique_rows_like_the_documented_example() {
        let person = json!({"ent_uuid": "2fde488e", "ent_name": "Kelley"});
        let answer = json!({"rows_returned": 5, "connections": [
            {"source_entity": person, "target_entity": {"ent_uuid": "5ed68a8c"}, "connection_data": {"type": "WorksFor", "article_url": "u", "context": "one"}},
            {"source_entity": person, "target_entity": {"ent_uuid": "170dd88e"}, "connection_data": {"type": "WorksFor", "article_url": "u", "context": "two"}}
        ]});
        let count = count_rows(&answer);
        assert_eq!((count.entities, count.connections, count.rows()), (3, 2, 5));
        // The same connection twice is one row.
        let twice = json!({"connections": [answer["connections"][0], answer["connections"][0]]});
        assert_eq!(count_rows(&twice).rows(), 3);
        // Paths, and entities answers.
        let paths = json!({"paths": [[answer["connections"][0], answer["connections"][1]]]});
        assert_eq!(count_rows(&paths).rows(), 5);
        let entities =
            json!({"entities": [{"ent_uuid": "a"}, {"ent_uuid": "b"}, {"ent_uuid": "a"}]});
        assert_eq!(count_rows(&entities).rows(), 2);
    }
}
