//! atomboot host tools.
