//! Snodo's messaging backbone: the envelope every message carries, the broker topology, the two transports
//! (RabbitMQ and an embedded in-process broker with the same semantics) and the consumer runtime that
//! turns a connector's handler into acknowledged, retried, dead-lettered message processing.
//!
//! The contract implemented here is `DESIGN.md` §2–§5 of the project.

pub mod embedded;
pub mod envelope;
pub mod message;
pub mod privacy;
pub mod rabbit;
pub mod request;
pub mod runtime;
pub mod topology;
pub mod transport;

#[cfg(feature = "testing")]
pub mod testing;

pub use message::{HeaderValue, Headers, Message, Properties};
pub use topology::{Names, Topology};
pub use transport::{
    AckOutcome, Acker, ConsumeOptions, Consumer, Delivery, DeliveryStream, Publish, PublishError, QueueStats,
    SharedTransport, Transport, TransportError, TransportKind, TransportStatus,
};
