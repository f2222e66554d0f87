// Finds libgptq for linking, in this order:
//   1. $GPTQ_LIB_DIR (a build tree or an install prefix's lib/), when set;
//   2. `pkg-config --variable=libdir gptq` (honours PKG_CONFIG_PATH);
//   3. the linker's default search path.
// The pkg-config crate is not used so that the crate builds with no registry access; the
// one query it needs is run directly. The directory found is passed to dependent crates'
// build scripts as DEP_GPTQ_LIBDIR (for their test/example rpath).
use std::env;
use std::process::Command;

fn pkg_config_libdir() -> Option<String> {
    let exe = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = Command::new(exe).args(["--variable=libdir", "gptq"]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !dir.is_empty()).then_some(dir)
}

fn main() {
    println!("cargo:rerun-if-env-changed=GPTQ_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    let dir = env::var("GPTQ_LIB_DIR").ok().filter(|d| !d.is_empty()).or_else(pkg_config_libdir);
    match dir {
        Some(dir) => {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:libdir={dir}");
            // So this crate's own tests run without LD_LIBRARY_PATH.
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        None => println!(
            "cargo:warning=libgptq not found through GPTQ_LIB_DIR or pkg-config (set \
             PKG_CONFIG_PATH to <prefix>/lib/pkgconfig); trying the linker's default path"
        ),
    }
    println!("cargo:rustc-link-lib=dylib=gptq");
}
