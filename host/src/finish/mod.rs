//! *Finish*: the outputs (streamed per batch into temporaries, committed at the end, manifests
//! last) and the summary.

pub mod manifest;
pub mod output;
pub mod picture;
pub mod resume;
pub mod summary;
