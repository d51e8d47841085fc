//! `ignis-agent inject` (`inject/`): any text is injected or refused with
//! an error, never a panic; what is injected is given back byte for byte by
//! `--uninject`, and injecting it again changes nothing.
#![no_main]

use ignis_agent::inject::{inject, uninject, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Text that already holds the markers is inject's own output.
    if text.contains("ignis-agent inject") {
        return;
    }
    let options = Options {
        image: "ignis/ignis-agent:fuzz".into(),
        endpoint: Some("https://otlp.example:4317".into()),
        config: "receivers: {}\n".into(),
        keep_endpoint: false,
    };
    if let Ok(injected) = inject(text, &options) {
        let back = uninject(&injected);
        // A text without a final newline gets one before what is appended.
        assert!(
            back == text || (back.strip_suffix('\n') == Some(text)),
            "uninject did not give the input back:\n{text:?}\n{back:?}"
        );
        let again = inject(&injected, &options).expect("its own output is injectable");
        assert_eq!(again, injected, "a second inject changed it");
    }
});
