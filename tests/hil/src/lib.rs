pub mod plant; pub mod mqtt_devices;
