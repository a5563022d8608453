//! The module's soname: glibc loads `libnss_crowd.so.2` for `passwd: files crowd`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_crowd.so.2");
}
