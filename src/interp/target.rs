/*! STUB (replaced by the procs branch): the target's lifecycle. */
#![allow(missing_docs, unused_variables)]
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::process::ChildGroup;
use crate::scenario::Protocol;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("x")]
    X,
}

pub struct RunningTarget {
    pub addr: SocketAddr,
    pub protocol: Protocol,
}

impl RunningTarget {
    pub async fn start_builtin(
        name: &str,
        protocol: Protocol,
        port: Option<u16>,
    ) -> Result<RunningTarget, TargetError> {
        todo!()
    }
    pub async fn start_command(
        command: &str,
        cwd: &Path,
        protocol: Protocol,
        port: Option<u16>,
        ready_timeout: Duration,
    ) -> Result<RunningTarget, TargetError> {
        todo!()
    }
    pub fn at_address(addr: &str) -> Result<RunningTarget, TargetError> {
        todo!()
    }
    pub fn stderr_tail(&self) -> Option<String> {
        todo!()
    }
    pub fn has_exited(&mut self) -> Option<String> {
        todo!()
    }
    pub fn child_mut(&mut self) -> Option<&mut ChildGroup> {
        todo!()
    }
    pub async fn stop(&mut self) -> String {
        todo!()
    }
}

pub fn free_port(protocol: Protocol) -> std::io::Result<u16> {
    todo!()
}
