//! The hardware-in-the-loop rig: a simulated food plant (OPC UA PLC, MQTT JSON device,
//! Sparkplug B node, embedded broker) that the edge ingests from in the demo and the tests,
//! the fault proxy that breaks the network between tiers, and the scenario runner with its
//! end-to-end checker (lost / duplicated / reordered records).

pub mod conveyor;
pub mod kit;
pub mod mqtt_devices;
pub mod opcua_server;
pub mod peers;
pub mod plant;
pub mod proxy;
pub mod scenario;
