//! gRPC's keepalive enforcement policy: a client that pings more often than
//! `min_time` is asked to go away, as gRPC servers do (grpc-go and
//! grpc-java: `min_time` 5 minutes by default, the third ping too soon in a
//! row is one too many). Each PING costs the agent an answer, and a flood
//! of them is a cheap way to keep it busy; hyper answers every one itself,
//! so the policy watches the frames the client sends.
//!
//! The watch reads the HTTP/2 frame headers in the bytes as they are read,
//! skipping payloads unseen: nothing is copied, and a connection that does
//! not open with the HTTP/2 preface (HTTP/1) is not watched at all.

use std::time::Duration;
use tokio::time::Instant;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;
/// Pings too soon that are forgiven; the next one is not (grpc-go's
/// `maxPingStrikes`).
const STRIKES_FORGIVEN: u8 = 2;

#[derive(Debug)]
enum Scan {
    /// Matching the client's connection preface; `.0` bytes matched so far.
    Preface(usize),
    /// Reading a frame header; `.1` bytes of it so far.
    Header([u8; FRAME_HEADER], usize),
    /// Skipping a frame's payload; this many bytes left.
    Payload(usize),
    /// Not HTTP/2, or already judged.
    Off,
}

/// Watches one connection's incoming frames for pings that come too often.
#[derive(Debug)]
pub struct PingWatch {
    min_time: Duration,
    scan: Scan,
    last_ping: Option<Instant>,
    strikes: u8,
}

impl PingWatch {
    pub fn new(min_time: Duration) -> Self {
        PingWatch {
            min_time,
            scan: Scan::Preface(0),
            last_ping: None,
            strikes: 0,
        }
    }

    /// Reads `bytes`, the next the client sent. True once the client has
    /// pinged too often: the connection should be sent away.
    pub fn read(&mut self, mut bytes: &[u8], now: Instant) -> bool {
        while !bytes.is_empty() {
            match &mut self.scan {
                Scan::Off => return false,
                Scan::Preface(matched) => {
                    let n = (PREFACE.len() - *matched).min(bytes.len());
                    if bytes[..n] != PREFACE[*matched..*matched + n] {
                        self.scan = Scan::Off;
                        return false;
                    }
                    *matched += n;
                    bytes = &bytes[n..];
                    if *matched == PREFACE.len() {
                        self.scan = Scan::Header([0; FRAME_HEADER], 0);
                    }
                }
                Scan::Header(header, have) => {
                    let n = (FRAME_HEADER - *have).min(bytes.len());
                    header[*have..*have + n].copy_from_slice(&bytes[..n]);
                    *have += n;
                    bytes = &bytes[n..];
                    if *have == FRAME_HEADER {
                        let header = *header;
                        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
                        let (kind, flags) = (header[3], header[4]);
                        self.scan = Scan::Payload(length as usize);
                        if kind == PING && flags & ACK == 0 && self.ping(now) {
                            self.scan = Scan::Off;
                            return true;
                        }
                    }
                }
                Scan::Payload(left) => {
                    let n = (*left).min(bytes.len());
                    *left -= n;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.scan = Scan::Header([0; FRAME_HEADER], 0);
                    }
                }
            }
        }
        false
    }

    /// One ping from the client: whether it is one too many.
    fn ping(&mut self, now: Instant) -> bool {
        let too_soon = self
            .last_ping
            .is_some_and(|last| now.duration_since(last) < self.min_time);
        self.last_ping = Some(now);
        if !too_soon {
            self.strikes = 0;
            return false;
        }
        self.strikes += 1;
        self.strikes > STRIKES_FORGIVEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    }

    fn stream(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = PREFACE.to_vec();
        for f in frames {
            bytes.extend_from_slice(f);
        }
        bytes
    }

    #[test]
    fn the_third_ping_too_soon_in_a_row_is_one_too_many() {
        let now = Instant::now();
        let mut watch = PingWatch::new(Duration::from_secs(300));
        let ping = frame(PING, 0, &[0; 8]);
        let bytes = stream(&[frame(0x4, 0, &[0; 6]), ping.clone(), ping.clone()]);
        assert!(!watch.read(&bytes, now)); // first ping, then one strike
        assert!(!watch.read(&ping, now)); // two strikes: forgiven
        assert!(watch.read(&ping, now)); // three
    }

    #[test]
    fn pings_at_min_time_apart_and_acks_are_fine() {
        let start = Instant::now();
        let mut watch = PingWatch::new(Duration::from_secs(10));
        let ping = frame(PING, 0, &[0; 8]);
        assert!(!watch.read(&stream(&[]), start));
        for i in 0..10 {
            assert!(!watch.read(&ping, start + Duration::from_secs(10 * i)));
            // Acks of the server's own pings are not the client's pings.
            assert!(!watch.read(&frame(PING, ACK, &[0; 8]), start));
        }
    }

    #[test]
    fn frames_split_anywhere_are_read_alike() {
        let now = Instant::now();
        let data = frame(0x0, 0, &[PING; 40]); // a payload that looks like pings
        let ping = frame(PING, 0, &[0; 8]);
        let bytes = stream(&[data, ping.clone(), ping.clone(), ping.clone(), ping]);
        for chunk in [1, 2, 5, 9, 17, bytes.len()] {
            let mut watch = PingWatch::new(Duration::from_secs(300));
            let judged = bytes.chunks(chunk).any(|c| watch.read(c, now));
            assert!(judged, "chunks of {chunk}");
        }
    }

    #[test]
    fn http1_is_not_watched() {
        let mut watch = PingWatch::new(Duration::from_secs(300));
        let ping = frame(PING, 0, &[0; 8]);
        assert!(!watch.read(b"POST /v1/traces HTTP/1.1\r\n", Instant::now()));
        for _ in 0..10 {
            assert!(!watch.read(&ping, Instant::now()));
        }
    }
}
