//! The shape of one sample.

/// Shape of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// C.
    pub channels: usize,
    /// H.
    pub height: usize,
    /// W.
    pub width: usize,
}

impl Geometry {
    /// C·H·W.
    pub fn elements(&self) -> usize {
        self.channels * self.height * self.width
    }
}
