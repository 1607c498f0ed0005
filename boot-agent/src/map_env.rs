//! `MapEnv`: U-Boot's environment as a map, for host tests and fuzz targets (feature `map-env`, which
//! needs `alloc`; the U-Boot application never enables it).

use crate::Env;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};

/// U-Boot's environment as a map (an empty value deletes, as `setenv`).
#[derive(Default, Debug, Clone)]
pub struct MapEnv(pub BTreeMap<String, String>);

impl Env for MapEnv {
    fn get<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        let v = self.0.get(name)?.as_bytes();
        let dst = buf.get_mut(..v.len())?;
        dst.copy_from_slice(v);
        core::str::from_utf8(dst).ok()
    }

    fn set(&mut self, name: &str, value: core::fmt::Arguments<'_>) {
        let v = alloc::fmt::format(value);
        if v.is_empty() {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_string(), v);
        }
    }
}
