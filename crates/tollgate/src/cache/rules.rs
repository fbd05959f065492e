//! What a provider lets a client keep: the cacheable operations of a profile, how long each
//! answer stays good, when an answer is final, and how a request's identity is computed.

use std::time::Duration;

/// How the values of one named field are put in one form before a request's identity is
/// computed, so that two spellings of one question share one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Normalize {
    /// Trimmed and lower-cased (`" Sarah.Chen@Stripe.com "` is `sarah.chen@stripe.com`).
    Email,
    /// Trimmed and lower-cased, without a scheme, a leading `www.` or a trailing `/`.
    Domain,
    /// A LinkedIn profile URL as `linkedin.com/in/<slug>`: no scheme, no `www.` or country
    /// subdomain, no query, fragment or trailing `/`, lower-cased.
    LinkedIn,
    /// Trimmed, inner runs of white space as one space.
    Name,
}

impl Normalize {
    /// `value` in this field's one form.
    pub fn apply(self, value: &str) -> String {
        let trimmed = value.trim();
        match self {
            Normalize::Email => trimmed.to_lowercase(),
            Normalize::Domain => {
                let lower = trimmed.to_lowercase();
                let bare = strip_scheme(&lower);
                let bare = bare.strip_prefix("www.").unwrap_or(bare);
                bare.trim_end_matches('/').to_owned()
            }
            Normalize::LinkedIn => {
                let lower = trimmed.to_lowercase();
                let bare = strip_scheme(&lower);
                let bare = bare.split(['?', '#']).next().unwrap_or(bare);
                let bare = bare.trim_end_matches('/');
                match bare.find("linkedin.com/") {
                    Some(at) => bare[at..].to_owned(),
                    None => bare.to_owned(),
                }
            }
            Normalize::Name => trimmed.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

fn strip_scheme(s: &str) -> &str {
    s.strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s)
}

/// When an answer is final. Without it, every success is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The JSON pointer of the answer's status (RocketReach: `/status`).
    pub pointer: &'static str,
    /// The values that make an answer final and worth keeping (`complete`).
    pub complete: &'static [&'static str],
    /// The values of an answer still being worked on (`searching`, `progress`, `waiting`):
    /// never kept; with [`Ready::completed_by`], its final form is kept when it arrives.
    pub in_progress: &'static [&'static str],
    /// The free operation that delivers the final answer later, if any.
    pub completed_by: Option<CompletedBy>,
}

/// The operation that delivers an answer that was in progress (RocketReach's status check):
/// when it returns a complete item whose id was in progress, that item is kept as the answer
/// to the original request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedBy {
    /// The operation id of the status check.
    pub operation: &'static str,
    /// The pointer of the id, in the answer in progress and in each item of the check.
    pub id: &'static str,
    /// The pointer of the items in the check's answer (`""`: the answer is the array).
    pub items: &'static str,
}

/// A miss the provider documents as final and charged: kept as a negative entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negative {
    /// The error status of the miss.
    pub status: u16,
    /// How long the miss is kept.
    pub ttl: Duration,
}

/// One cacheable operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheRule {
    /// The operation id.
    pub operation: &'static str,
    /// How long an answer stays good by default.
    pub ttl: Duration,
    /// When an answer is final (`None`: every success).
    pub ready: Option<Ready>,
    /// A charged miss kept as a negative entry, if the provider has one.
    pub negative: Option<Negative>,
}

impl CacheRule {
    /// A rule whose every success is final, kept for `ttl`.
    pub const fn new(operation: &'static str, ttl: Duration) -> CacheRule {
        CacheRule {
            operation,
            ttl,
            ready: None,
            negative: None,
        }
    }
}

/// What a provider's answers a client may keep: part of its [`crate::Profile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheProfile {
    /// The cacheable operations. An operation not named here is never cached: management
    /// calls, key rotation and anything that changes state.
    pub rules: &'static [CacheRule],
    /// How named fields (query parameters and body fields, at any depth, array items
    /// included) are normalised before a request's identity is computed.
    pub fields: &'static [(&'static str, Normalize)],
}

impl CacheProfile {
    /// Nothing is cacheable.
    pub const NONE: CacheProfile = CacheProfile {
        rules: &[],
        fields: &[],
    };

    /// The rule of `operation`, if it is cacheable.
    pub fn rule(&self, operation: &str) -> Option<&CacheRule> {
        self.rules.iter().find(|r| r.operation == operation)
    }

    /// The rule whose answers `operation` completes, if it is a status check.
    pub fn completed_by(&self, operation: &str) -> Option<(&CacheRule, CompletedBy)> {
        self.rules.iter().find_map(|r| {
            let by = r.ready?.completed_by?;
            (by.operation == operation).then_some((r, by))
        })
    }

    /// How `field` is normalised, if it is named.
    pub fn normalize(&self, field: &str) -> Option<Normalize> {
        self.fields
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, n)| *n)
    }

    /// Every operation the profile names (to check them against the generated client).
    pub fn operations(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.rules.iter().flat_map(|r| {
            std::iter::once(r.operation)
                .chain(r.ready.and_then(|x| x.completed_by).map(|c| c.operation))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Normalize;

    #[test]
    fn each_field_has_one_form() {
        assert_eq!(
            Normalize::Email.apply("  Sarah.Chen@Stripe.COM "),
            "sarah.chen@stripe.com"
        );
        assert_eq!(
            Normalize::Domain.apply("https://www.Stripe.com/"),
            "stripe.com"
        );
        for url in [
            "https://www.linkedin.com/in/sarah-chen/",
            "http://uk.linkedin.com/in/Sarah-Chen?trk=x",
            "linkedin.com/in/sarah-chen#top",
        ] {
            assert_eq!(
                Normalize::LinkedIn.apply(url),
                "linkedin.com/in/sarah-chen",
                "{url}"
            );
        }
        assert_eq!(Normalize::Name.apply("  Sarah   Chen "), "Sarah Chen");
    }
}
