//! Sources: each turns its protocol into journal appends. Codecs are shared (the simulated plant
//! encodes with the same types the edge decodes with).

pub mod camera;
pub mod codec;
pub mod mqtt;
pub mod opcua;
pub mod stats;

/// Why a connector stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("source {source_name}: {message}")]
    Config {
        source_name: String,
        message: String,
    },
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error("MQTT client: {0}")]
    Mqtt(#[from] rumqttc::ClientError),
    #[error("OPC UA source {source_name}: {message}")]
    OpcUa {
        source_name: String,
        message: String,
    },
}
