//! Integration tests: the real `pam_crowd.so` through the real libpam, against a Crowd
//! double that is a real HTTP(S) server on 127.0.0.1.

mod account;
mod authenticate;
mod config;
mod harness;
mod stacking;
mod unavailable;
