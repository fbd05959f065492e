//! One call of a job (a batch submit or one item's call), its price before it is sent, and
//! what its failure means for what was charged.

use std::sync::Arc;

use serde_json::Value;
use tollgate::Ledger;
use tollgate_providers::Provider;

use super::kind::{Connections, Family, Kind, Lookup, parse};
use crate::config::Target;
use crate::error::CliError;

/// The client a job needs (only its provider's is built).
pub(super) enum Clients {
    Enrich(tollgate_enrich::Client),
    RocketReach(tollgate_rocketreach::Client),
    SpiderNews(tollgate_spidernews::Client),
}

impl Clients {
    /// The client a job of `kind` needs, for `target`.
    pub fn new(kind: Kind, target: &Target) -> Result<Clients, CliError> {
        Ok(match kind.provider() {
            Provider::Enrich => Clients::Enrich(target.client()?),
            Provider::RocketReach => Clients::RocketReach(target.client()?),
            Provider::SpiderNews => Clients::SpiderNews(target.client()?),
            Provider::RequestRocket => {
                return Err(CliError::Usage(
                    "RequestRocket has no bulk job: its operations are subcommands of `tollgate requestrocket`".into(),
                ));
            }
        })
    }

    pub fn ledger(&self) -> Arc<Ledger> {
        self.runtime().ledger_handle()
    }

    /// The runtime of the job's client.
    pub fn runtime(&self) -> &tollgate::Runtime {
        match self {
            Clients::Enrich(c) => c.runtime(),
            Clients::RocketReach(c) => c.runtime(),
            Clients::SpiderNews(c) => c.runtime(),
        }
    }

    /// The RocketReach client, for the status checks of lookups in progress.
    pub fn rocketreach(&self) -> Option<&tollgate_rocketreach::Client> {
        match self {
            Clients::RocketReach(c) => Some(c),
            _ => None,
        }
    }

    /// The Enrich client, for the batch phases.
    pub fn enrich(&self) -> Option<&tollgate_enrich::Client> {
        match self {
            Clients::Enrich(c) => Some(c),
            _ => None,
        }
    }
}

/// What one call of a job answered: the batch id (batch jobs) or the result (item jobs).
pub(super) enum Answer {
    Batch(String),
    Result(Value),
}

/// The price of a call, from a dry-run client.
pub(super) struct Price {
    pub operation: String,
    pub most: i64,
    /// The cache holds the answer (a dry run with the cache): nothing would be sent.
    pub cached: bool,
}

/// Prices a call of `group` with `pricer` (a dry-run client): the runtime's own cost rules.
pub(super) async fn price(
    kind: Kind,
    pricer: &Clients,
    group: &[&Value],
) -> Result<Price, CliError> {
    match send(kind, pricer, group).await {
        Err(tollgate::Error::DryRun {
            operation,
            max_cost,
            cached,
            ..
        }) => Ok(Price {
            operation,
            most: max_cost,
            cached,
        }),
        Err(other) => Err(other.into()),
        Ok(_) => Err(CliError::Usage(
            "internal: the pricing client sent a call".into(),
        )),
    }
}

/// What a failed call means for what was charged.
pub(super) enum Failure {
    /// Nothing reached the provider (refused before sending, or the connection never
    /// opened): nothing was charged; send it again later.
    NotSent(tollgate::Error),
    /// The provider answered with an error before charging anything: `index` names the item
    /// of the batch it refused (`body/emails/500 Invalid email`), when it said.
    Refused {
        error: tollgate::Error,
        index: Option<usize>,
    },
    /// It may have been charged and no answer says whether.
    Unknown(tollgate::Error),
}

impl Failure {
    /// What a failed call means, given whether its ledger entries say it may have been
    /// charged without an answer.
    pub fn of(error: tollgate::Error, uncertain: bool, family: Option<Family>) -> Failure {
        if uncertain {
            return Failure::Unknown(error);
        }
        match &error {
            tollgate::Error::CostRefused(_)
            | tollgate::Error::Cost(_)
            | tollgate::Error::InvalidRequest(_)
            | tollgate::Error::RetryLater { .. }
            | tollgate::Error::SharedStore(_)
            | tollgate::Error::DryRun { .. }
            | tollgate::Error::Key(_) => Failure::NotSent(error),
            tollgate::Error::Transport { connect: true, .. } => Failure::NotSent(error),
            tollgate::Error::Api(api) if api.status < 500 => {
                let index = family.and_then(|f| refused_index(api, f));
                Failure::Refused { error, index }
            }
            _ => Failure::Unknown(error),
        }
    }
}

/// The item a provider's validation error names, from its `body/<member>/<index>` place
/// (`body/emails/500 Invalid email`).
fn refused_index(api: &tollgate::ApiError, family: Family) -> Option<usize> {
    if api.kind != tollgate::ErrorKind::BadRequest {
        return None;
    }
    let message = api.message.as_deref()?;
    let prefix = format!("body/{}/", family.member());
    let rest = &message[message.find(&prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Sends one call of a job: a batch of `group` or one item.
pub(super) async fn send(
    kind: Kind,
    clients: &Clients,
    group: &[&Value],
) -> Result<Answer, tollgate::Error> {
    use tollgate_enrich::types as enrich;
    let invalid = |e: String| tollgate::Error::InvalidRequest(e);
    let batch_id = |data: Option<enrich::BatchSubmitData>| {
        data.and_then(|d| d.batch_id)
            .map(Answer::Batch)
            .ok_or_else(|| {
                tollgate::Error::Other("Enrich accepted the batch but sent no batchId".into())
            })
    };
    match (kind.family(), clients) {
        (Some(Family::Validation), Clients::Enrich(client)) => {
            let emails = group
                .iter()
                .map(|v| {
                    enrich::BatchEmailValidationRequestEmailsItem::try_from(
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                    .map_err(|e| invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let answer = client
                .validate_email_batch()
                .body(enrich::BatchEmailValidationRequest {
                    emails,
                    webhook_url: None,
                })
                .send()
                .await?;
            batch_id(answer.into_inner().data)
        }
        (Some(Family::Finder), Clients::Enrich(client)) => {
            let leads = group
                .iter()
                .map(|v| parse::<enrich::Lead>((*v).clone()).map_err(invalid))
                .collect::<Result<Vec<_>, _>>()?;
            let answer = client
                .find_email_batch()
                .body(enrich::BatchEmailFinderRequest {
                    leads,
                    webhook_url: None,
                })
                .send()
                .await?;
            batch_id(answer.into_inner().data)
        }
        (None, Clients::RocketReach(client)) if kind == Kind::RocketReachLookup => {
            let item = group.first().copied().cloned().unwrap_or_default();
            let q: Lookup = parse(item).map_err(invalid)?;
            let mut request = client.create_person_lookup();
            if let Some(v) = q.id {
                request = request.id(v);
            }
            if let Some(v) = q.linkedin_url {
                request = request.linkedin_url(v);
            }
            if let Some(v) = q.email {
                request = request.email(v);
            }
            if let Some(v) = q.name {
                request = request.name(v);
            }
            if let Some(v) = q.current_employer {
                request = request.current_employer(v);
            }
            if let Some(v) = q.title {
                request = request.title(v);
            }
            if let Some(v) = q.phone {
                request = request.phone(v);
            }
            if let Some(v) = q.npi_number {
                request = request.npi_number(v);
            }
            let answer = request.send().await?;
            to_result(answer.into_inner())
        }
        (None, Clients::SpiderNews(client)) if kind == Kind::SpiderNewsConnections => {
            let item = group.first().copied().cloned().unwrap_or_default();
            let q: Connections = parse(item).map_err(invalid)?;
            let mut request = client.list_connections();
            if let Some(v) = q.source_name {
                request = request.source_name(v);
            }
            if let Some(v) = q.source_uuid {
                request = request.source_uuid(v);
            }
            if let Some(v) = q.target_name {
                request = request.target_name(v);
            }
            if let Some(v) = q.target_uuid {
                request = request.target_uuid(v);
            }
            if let Some(v) = q.connection_limit {
                request = request.connection_limit(v);
            }
            if let Some(v) = q.min_date {
                request = request.min_date(v);
            }
            if let Some(v) = q.max_date {
                request = request.max_date(v);
            }
            let answer = request.send().await?;
            to_result(answer.into_inner())
        }
        _ => Err(tollgate::Error::Other(
            "internal: a job got another provider's client".into(),
        )),
    }
}

fn to_result(value: impl serde::Serialize) -> Result<Answer, tollgate::Error> {
    serde_json::to_value(value)
        .map(Answer::Result)
        .map_err(|e| tollgate::Error::Other(format!("the answer could not be kept: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> tollgate::Error {
        tollgate::Error::Api(Box::new(tollgate::ApiError {
            provider: "Enrich".into(),
            operation: "validate_email_batch".into(),
            status,
            kind: tollgate::ErrorKind::from_status(status),
            message: Some(message.into()),
            code: None,
            request_id: None,
            body: None,
            attempts: 1,
            history: Vec::new(),
            stopped: None,
            retry_after: None,
        }))
    }

    #[test]
    fn a_refusal_by_index_names_the_item() {
        let f = Failure::of(
            api(400, "body/emails/500 Invalid email"),
            false,
            Some(Family::Validation),
        );
        assert!(matches!(
            f,
            Failure::Refused {
                index: Some(500),
                ..
            }
        ));
        let f = Failure::of(
            api(400, "body Invalid request"),
            false,
            Some(Family::Validation),
        );
        assert!(matches!(f, Failure::Refused { index: None, .. }));
        let f = Failure::of(
            api(400, "body/leads/7/domain bad"),
            false,
            Some(Family::Finder),
        );
        assert!(matches!(f, Failure::Refused { index: Some(7), .. }));
    }

    #[test]
    fn a_connection_never_opened_is_not_sent_and_a_lost_answer_is_unknown() {
        let refused = tollgate::Error::Transport {
            message: "connection refused".into(),
            timeout: false,
            connect: true,
            attempts: 1,
            source: None,
        };
        assert!(matches!(
            Failure::of(refused, false, None),
            Failure::NotSent(_)
        ));
        let cut = tollgate::Error::Transport {
            message: "connection reset".into(),
            timeout: false,
            connect: false,
            attempts: 1,
            source: None,
        };
        assert!(matches!(Failure::of(cut, false, None), Failure::Unknown(_)));
        assert!(matches!(
            Failure::of(api(400, "x"), true, None),
            Failure::Unknown(_)
        ));
        assert!(matches!(
            Failure::of(api(503, "x"), false, None),
            Failure::Unknown(_)
        ));
    }
}
