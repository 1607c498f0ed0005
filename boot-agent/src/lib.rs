#![no_std]
//! Boot agent library: chooses the entry to boot and verifies it.
