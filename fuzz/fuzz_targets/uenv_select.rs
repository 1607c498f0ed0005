//! Two arbitrary loader copies through parse, select and plan_write; a selected config must render and
//! parse back to itself, and the plan must never target the selected copy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uenv::boot_config::{parse, plan_write, render, select, LOADER_FILE_SIZE};

fuzz_target!(|data: &[u8]| {
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) * data.len() / 256);
    let (a, b) = data.split_at(split.min(data.len()));
    let flags = data.last().copied().unwrap_or(0);
    let copy0 = (flags & 1 == 0).then_some(a);
    let copy1 = (flags & 2 == 0).then_some(b);
    if let Ok(sel) = select(copy0, copy1) {
        let mut buf = vec![0u8; LOADER_FILE_SIZE * 2];
        let len = render(&sel.config, &mut buf).expect("a parsed config renders");
        assert_eq!(parse(&buf[..len]), Ok(sel.config));
        let plan = plan_write(copy0, copy1);
        if let Ok(plan) = plan {
            assert_ne!(plan.copy, sel.copy);
            assert_eq!(Some(plan.generation), sel.config.generation.checked_add(1));
        }
    }
});
