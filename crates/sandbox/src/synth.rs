//! Answers of the spec's shape, made up deterministically: the same request gets the same
//! answer, and the values look like what the field holds (an e-mail address in `email`, a
//! company domain in `domain`), drawn from one small data set of people and companies.

use serde_json::{Map, Value, json};

use crate::spec::resolve;

/// People's first and last names the data set draws from.
const FIRST: [&str; 16] = [
    "Ada", "Grace", "Alan", "Emily", "Marc", "Priya", "Jonas", "Lina", "Omar", "Sofia", "Kenji",
    "Maya", "Tomas", "Nora", "Ravi", "Elena",
];
const LAST: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Zhang",
    "Benioff",
    "Patel",
    "Berg",
    "Okafor",
    "Haddad",
    "Rossi",
    "Sato",
    "Cohen",
    "Novak",
    "Lindqvist",
    "Iyer",
    "Garcia",
];
/// Companies: name, domain, industry, city.
const COMPANIES: [(&str, &str, &str, &str); 12] = [
    ("Figma", "figma.com", "Software", "San Francisco"),
    ("Salesforce", "salesforce.com", "Software", "San Francisco"),
    ("Stripe", "stripe.com", "Financial Services", "Dublin"),
    ("Tesla", "tesla.com", "Automotive", "Austin"),
    ("Raytheon", "rtx.com", "Defense", "Arlington"),
    ("Spotify", "spotify.com", "Media", "Stockholm"),
    ("Shopify", "shopify.com", "E-commerce", "Ottawa"),
    ("Atlassian", "atlassian.com", "Software", "Sydney"),
    ("Datadog", "datadoghq.com", "Software", "New York"),
    ("Klarna", "klarna.com", "Financial Services", "Stockholm"),
    ("Canva", "canva.com", "Software", "Sydney"),
    ("Siemens", "siemens.com", "Industrial", "Munich"),
];
const TITLES: [&str; 8] = [
    "Head of Data",
    "VP Engineering",
    "Software Engineer",
    "Chief Executive Officer",
    "Product Manager",
    "Sales Director",
    "Data Scientist",
    "Marketing Lead",
];

/// A deterministic random source (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A source seeded by a text (FNV-1a of its bytes).
    pub fn seeded(seed: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    /// `len` lowercase hexadecimal digits.
    pub fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(len);
        out
    }
}

/// One person of the data set, with their employer.
#[derive(Clone, Debug)]
pub struct Person {
    /// First name.
    pub first: &'static str,
    /// Last name.
    pub last: &'static str,
    /// Employer name.
    pub company: &'static str,
    /// Employer domain.
    pub domain: &'static str,
    /// Employer industry.
    pub industry: &'static str,
    /// City.
    pub city: &'static str,
    /// Job title.
    pub title: &'static str,
}

impl Person {
    /// A person drawn from `rng`.
    pub fn draw(rng: &mut Rng) -> Person {
        let (company, domain, industry, city) = COMPANIES[rng.below(COMPANIES.len())];
        Person {
            first: FIRST[rng.below(FIRST.len())],
            last: LAST[rng.below(LAST.len())],
            company,
            domain,
            industry,
            city,
            title: TITLES[rng.below(TITLES.len())],
        }
    }

    /// `first.last@domain`, lowercase.
    pub fn email(&self) -> String {
        format!(
            "{}.{}@{}",
            self.first.to_lowercase(),
            self.last.to_lowercase(),
            self.domain
        )
    }
}

/// Makes values for schemas.
pub struct Synth<'a> {
    doc: &'a Value,
    rng: Rng,
    person: Person,
    /// The company the request names, when it names one of the data set.
    company: Option<usize>,
    made: usize,
}

/// The company of the data set a text names: its name, its domain, an e-mail address or URL
/// at its domain (case-insensitive).
pub fn company_named(text: &str) -> Option<usize> {
    let lower = text.trim().to_lowercase();
    if lower.is_empty() {
        return None;
    }
    COMPANIES.iter().position(|(name, domain, _, _)| {
        let name = name.to_lowercase();
        lower == name
            || lower == *domain
            || lower.ends_with(&format!("@{domain}"))
            || lower.contains(&format!("{domain}/"))
            || lower.contains(&format!("/company/{name}"))
            || lower.contains(&format!(".{domain}"))
            || lower.contains(&format!("//{domain}"))
    })
}

const MAX_DEPTH: usize = 7;

impl<'a> Synth<'a> {
    /// A generator over a document's components, seeded by `seed`.
    pub fn new(doc: &'a Value, seed: &str) -> Synth<'a> {
        Self::with_hints(doc, seed, &[])
    }

    /// A generator whose people work at the company the hints name (the request's values: a
    /// domain, a company name, an e-mail address), when one of them names a company of the data
    /// set.
    pub fn with_hints(doc: &'a Value, seed: &str, hints: &[String]) -> Synth<'a> {
        let mut rng = Rng::seeded(seed);
        let company = hints.iter().find_map(|h| company_named(h));
        let person = Person::draw(&mut rng);
        let mut synth = Synth {
            doc,
            rng,
            person,
            company,
            made: 0,
        };
        synth.employ();
        synth
    }

    fn employ(&mut self) {
        if let Some(i) = self.company {
            let (company, domain, industry, city) = COMPANIES[i];
            self.person.company = company;
            self.person.domain = domain;
            self.person.industry = industry;
            self.person.city = city;
        }
    }

    /// A value of `schema`. Each value after the first is about another person (of the same
    /// company, when the request names one): rows of a search differ.
    pub fn value(&mut self, schema: &Value) -> Value {
        if self.made > 0 {
            self.person = Person::draw(&mut self.rng);
            self.employ();
        }
        self.made += 1;
        self.make(schema, "", "", 0)
    }

    /// The random source (for callers that make up more values).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn make(&mut self, schema: &Value, name: &str, context: &str, depth: usize) -> Value {
        let context_owned;
        let mut context = context;
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            context_owned = r.rsplit('/').next().unwrap_or_default().to_owned();
            context = &context_owned;
        }
        let schema = resolve(self.doc, schema);
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let usable: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
            if !usable.is_empty() {
                return usable[self.rng.below(usable.len())].clone();
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let mut other = None;
            for part in all {
                match self.make(part, name, context, depth) {
                    Value::Object(o) => merged.extend(o),
                    v => other = Some(v),
                }
            }
            if let Some(Value::Object(own)) = self.object(schema, context, depth) {
                merged.extend(own);
            }
            return match other {
                Some(v) if merged.is_empty() => v,
                _ => Value::Object(merged),
            };
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(choices) = schema.get(key).and_then(Value::as_array) {
                // The first branch that is not `null` (open enums list the known values first).
                let pick = choices
                    .iter()
                    .find(|c| resolve(self.doc, c).get("type") != Some(&json!("null")));
                if let Some(choice) = pick {
                    return self.make(choice, name, context, depth);
                }
                return Value::Null;
            }
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if schema.get("properties").is_some() => "object",
            _ if schema.get("items").is_some() => "array",
            _ => "string",
        };
        match kind {
            "object" => self
                .object(schema, context, depth)
                .unwrap_or_else(|| json!({})),
            "array" => {
                let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let max = schema
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::MAX);
                let count = if depth >= MAX_DEPTH - 2 {
                    min
                } else {
                    min.max(2).min(max)
                };
                let items = schema.get("items").cloned().unwrap_or_else(|| json!({}));
                Value::Array(
                    (0..count)
                        .map(|_| self.make(&items, name, context, depth + 1))
                        .collect(),
                )
            }
            "integer" => Value::from(self.integer(schema, name)),
            "number" => {
                let n = self.integer(schema, name);
                #[allow(clippy::cast_precision_loss)]
                let f = n as f64 + 0.5;
                json!(f)
            }
            // Envelopes say `success: true` on every answer that is not an error.
            "boolean" if name == "success" => Value::Bool(true),
            "boolean" => Value::Bool(self.rng.next_u64().is_multiple_of(2)),
            "null" => Value::Null,
            _ => Value::String(self.string(schema, name, context)),
        }
    }

    fn object(&mut self, schema: &Value, context: &str, depth: usize) -> Option<Value> {
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties").filter(|a| a.is_object());
        if props.is_none() && extra.is_none() {
            return None;
        }
        let mut out = Map::new();
        if depth >= MAX_DEPTH {
            return Some(Value::Object(out));
        }
        for (key, sub) in props.into_iter().flatten() {
            out.insert(key.clone(), self.make(sub, key, context, depth + 1));
        }
        if props.is_none()
            && let Some(extra) = extra
            && !resolve(self.doc, extra)
                .as_object()
                .is_none_or(Map::is_empty)
        {
            out.insert("key".into(), self.make(extra, "value", context, depth + 1));
        }
        Some(Value::Object(out))
    }

    fn integer(&mut self, schema: &Value, name: &str) -> i64 {
        let min = schema.get("minimum").and_then(Value::as_i64);
        let max = schema.get("maximum").and_then(Value::as_i64);
        let lower = name.to_ascii_lowercase();
        let (lo, hi) = match (min, max) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, a + 100),
            (None, Some(b)) => (b.saturating_sub(100).max(0), b),
            (None, None) if lower.ends_with("id") => (100_000, 999_999),
            (None, None) if lower.contains("year") => (1990, 2025),
            (None, None) => (1, 100),
        };
        if hi <= lo {
            return lo;
        }
        let span = u64::try_from(hi - lo).unwrap_or(u64::MAX);
        lo + i64::try_from(self.rng.next_u64() % span.saturating_add(1)).unwrap_or(0)
    }

    fn string(&mut self, schema: &Value, name: &str, context: &str) -> String {
        let p = &self.person;
        let lower = name.to_ascii_lowercase().replace(['_', '-'], "");
        let ctx = context.to_ascii_lowercase();
        let company_context = ctx.contains("company") || ctx.contains("org");
        match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => {
                return format!(
                    "2026-{:02}-{:02}T{:02}:{:02}:00Z",
                    1 + self.rng.below(10),
                    1 + self.rng.below(28),
                    self.rng.below(24),
                    self.rng.below(60)
                );
            }
            Some("date") => {
                return format!(
                    "2026-{:02}-{:02}",
                    1 + self.rng.below(10),
                    1 + self.rng.below(28)
                );
            }
            Some("email") => return p.email(),
            Some("uuid") => {
                let h = self.rng.hex(32);
                return format!(
                    "{}-{}-4{}-a{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[13..16],
                    &h[17..20],
                    &h[20..32]
                );
            }
            Some("uri" | "url") => return format!("https://www.{}/", p.domain),
            Some("password") => return format!("sandbox-secret-{}", self.rng.hex(8)),
            _ => {}
        }
        let linkedin = || {
            format!(
                "https://www.linkedin.com/in/{}-{}",
                p.first.to_lowercase(),
                p.last.to_lowercase()
            )
        };
        match lower.as_str() {
            "email" | "professionalemail" | "workemail" | "currentworkemail" | "emailaddress" => {
                p.email()
            }
            "personalemail" => format!(
                "{}{}@gmail.com",
                p.first.to_lowercase(),
                p.last.to_lowercase()
            ),
            "firstname" | "first" => p.first.into(),
            "lastname" | "last" => p.last.into(),
            "fullname" => format!("{} {}", p.first, p.last),
            "name" | "companyname" | "employer" | "currentemployer" | "organization"
                if company_context || lower != "name" =>
            {
                p.company.into()
            }
            "name" => format!("{} {}", p.first, p.last),
            "domain" | "companydomain" | "emaildomain" | "currentemployerdomain" => p.domain.into(),
            "industry" | "currentemployerindustry" => p.industry.into(),
            "city" => p.city.into(),
            "location" | "address" => format!("{}, {}", p.city, "United States"),
            "country" | "countrycode" => "US".into(),
            "title" | "jobtitle" | "currenttitle" | "position" | "headline" => p.title.into(),
            "phone" | "phonenumber" | "number" => {
                format!("+1 415 555 {:04}", self.rng.below(10_000))
            }
            "currency" => "credits".into(),
            _ if lower.contains("linkedin") && company_context => {
                format!(
                    "https://www.linkedin.com/company/{}",
                    p.company.to_lowercase()
                )
            }
            _ if lower.contains("linkedin") => linkedin(),
            _ if lower.contains("url") || lower.contains("website") || lower.contains("uri") => {
                format!("https://www.{}/", p.domain)
            }
            _ if lower.ends_with("at") || lower.contains("date") || lower.ends_with("time") => {
                format!(
                    "2026-{:02}-{:02}T10:{:02}:00Z",
                    1 + self.rng.below(10),
                    1 + self.rng.below(28),
                    self.rng.below(60)
                )
            }
            _ if lower == "id" || lower.ends_with("id") || lower == "skey" || lower == "pkey" => {
                self.rng.hex(24)
            }
            _ if lower.contains("status") => "completed".into(),
            _ if lower.contains("message") || lower.contains("detail") => "OK".into(),
            _ => format!(
                "sandbox {} {}",
                if name.is_empty() { "text" } else { name },
                self.rng.below(1000)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_value() {
        let doc = json!({"components": {"schemas": {"P": {"type": "object", "properties": {
            "email": {"type": "string"}, "id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"oneOf": [{"title": "Known", "allOf": [{"$ref": "#/components/schemas/K"}]}, {"title": "Other", "type": "string"}]}
        }}, "K": {"type": "string", "enum": ["a", "b"]}}}});
        let schema = json!({"$ref": "#/components/schemas/P"});
        let a = Synth::new(&doc, "x").value(&schema);
        let b = Synth::new(&doc, "x").value(&schema);
        assert_eq!(a, b);
        assert!(a["email"].as_str().unwrap().contains('@'));
        assert!(a["id"].is_i64());
        assert_eq!(a["tags"].as_array().unwrap().len(), 2);
        assert!(["a", "b"].contains(&a["kind"].as_str().unwrap()));
    }

    #[test]
    fn a_request_naming_a_company_gets_people_of_that_company() {
        let doc = json!({});
        let schema = json!({"type": "object", "properties": {"email": {"type": "string"}, "domain": {"type": "string"}}});
        for hint in [
            "stripe.com",
            "Stripe",
            "grace@stripe.com",
            "https://www.linkedin.com/company/stripe/",
        ] {
            let mut synth = Synth::with_hints(&doc, hint, &[hint.to_owned()]);
            for _ in 0..3 {
                let v = synth.value(&schema);
                assert_eq!(v["domain"], "stripe.com", "{hint}");
                assert!(v["email"].as_str().unwrap().ends_with("@stripe.com"));
            }
        }
        let mut plain = Synth::new(&doc, "x");
        let (a, b) = (plain.value(&schema), plain.value(&schema));
        assert_ne!(a["email"], b["email"], "each value is another person");
        assert_eq!(company_named("nothing.example"), None);
    }
}
