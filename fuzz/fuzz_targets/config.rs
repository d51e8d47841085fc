//! The config loader (`config/`, `components.rs`): any text gives a config
//! or located errors, never a panic; errors never echo an environment value.
#![no_main]

use ignis_agent::components::load_str;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-value-0123";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = load_str(text, "fuzz.yaml", &|_| Some(SECRET.to_owned())) {
        let shown = errors.to_string();
        // An error may quote the file's own text; only a value that came
        // from the environment must never show.
        let from_env = !text.contains(SECRET);
        assert!(
            !(from_env && shown.contains(SECRET)),
            "an env value in an error: {shown}"
        );
        assert!(!errors.0.is_empty());
    }
});
