// Gives this crate's tests and examples an rpath to the libgptq that gptq-sys linked
// (DEP_GPTQ_LIBDIR), so `cargo test` runs against an install prefix without
// LD_LIBRARY_PATH. Link arguments are not inherited from gptq-sys, hence this file.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_GPTQ_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_GPTQ_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
