//! The kinds of bulk job, as data: the columns each reads, how a row becomes an item and its
//! identity, the provider checks mirrored locally, and which Enrich batch family carries it.

use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_providers::Provider;

use crate::input::Columns;

/// The kind of a bulk job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `enrich validate FILE`.
    EnrichValidate,
    /// `enrich find FILE`.
    EnrichFind,
    /// `rocketreach lookup FILE`.
    RocketReachLookup,
    /// `spidernews connections FILE`.
    SpiderNewsConnections,
}

/// An Enrich batch family: the submit, poll and results operations of one kind of batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// E-mail validation batches (1 credit per unique address).
    Validation,
    /// E-mail finder batches (10 credits per unique lead).
    Finder,
}

impl Family {
    /// The body member that lists the items, as the provider's refusals name it
    /// (`body/emails/500 Invalid email`).
    pub fn member(self) -> &'static str {
        match self {
            Family::Validation => "emails",
            Family::Finder => "leads",
        }
    }
}

const LOOKUP_COLUMNS: &[&str] = &[
    "id",
    "linkedin_url",
    "email",
    "name",
    "current_employer",
    "title",
    "phone",
    "npi_number",
];

const CONNECTION_COLUMNS: &[&str] = &[
    "source_name",
    "source_uuid",
    "target_name",
    "target_uuid",
    "connection_limit",
    "min_date",
    "max_date",
];

impl Kind {
    /// The command that runs it.
    pub fn command(self) -> &'static str {
        match self {
            Kind::EnrichValidate => "enrich validate",
            Kind::EnrichFind => "enrich find",
            Kind::RocketReachLookup => "rocketreach lookup",
            Kind::SpiderNewsConnections => "spidernews connections",
        }
    }

    /// The provider it calls.
    pub fn provider(self) -> Provider {
        match self {
            Kind::EnrichValidate | Kind::EnrichFind => Provider::Enrich,
            Kind::RocketReachLookup => Provider::RocketReach,
            Kind::SpiderNewsConnections => Provider::SpiderNews,
        }
    }

    /// The batch family that carries its items, for batched kinds.
    pub fn family(self) -> Option<Family> {
        match self {
            Kind::EnrichValidate => Some(Family::Validation),
            Kind::EnrichFind => Some(Family::Finder),
            _ => None,
        }
    }

    /// The field a bare value stands for.
    pub fn single(self) -> &'static str {
        match self {
            Kind::EnrichValidate | Kind::RocketReachLookup => "email",
            Kind::EnrichFind => "domain",
            Kind::SpiderNewsConnections => "source_name",
        }
    }

    /// The columns its input may and must have.
    pub fn columns(self) -> Columns {
        match self {
            Kind::EnrichValidate => Columns {
                allowed: &["email"],
                required: &["email"],
                any_of: &[],
            },
            Kind::EnrichFind => Columns {
                allowed: &["firstName", "lastName", "domain"],
                required: &["firstName", "lastName", "domain"],
                any_of: &[],
            },
            Kind::RocketReachLookup => Columns {
                allowed: LOOKUP_COLUMNS,
                required: &[],
                any_of: LOOKUP_COLUMNS,
            },
            Kind::SpiderNewsConnections => Columns {
                allowed: CONNECTION_COLUMNS,
                required: &[],
                any_of: &["source_name", "source_uuid"],
            },
        }
    }

    /// The item a row stands for, and its identity (two items of one identity are one
    /// request). Checks what the provider documents, so that the provider refuses as little
    /// as possible.
    pub fn item(self, fields: Map<String, Value>) -> Result<(Value, String), String> {
        let value = Value::Object(fields);
        match self {
            Kind::EnrichValidate => {
                let row: EmailRow = parse(value)?;
                check_email(&row.email)?;
                let identity = row.email.to_lowercase();
                Ok((Value::String(row.email), identity))
            }
            Kind::EnrichFind => {
                let lead: tollgate_enrich::types::Lead = parse(value)?;
                let identity = lead_identity(
                    lead.first_name.as_str(),
                    lead.last_name.as_str(),
                    lead.domain.as_str(),
                );
                let value = serde_json::to_value(&lead).map_err(|e| e.to_string())?;
                Ok((value, identity))
            }
            Kind::RocketReachLookup => {
                let lookup: Lookup = parse(value)?;
                if lookup == Lookup::default() {
                    return Err("a lookup needs at least one of id, linkedin_url, email, name (with current_employer), phone, npi_number".into());
                }
                let value = serde_json::to_value(&lookup).map_err(|e| e.to_string())?;
                Ok((value.clone(), value.to_string().to_lowercase()))
            }
            Kind::SpiderNewsConnections => {
                let query: Connections = parse(value)?;
                if query.source_name.is_none() && query.source_uuid.is_none() {
                    return Err("a connections query needs source_name or source_uuid".into());
                }
                let value = serde_json::to_value(&query).map_err(|e| e.to_string())?;
                Ok((value.clone(), value.to_string()))
            }
        }
    }

    /// The identity of a batch result (the item it answers).
    pub fn result_identity(self, result: &Value) -> Option<String> {
        let text = |name: &str| result.get(name).and_then(Value::as_str);
        match self {
            Kind::EnrichValidate => text("email").map(str::to_lowercase),
            Kind::EnrichFind => Some(lead_identity(
                text("firstName")?,
                text("lastName")?,
                text("domain")?,
            )),
            _ => None,
        }
    }
}

/// Cuts a value for a message: its first 80 characters and its length.
pub fn clip(text: &str) -> String {
    const MOST: usize = 80;
    let count = text.chars().count();
    if count <= MOST {
        return text.to_owned();
    }
    let head: String = text.chars().take(MOST).collect();
    format!("{head}… ({count} characters)")
}

/// An address Enrich accepts: the generated type's pattern (one `@`, a dotted domain, no
/// white space) and the limits of an address on the wire (RFC 5321: a local part of at most 64
/// octets, an address of at most 254), which the provider's `format: email` check enforces.
fn check_email(email: &str) -> Result<(), String> {
    tollgate_enrich::types::BatchEmailValidationRequestEmailsItem::try_from(email.to_owned())
        .map_err(|_| format!("not an e-mail address: {:?}", clip(email)))?;
    let local = email.rsplit_once('@').map_or(email, |(l, _)| l);
    if local.len() > 64 {
        return Err(format!(
            "the part before @ is {} bytes, more than the 64 an address may have: {:?}",
            local.len(),
            clip(email)
        ));
    }
    if email.len() > 254 {
        return Err(format!(
            "the address is {} bytes, more than the 254 an address may have: {:?}",
            email.len(),
            clip(email)
        ));
    }
    Ok(())
}

fn lead_identity(first: &str, last: &str, domain: &str) -> String {
    format!("{}|{}|{}", first, last, domain).to_lowercase()
}

/// Decodes a row into `T`, with a message cut to a readable length.
pub fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        // An empty cell is left out of the item, so serde calls it missing.
        match text.strip_prefix("missing field ") {
            Some(field) => format!("no value for {field} (the cell is empty or absent)"),
            None => clip(&text),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailRow {
    email: String,
}

/// One RocketReach person lookup (the lookup's query parameters).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linkedin_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_employer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub npi_number: Option<i64>,
}

/// One Spider News connections query.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_uuid: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_uuid: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<std::num::NonZeroU64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_date: Option<chrono::NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_date: Option<chrono::NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str) -> Result<(Value, String), String> {
        let mut fields = Map::new();
        fields.insert("email".into(), Value::String(text.into()));
        Kind::EnrichValidate.item(fields)
    }

    #[test]
    fn addresses_are_checked_as_the_provider_checks_them() {
        assert_eq!(email("Ann@Example.com").unwrap().1, "ann@example.com");
        assert!(email("no-at-sign").is_err());
        let long = format!("{}@example.com", "a".repeat(65));
        let err = email(&long).unwrap_err();
        assert!(err.contains("65 bytes"), "{err}");
        assert!(email(&format!("{}@example.com", "a".repeat(64))).is_ok());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let huge = "x".repeat(10_000_000);
        let err = email(&huge).unwrap_err();
        assert!(err.len() < 200, "{}", err.len());
        assert!(err.contains("10000000 characters"), "{err}");
    }

    #[test]
    fn an_empty_required_cell_is_named_as_empty() {
        // The reader leaves an empty cell out of the item's fields.
        let mut fields = Map::new();
        fields.insert("lastName".into(), Value::String("Lovelace".into()));
        fields.insert("domain".into(), Value::String("example.com".into()));
        let err = Kind::EnrichFind.item(fields).unwrap_err();
        assert_eq!(
            err,
            "no value for `firstName` (the cell is empty or absent)"
        );
    }
}
