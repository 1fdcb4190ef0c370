/*!
The bounds netdrill keeps on what peers and programs may make it hold, in one place.
*/

/// The most bytes one receive step buffers (a peer that sends more fails the step).
pub const STEP_CAP: usize = 16 * 1024 * 1024;
