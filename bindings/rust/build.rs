// Links libgptq: from $GPTQ_LIB_DIR when given (a build tree or an install prefix's lib/),
// else wherever the system linker finds it.
fn main() {
    println!("cargo:rerun-if-env-changed=GPTQ_LIB_DIR");
    if let Ok(dir) = std::env::var("GPTQ_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
    println!("cargo:rustc-link-lib=dylib=gptq");
}
