//! FoodGraph: lot traceability over EPCIS 2.0 events. Pure domain logic — parsing and
//! validation ([`epcis`]), the flow index and its walks ([`graph`]), recall simulation
//! ([`recall`]), supplier risk ([`risk`]), mass balance ([`balance`]) and FSMA 204 records
//! ([`fsma`]). It knows no HTTP and no store: the hub feeds it and serves it.

pub mod balance;
pub mod cbv;
pub mod compact;
pub mod epcis;
pub mod fsma;
pub mod fuzz;
pub mod graph;
pub mod ids;
pub mod recall;
pub mod risk;
pub mod synth;

pub use epcis::{CaptureError, Event, EventType, FieldError, parse_capture};
pub use graph::{Direction, Graph, QueryError, Trace, TraceQuery};
