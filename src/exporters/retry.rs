//! Exponential backoff with jitter, as the Collector's `retry_on_failure`.

use crate::config::units::Dur;
use rand::Rng;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub enabled: bool,
    pub initial_interval: Dur,
    pub max_interval: Dur,
    pub multiplier: f64,
    pub randomization_factor: f64,
    /// Give up on a batch after this long; 0 retries forever.
    pub max_elapsed_time: Dur,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Dur(Duration::from_secs(5)),
            max_interval: Dur(Duration::from_secs(30)),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_elapsed_time: Dur(Duration::from_secs(300)),
        }
    }
}

/// A server's own delay (RetryInfo, Retry-After) is followed up to this.
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(120);

pub struct Backoff {
    next: Duration,
    max: Duration,
    multiplier: f64,
    randomization: f64,
}

impl Backoff {
    pub fn new(config: &RetryConfig) -> Self {
        Backoff {
            next: config.initial_interval.0,
            max: config.max_interval.0,
            multiplier: config.multiplier,
            randomization: config.randomization_factor,
        }
    }

    /// The delay before the next attempt: the server's if it gave one
    /// (capped), else the current interval ± randomization.
    pub fn delay(&mut self, server_delay: Option<Duration>) -> Duration {
        let base = self.next;
        self.next = base.mul_f64(self.multiplier).min(self.max);
        if let Some(delay) = server_delay {
            return delay.min(MAX_SERVER_DELAY);
        }
        if self.randomization <= 0.0 {
            return base;
        }
        let spread = base.as_secs_f64() * self.randomization;
        let jittered =
            rand::rng().random_range(base.as_secs_f64() - spread..=base.as_secs_f64() + spread);
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::Dur;

    fn config(randomization: f64) -> RetryConfig {
        RetryConfig {
            initial_interval: Dur(Duration::from_secs(1)),
            max_interval: Dur(Duration::from_secs(4)),
            multiplier: 2.0,
            randomization_factor: randomization,
            ..RetryConfig::default()
        }
    }

    #[test]
    fn grows_to_the_cap() {
        let mut b = Backoff::new(&config(0.0));
        let delays: Vec<u64> = (0..5).map(|_| b.delay(None).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 4, 4]);
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let mut b = Backoff::new(&config(0.5));
        let d = b.delay(None).as_secs_f64();
        assert!((0.5..=1.5).contains(&d), "{d}");
    }

    #[test]
    fn server_delay_wins_but_is_capped() {
        let mut b = Backoff::new(&config(0.5));
        assert_eq!(
            b.delay(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(b.delay(Some(Duration::from_secs(7200))), MAX_SERVER_DELAY);
    }
}
