use taskwire::prelude::*;

#[task(priority = 100)]
fn reload_network() {}

#[task(priority = 0)]
fn set_config() {}

#[task(priority = "high")]
fn start_chute() {}

fn main() {}
