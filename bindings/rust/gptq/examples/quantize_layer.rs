// Quantizes a random layer to 4 bits with GPTQ and multiplies with it.
//   PKG_CONFIG_PATH=<prefix>/lib/pkgconfig cargo run --example quantize_layer
use gptq::{Backend, Context, QuantOptions};

fn main() -> gptq::Result<()> {
    let (n, k, tokens) = (64, 256, 512);
    let mut seed = 7u32;
    let mut rnd = move || {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
    };
    let acts: Vec<f32> = (0..tokens * k).map(|_| rnd()).collect();
    let weight: Vec<f32> = (0..n * k).map(|_| 0.1 * rnd()).collect();

    let ctx = Context::new(Backend::Cpu)?;
    let mut h = ctx.hessian(k)?;
    h.add(&acts)?;
    let opts = QuantOptions::new().bits(4).group_size(128).desc_act(true);
    let (layer, report) = ctx.quantize(&weight, &h, &opts)?;
    let y = layer.matmul(&acts[..k])?;
    println!(
        "{} x {} -> {} qweight words, relative output error {:.4}, y[0] = {:.4}",
        n,
        k,
        layer.qweight()?.len(),
        report.rel_output_error,
        y[0]
    );
    if let Err(e) = ctx.hessian(0) {
        println!("a bad call: {e}");
    }
    Ok(())
}
