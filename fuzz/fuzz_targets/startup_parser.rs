//! Fuzzes the startup-packet parser: it must never panic, must refuse lengths PostgreSQL
//! refuses, and what it accepts must round-trip.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/net/startup.rs"]
mod startup;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(len) = data.get(..4) {
        let _ = startup::packet_len([len[0], len[1], len[2], len[3]]);
    }
    match startup::parse(data) {
        Ok(startup::StartupPacket::Startup(s)) => {
            assert_eq!(s.raw, data);
            assert!(s.param("user").is_some());
        }
        Ok(startup::StartupPacket::Cancel(key)) => assert_eq!(&key.cancel_request()[4..], &data[4..]),
        Ok(_) | Err(_) => {}
    }
});
