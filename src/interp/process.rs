/*! STUB (replaced by the procs branch): processes in their own process group. */
#![allow(missing_docs, unused_variables)]
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
}

#[derive(Debug, Clone)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.code)
    }
}

#[derive(Debug)]
pub struct ChildGroup {}

impl ChildGroup {
    pub fn spawn(
        command_line: &str,
        cwd: &Path,
        env: &[(String, String)],
    ) -> Result<ChildGroup, ProcessError> {
        todo!()
    }
    pub fn pid(&self) -> u32 {
        todo!()
    }
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), ProcessError> {
        todo!()
    }
    pub fn close_stdin(&mut self) {}
    pub async fn next_stdout_line(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<String>, ProcessError> {
        todo!()
    }
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitInfo, ProcessError> {
        todo!()
    }
    pub fn try_exit(&mut self) -> Option<ExitInfo> {
        todo!()
    }
    pub fn stderr_tail(&self) -> String {
        todo!()
    }
    pub async fn terminate(&mut self, grace: Duration) -> ExitInfo {
        todo!()
    }
}

pub fn kill_all_registered() {}
pub fn install_interrupt_handler() {}
