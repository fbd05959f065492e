//! [`CreditAmount`]: a credit count that may be unlimited.

use std::fmt;

#[cfg(feature = "schemars")]
use schemars::JsonSchema;
#[cfg(feature = "schemars")]
use schemars::r#gen::SchemaGenerator;
#[cfg(feature = "schemars")]
use schemars::schema::{InstanceType, Metadata, Schema, SchemaObject, SubschemaValidation};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number of credits (or requests) that may be unlimited.
///
/// Providers write unlimited allocations as the string `"inf"` in a field that is otherwise an
/// integer (RocketReach's `credit_usage[].allocated` and `remaining`). Decoding accepts an
/// integer, an integer written as a string, or `"inf"`/`"infinity"` (any case); encoding writes
/// an integer, or `"inf"`.
///
/// ```
/// use tollgate::CreditAmount;
///
/// let unlimited: CreditAmount = serde_json::from_str(r#""inf""#).unwrap();
/// assert!(unlimited.is_unlimited());
/// let some: CreditAmount = serde_json::from_str("171").unwrap();
/// assert_eq!(some.finite(), Some(171));
/// assert!(unlimited > some);
/// assert_eq!(serde_json::to_string(&unlimited).unwrap(), r#""inf""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CreditAmount {
    /// A finite amount.
    Finite(i64),
    /// No limit.
    Unlimited,
}

impl CreditAmount {
    /// Whether the amount is unlimited.
    pub fn is_unlimited(self) -> bool {
        matches!(self, CreditAmount::Unlimited)
    }

    /// The finite amount, or `None` when unlimited.
    pub fn finite(self) -> Option<i64> {
        match self {
            CreditAmount::Finite(n) => Some(n),
            CreditAmount::Unlimited => None,
        }
    }

    /// Whether `need` units fit in this amount.
    pub fn covers(self, need: i64) -> bool {
        match self {
            CreditAmount::Finite(n) => need <= n,
            CreditAmount::Unlimited => true,
        }
    }
}

impl From<i64> for CreditAmount {
    fn from(n: i64) -> Self {
        CreditAmount::Finite(n)
    }
}

impl fmt::Display for CreditAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreditAmount::Finite(n) => write!(f, "{n}"),
            CreditAmount::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl Serialize for CreditAmount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CreditAmount::Finite(n) => serializer.serialize_i64(*n),
            CreditAmount::Unlimited => serializer.serialize_str("inf"),
        }
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = CreditAmount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an integer or "inf""#)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CreditAmount, E> {
        Ok(CreditAmount::Finite(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CreditAmount, E> {
        i64::try_from(v)
            .map(CreditAmount::Finite)
            .map_err(|_| E::custom(format!("credit amount {v} does not fit in 64 bits")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<CreditAmount, E> {
        if v.is_infinite() && v > 0.0 {
            return Ok(CreditAmount::Unlimited);
        }
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            // An integer written with a fraction (`5.0`): exact below 2^53.
            #[allow(clippy::cast_possible_truncation)]
            return Ok(CreditAmount::Finite(v as i64));
        }
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CreditAmount, E> {
        let t = v.trim();
        if t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity") {
            return Ok(CreditAmount::Unlimited);
        }
        t.parse::<i64>()
            .map(CreditAmount::Finite)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de> Deserialize<'de> for CreditAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }
}

#[cfg(feature = "schemars")]
#[cfg_attr(docsrs, doc(cfg(feature = "schemars")))]
impl JsonSchema for CreditAmount {
    fn schema_name() -> String {
        "CreditAmount".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let integer = SchemaObject {
            instance_type: Some(InstanceType::Integer.into()),
            format: Some("int64".into()),
            ..Default::default()
        };
        let unlimited = SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            enum_values: Some(vec!["inf".into()]),
            ..Default::default()
        };
        SchemaObject {
            metadata: Some(Box::new(Metadata {
                description: Some(r#"A credit amount: an integer, or "inf" for unlimited."#.into()),
                ..Default::default()
            })),
            subschemas: Some(Box::new(SubschemaValidation {
                one_of: Some(vec![integer.into(), unlimited.into()]),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de(json: &str) -> Result<CreditAmount, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn decodes_integers_strings_and_inf() {
        assert_eq!(de("205").unwrap(), CreditAmount::Finite(205));
        assert_eq!(de("-1").unwrap(), CreditAmount::Finite(-1));
        assert_eq!(de("5.0").unwrap(), CreditAmount::Finite(5));
        assert_eq!(de(r#""42""#).unwrap(), CreditAmount::Finite(42));
        assert_eq!(de(r#""inf""#).unwrap(), CreditAmount::Unlimited);
        assert_eq!(de(r#""Infinity""#).unwrap(), CreditAmount::Unlimited);
    }

    #[test]
    fn refuses_anything_else_with_a_clear_message() {
        let err = de(r#""lots""#).unwrap_err().to_string();
        assert!(err.contains(r#"expected an integer or "inf""#), "{err}");
        assert!(de("1.5").is_err());
        assert!(de("null").is_err());
        assert!(
            de("18446744073709551615")
                .unwrap_err()
                .to_string()
                .contains("does not fit")
        );
    }

    #[test]
    fn round_trips() {
        for v in [
            CreditAmount::Finite(0),
            CreditAmount::Finite(171),
            CreditAmount::Unlimited,
        ] {
            assert_eq!(de(&serde_json::to_string(&v).unwrap()).unwrap(), v);
        }
    }

    #[test]
    fn orders_unlimited_above_everything() {
        assert!(CreditAmount::Unlimited > CreditAmount::Finite(i64::MAX));
        assert!(CreditAmount::Unlimited.covers(i64::MAX));
        assert!(CreditAmount::Finite(3).covers(3));
        assert!(!CreditAmount::Finite(3).covers(4));
    }
}
