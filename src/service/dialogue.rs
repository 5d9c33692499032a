//! (stub until helper A's dialogue lands)
use super::Findings;
use super::hello::Hello;
use std::net::IpAddr;

pub struct Context {
    pub max_bytes: usize,
}

impl Context {
    pub fn new(max_bytes: usize) -> Context {
        Context { max_bytes }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    Done,
}

pub struct Dialogue {
    findings: Findings,
}

impl Dialogue {
    pub fn new(_ctx: &Context, hello: Option<Hello>, _target: IpAddr, _port: u16) -> Dialogue {
        Dialogue {
            findings: Findings {
                hello,
                ..Findings::default()
            },
        }
    }
    pub fn opening(&mut self, _ctx: &Context, out: &mut Vec<u8>) -> Step {
        if self.findings.hello == Some(Hello::Http) {
            out.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
        }
        Step::Continue
    }
    pub fn quiet(&mut self, _ctx: &Context, out: &mut Vec<u8>) -> Step {
        out.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
        Step::Continue
    }
    pub fn received(&mut self, ctx: &Context, data: &[u8], _out: &mut Vec<u8>) -> Step {
        let room = ctx.max_bytes - self.findings.greeting.len();
        self.findings
            .greeting
            .extend_from_slice(&data[..data.len().min(room)]);
        if data.contains(&b'\n') {
            Step::Done
        } else {
            Step::Continue
        }
    }
    pub fn finish(self) -> Findings {
        self.findings
    }
}
