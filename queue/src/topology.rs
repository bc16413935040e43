//! The broker objects Snodo declares (DESIGN §3), described as plain data.
//!
//! A [`Topology`] is what both transports declare idempotently. Building it in one place keeps the names
//! and arguments of every queue identical across `snodo up`, `snodo ops` and the tests, and makes the
//! retry schedule visible as data: one delay queue per distinct step, named after its delay, because
//! queue arguments cannot change once declared (a new schedule gets new queue names, never a 406).

use std::time::Duration;

/// Names used by every instance; `prefix` defaults to `snodo`. Tests use their own prefix so that several
/// test binaries can share one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub prefix: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            prefix: "snodo".into(),
        }
    }
}

impl Names {
    pub fn new(prefix: impl Into<String>) -> Self {
        Names {
            prefix: prefix.into(),
        }
    }
    /// Topic exchange where backends publish commands (routing key = `type`).
    pub fn commands_exchange(&self) -> String {
        format!("{}.commands", self.prefix)
    }
    /// Alternate exchange and queue of commands that no connector is bound for.
    pub fn commands_unrouted(&self) -> String {
        format!("{}.commands.unrouted", self.prefix)
    }
    /// Topic exchange where Snodo publishes outcomes and inbound events.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    /// Alternate exchange and queue of events no subscriber matched.
    pub fn events_unrouted(&self) -> String {
        format!("{}.events.unrouted", self.prefix)
    }
    /// Topic exchange on which Snodo asks backends something synchronously.
    pub fn requests_exchange(&self) -> String {
        format!("{}.requests", self.prefix)
    }
    pub fn command_queue(&self, connector: &str) -> String {
        format!("{}.{connector}.commands", self.prefix)
    }
    pub fn retry_queue(&self, connector: &str, delay: Duration) -> String {
        format!("{}.{connector}.retry.{}", self.prefix, delay_label(delay))
    }
    pub fn dead_queue(&self, connector: &str) -> String {
        format!("{}.{connector}.dead", self.prefix)
    }
}

/// A compact, stable label for a delay: `250ms`, `1s`, `30s`, `2m`, `1h`, `90s`.
pub fn delay_label(delay: Duration) -> String {
    let ms = delay.as_millis();
    if ms > 0 && ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Topic,
    Fanout,
    Direct,
}

impl ExchangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Topic => "topic",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Direct => "direct",
        }
    }
}

/// A durable exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSpec {
    pub name: String,
    pub kind: ExchangeKind,
    /// `alternate-exchange`: where messages go that no binding matched.
    pub alternate_exchange: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Replicated, durable (`x-queue-type=quorum`): every Snodo queue.
    Quorum,
    /// Only for the transient, exclusive reply queues of request/reply.
    Classic,
}

/// Where a queue dead-letters (`x-dead-letter-exchange`, `x-dead-letter-routing-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterTarget {
    /// `""` is the default exchange: the routing key is then a queue name.
    pub exchange: String,
    pub routing_key: String,
}

/// A durable queue and the arguments it is declared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub kind: QueueKind,
    /// `x-message-ttl`.
    pub message_ttl: Option<Duration>,
    pub dead_letter: Option<DeadLetterTarget>,
    /// `x-delivery-limit`: a backstop against poison messages; the runtime never requeues on purpose.
    pub delivery_limit: Option<u32>,
}

impl QueueSpec {
    pub fn quorum(name: impl Into<String>) -> Self {
        QueueSpec {
            name: name.into(),
            kind: QueueKind::Quorum,
            message_ttl: None,
            dead_letter: None,
            delivery_limit: None,
        }
    }

    /// The AMQP queue arguments, as both transports interpret them. Queues that dead-letter get
    /// at-least-once dead-lettering, which RabbitMQ only allows together with `reject-publish` overflow.
    pub fn arguments(&self) -> Vec<(&'static str, QueueArgument)> {
        let mut args = Vec::new();
        if self.kind == QueueKind::Quorum {
            args.push(("x-queue-type", QueueArgument::Str("quorum".into())));
        }
        if let Some(ttl) = self.message_ttl {
            args.push(("x-message-ttl", QueueArgument::Int(ttl.as_millis() as i64)));
        }
        if let Some(dl) = &self.dead_letter {
            args.push(("x-dead-letter-exchange", QueueArgument::Str(dl.exchange.clone())));
            args.push((
                "x-dead-letter-routing-key",
                QueueArgument::Str(dl.routing_key.clone()),
            ));
            args.push((
                "x-dead-letter-strategy",
                QueueArgument::Str("at-least-once".into()),
            ));
            args.push(("x-overflow", QueueArgument::Str("reject-publish".into())));
        }
        if let Some(limit) = self.delivery_limit {
            args.push(("x-delivery-limit", QueueArgument::Int(i64::from(limit))));
        }
        args
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueArgument {
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSpec {
    pub exchange: String,
    pub queue: String,
    /// Topic pattern (`*` one word, `#` zero or more words); ignored by fanout exchanges.
    pub pattern: String,
}

/// Everything to declare, in order: exchanges, queues, then bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub exchanges: Vec<ExchangeSpec>,
    pub queues: Vec<QueueSpec>,
    pub bindings: Vec<BindingSpec>,
}

/// The minimum `x-delivery-limit` DESIGN §3 allows.
pub const DELIVERY_LIMIT_BACKSTOP: u32 = 20;

/// What a connector needs declared: its name, the message families it handles, its retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorQueues {
    /// `anpr`, `pagopa`, `identity`, `cie_booking`, or `core` for the built-in `snodo.*` commands.
    pub connector: String,
    /// Routing-key families bound to the command queue as `<family>.#`.
    pub families: Vec<String>,
    pub retry_delays: Vec<Duration>,
}

/// A backend's durable inbox on `snodo.events` or `snodo.requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberQueue {
    pub queue: String,
    pub patterns: Vec<String>,
}

impl Topology {
    /// The whole of DESIGN §3 for the given connectors and backend queues.
    pub fn snodo(
        names: &Names,
        connectors: &[ConnectorQueues],
        subscribers: &[SubscriberQueue],
        request_queues: &[SubscriberQueue],
    ) -> Topology {
        let mut t = Topology::default();
        t.exchanges.push(ExchangeSpec {
            name: names.commands_exchange(),
            kind: ExchangeKind::Topic,
            alternate_exchange: Some(names.commands_unrouted()),
        });
        t.exchanges.push(ExchangeSpec {
            name: names.commands_unrouted(),
            kind: ExchangeKind::Fanout,
            alternate_exchange: None,
        });
        t.exchanges.push(ExchangeSpec {
            name: names.events_exchange(),
            kind: ExchangeKind::Topic,
            alternate_exchange: Some(names.events_unrouted()),
        });
        t.exchanges.push(ExchangeSpec {
            name: names.events_unrouted(),
            kind: ExchangeKind::Fanout,
            alternate_exchange: None,
        });
        t.exchanges.push(ExchangeSpec {
            name: names.requests_exchange(),
            kind: ExchangeKind::Topic,
            alternate_exchange: None,
        });
        for unrouted in [names.commands_unrouted(), names.events_unrouted()] {
            t.queues.push(QueueSpec::quorum(unrouted.clone()));
            t.bindings.push(BindingSpec {
                exchange: unrouted.clone(),
                queue: unrouted,
                pattern: String::new(),
            });
        }
        for c in connectors {
            let commands = names.command_queue(&c.connector);
            let dead = names.dead_queue(&c.connector);
            t.queues.push(QueueSpec {
                dead_letter: Some(DeadLetterTarget {
                    exchange: String::new(),
                    routing_key: dead.clone(),
                }),
                delivery_limit: Some(DELIVERY_LIMIT_BACKSTOP),
                ..QueueSpec::quorum(commands.clone())
            });
            let mut delays = c.retry_delays.clone();
            delays.sort();
            delays.dedup();
            for delay in delays {
                t.queues.push(QueueSpec {
                    message_ttl: Some(delay),
                    dead_letter: Some(DeadLetterTarget {
                        exchange: String::new(),
                        routing_key: commands.clone(),
                    }),
                    delivery_limit: Some(DELIVERY_LIMIT_BACKSTOP),
                    ..QueueSpec::quorum(names.retry_queue(&c.connector, delay))
                });
            }
            t.queues.push(QueueSpec::quorum(dead));
            for family in &c.families {
                t.bindings.push(BindingSpec {
                    exchange: names.commands_exchange(),
                    queue: commands.clone(),
                    pattern: format!("{family}.#"),
                });
            }
        }
        for (exchange, queues) in [
            (names.events_exchange(), subscribers),
            (names.requests_exchange(), request_queues),
        ] {
            for s in queues {
                t.queues.push(QueueSpec::quorum(s.queue.clone()));
                for pattern in &s.patterns {
                    t.bindings.push(BindingSpec {
                        exchange: exchange.clone(),
                        queue: s.queue.clone(),
                        pattern: pattern.clone(),
                    });
                }
            }
        }
        t
    }

    /// Names of every queue this topology declares, for `snodo ops queues` and readiness checks.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.iter().map(|q| q.name.as_str())
    }
}

/// Does a topic `pattern` match `routing_key`? `*` matches exactly one word, `#` zero or more, words are
/// separated by dots: RabbitMQ's topic exchange semantics.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = if routing_key.is_empty() {
        Vec::new()
    } else {
        routing_key.split('.').collect()
    };
    matches_words(&pattern, &key)
}

fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => {
            // `#` swallows zero or more words: try every split point.
            (0..=key.len()).any(|skip| matches_words(rest, &key[skip..]))
        }
        Some((&word, rest)) => match key.split_first() {
            Some((&k, key_rest)) if word == "*" || word == k => matches_words(rest, key_rest),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_matching_follows_rabbitmq_rules() {
        assert!(topic_matches("anpr.#", "anpr.resident.lookup"));
        assert!(topic_matches("anpr.#", "anpr"));
        assert!(topic_matches("#", ""));
        assert!(topic_matches("#", "a.b.c"));
        assert!(topic_matches("*.resident.*", "anpr.resident.lookup"));
        assert!(!topic_matches("*.resident.*", "anpr.resident"));
        assert!(!topic_matches("anpr.*", "anpr.resident.lookup"));
        assert!(topic_matches("#.completed", "anpr.resident.lookup.completed"));
        assert!(!topic_matches("#.completed", "anpr.resident.lookup.failed"));
        assert!(topic_matches("a.#.z", "a.z"));
        assert!(topic_matches("a.#.z", "a.b.c.z"));
        assert!(!topic_matches("pagopa.#", "anpr.x"));
    }

    #[test]
    fn delay_labels_are_compact_and_stable() {
        assert_eq!(delay_label(Duration::from_millis(250)), "250ms");
        assert_eq!(delay_label(Duration::from_secs(1)), "1s");
        assert_eq!(delay_label(Duration::from_secs(90)), "90s");
        assert_eq!(delay_label(Duration::from_secs(120)), "2m");
        assert_eq!(delay_label(Duration::from_secs(3600)), "1h");
    }

    #[test]
    fn snodo_topology_has_one_delay_queue_per_distinct_step() {
        let names = Names::default();
        let t = Topology::snodo(
            &names,
            &[ConnectorQueues {
                connector: "anpr".into(),
                families: vec!["anpr".into()],
                retry_delays: vec![
                    Duration::from_millis(50),
                    Duration::from_millis(50),
                    Duration::from_secs(1),
                ],
            }],
            &[],
            &[],
        );
        let retry: Vec<_> = t.queue_names().filter(|q| q.contains(".retry.")).collect();
        assert_eq!(retry, vec!["snodo.anpr.retry.50ms", "snodo.anpr.retry.1s"]);
        let retry_spec = t
            .queues
            .iter()
            .find(|q| q.name == "snodo.anpr.retry.50ms")
            .unwrap();
        let args = retry_spec.arguments();
        assert!(args.contains(&(
            "x-dead-letter-routing-key",
            QueueArgument::Str("snodo.anpr.commands".into())
        )));
        assert!(args.contains(&(
            "x-dead-letter-strategy",
            QueueArgument::Str("at-least-once".into())
        )));
        assert!(args.contains(&("x-overflow", QueueArgument::Str("reject-publish".into()))));
        assert!(args.contains(&("x-message-ttl", QueueArgument::Int(50))));
        let commands = t.queues.iter().find(|q| q.name == "snodo.anpr.commands").unwrap();
        assert!(commands.delivery_limit.unwrap() >= 20);
    }
}
