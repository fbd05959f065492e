//! The states of a job's items and batches, stored in the journal as short words through
//! rusqlite's `ToSql`/`FromSql` (a word the journal does not know is an error naming it, never a
//! silent default).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every state.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word the journal stores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The state a stored word names.
            pub fn parse(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let word = value.as_str()?;
                $name::parse(word).ok_or_else(|| {
                    FromSqlError::Other(
                        format!(concat!("unknown ", stringify!($name), " `{}` in the journal"), word).into(),
                    )
                })
            }
        }
    };
}

stored_enum! {
    /// Where an item of a job stands.
    ItemState {
        /// Read from the input, not yet in a batch or sent.
        Pending => "pending",
        /// In a batch not yet accepted by the provider.
        Planned => "planned",
        /// In a batch the provider accepted.
        Submitted => "submitted",
        /// Its own call is in flight.
        Sending => "sending",
        /// Answered: it has a result.
        Done => "done",
        /// The provider refused it or answered with an error (its message is kept).
        Failed => "failed",
        /// The same request as an earlier line, whose outcome it copies.
        Duplicate => "duplicate",
        /// Its call was in flight when a run stopped and the provider cannot tell whether it was
        /// charged: not sent again unless asked.
        Unknown => "unknown",
        /// Its batch was accepted, then forgotten by the provider: sent again only when asked.
        Lost => "lost",
        /// Answered and paid while still being worked on (a RocketReach lookup `searching`):
        /// its answer, with the id to check, is its result; the free status check delivers
        /// the rest. Never looked up again.
        Waiting => "waiting",
    }
}

stored_enum! {
    /// Where a provider batch of a job stands.
    BatchState {
        /// Planned: not sent yet (or refused before any charge, to be sent again).
        Planned => "planned",
        /// Its submit is in flight.
        Sending => "sending",
        /// Accepted by the provider: its id is known, its results not yet collected.
        Accepted => "accepted",
        /// Its results are collected and journaled.
        Settled => "settled",
        /// Its submit was in flight when a run stopped and the provider cannot tell whether it
        /// was accepted.
        Unknown => "unknown",
        /// Accepted, then no longer known to the provider (404).
        Lost => "lost",
        /// Unknown or lost, and its items were sent again in other batches on the user's word.
        Resubmitted => "resubmitted",
    }
}

impl ItemState {
    /// Whether an item in this state has its final outcome (the output can be written).
    pub fn is_final(self) -> bool {
        matches!(self, ItemState::Done | ItemState::Failed | ItemState::Lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_word() {
        for s in ItemState::ALL {
            assert_eq!(ItemState::parse(s.as_str()), Some(*s));
        }
        for s in BatchState::ALL {
            assert_eq!(BatchState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ItemState::parse("sent"), None);
    }

    #[test]
    fn an_unknown_word_in_the_journal_is_an_error_naming_it() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let err = conn
            .query_row("SELECT 'halfway'", [], |r| r.get::<_, ItemState>(0))
            .unwrap_err();
        assert!(err.to_string().contains("halfway"), "{err}");
    }
}
