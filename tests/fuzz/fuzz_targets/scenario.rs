//! Scenario files: parsing, validation and resolution must never panic, and a scenario that
//! validates must run on a few requests without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = sim::ScenarioConfig::parse(text) else { return };
    if let Some(w) = &config.workload {
        if let Ok(mut g) = w.generator(1, 50) {
            let _ = sim::run(&config, &mut g, sim::RunOptions { seed: 1, record: true, trace_driven: false });
        }
    }
});
