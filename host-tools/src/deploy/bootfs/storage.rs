//! Byte storage under a FAT image.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Byte storage under a FAT image: an image file, memory, or a test's fault-injecting layer.
pub trait Storage: Read + Write + Seek {
    /// Makes every write so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
}

/// An image file.
pub struct FileStorage(pub File);

impl Read for FileStorage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl Write for FileStorage {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl Seek for FileStorage {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}
impl Storage for FileStorage {
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

/// An image in memory.
pub struct MemStorage(pub io::Cursor<Vec<u8>>);

impl MemStorage {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> MemStorage {
        MemStorage(io::Cursor::new(bytes))
    }
}
impl Read for MemStorage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl Write for MemStorage {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Seek for MemStorage {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}
impl Storage for MemStorage {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}
