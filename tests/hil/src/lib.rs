//! The hardware-in-the-loop rig: a simulated food plant (OPC UA PLC, MQTT JSON device,
//! Sparkplug B node, embedded broker) that the edge ingests from in the demo and the tests.

pub mod mqtt_devices;
pub mod opcua_server;
pub mod plant;
