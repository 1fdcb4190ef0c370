/*! STUB (replaced by the link branch): the impairing relay. */
#![allow(missing_docs, unused_variables)]
use std::net::SocketAddr;

use crate::scenario::LinkSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    ToTarget,
    FromTarget,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::ToTarget => "to_target",
            Direction::FromTarget => "from_target",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub direction: Direction,
    pub flow: String,
    pub seq: u64,
    pub what: String,
}

pub struct Link {}

impl Link {
    pub fn new(spec: &LinkSpec, seed: u64) -> Link {
        todo!()
    }
    pub async fn udp_flow(&self, flow: &str, target: SocketAddr) -> std::io::Result<SocketAddr> {
        todo!()
    }
    pub async fn tcp_flow(&self, flow: &str, target: SocketAddr) -> std::io::Result<SocketAddr> {
        todo!()
    }
    pub fn decisions(&self) -> Vec<Decision> {
        todo!()
    }
    pub fn shutdown(&self) {}
}
