//! Link flags for the PAM module (the cdylib) only.

fn main() {
    // Only this file decides the flags; without this line any change in the package
    // (a README edit) would rerun the script and rebuild the crate.
    println!("cargo:rerun-if-changed=build.rs");
    // libpam dlopens the module at pam_start and dlcloses it at pam_end. Staying
    // loaded keeps the per-process TLS setup (parsed roots, resumable sessions) for
    // the next transaction of a long-lived process, and spares it unloading Rust code
    // whose thread-local destructors may still be registered.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
